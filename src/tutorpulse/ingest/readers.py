"""Streaming readers for JSON Lines and CSV files: one ``RawRecord`` per line, never a whole file.

A reader never raises on bad content: a line it cannot read becomes a record carrying an error,
so that the importer rejects that line with its file and line number and keeps going.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tutorpulse.errors import TutorpulseError
from tutorpulse.ingest.schemas import JSON_FIELDS

RAW_KEEP_CHARS = 2000
BINARY_SNIFF_BYTES = 8192


@dataclass(slots=True)
class RawRecord:
    """One input record before validation: JSON bytes or a decoded mapping, or a read error."""

    file: str | None
    line: int | None
    payload: bytes | dict[str, Any] | None
    error: str | None = None
    error_field: str | None = None
    size: int = 0
    offset: int | None = None  # of the line in its JSON Lines file (to re-read it later)

    def raw_text(self) -> str | None:
        if self.payload is None:
            return None
        if isinstance(self.payload, bytes):
            return self.payload[:RAW_KEEP_CHARS].decode("utf-8", "replace")
        try:
            return orjson.dumps(self.payload, default=str).decode()[:RAW_KEEP_CHARS]
        except orjson.JSONEncodeError:  # e.g. integers beyond 64 bits: keep a readable form
            return repr(self.payload)[:RAW_KEEP_CHARS]


class UnreadableFileError(TutorpulseError):
    """A whole file cannot be read (binary, wrong encoding, no header)."""


def check_not_binary(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(BINARY_SNIFF_BYTES)
    if b"\x00" in head:
        raise UnreadableFileError(f"{path.name}: looks like a binary file (NUL byte); skipped")


def read_file(path: Path, kind: str) -> Iterator[RawRecord]:
    """The records of a ``.jsonl`` or ``.csv`` file of one kind."""
    return read_jsonl(path) if path.suffix == ".jsonl" else read_csv(path, kind)


def read_jsonl(path: Path) -> Iterator[RawRecord]:
    check_not_binary(path)
    name = path.name
    offset = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            size = len(line)
            start = offset
            offset += size
            stripped = line.strip()
            if not stripped:
                continue
            if not line.endswith(b"\n") and not _is_json_object(stripped):
                yield RawRecord(
                    name,
                    number,
                    stripped,
                    error="invalid JSON: line is cut short (truncated file?)",
                    size=size,
                )
                continue
            yield RawRecord(name, number, stripped, size=size, offset=start)


def read_line_at(path: str, offset: int) -> bytes:
    """The stripped line of a JSON Lines file that starts at byte ``offset``."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.readline().strip()


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(orjson.loads(data), dict)
    except orjson.JSONDecodeError:
        return False


def read_csv(path: Path, kind: str) -> Iterator[RawRecord]:
    check_not_binary(path)
    name = path.name
    json_fields = JSON_FIELDS[kind]
    with path.open("rb") as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", errors="strict", newline="")
        try:
            reader = csv.DictReader(text)
            header = reader.fieldnames
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(f"{name}: not valid UTF-8 ({exc.reason})") from exc
        except csv.Error as exc:
            raise UnreadableFileError(f"{name}: unreadable CSV header ({exc})") from exc
        if not header:
            return
        previous_end = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise UnreadableFileError(
                    f"{name}: not valid UTF-8 after line {previous_end} ({exc.reason}); "
                    "the lines before it were read"
                ) from exc
            except csv.Error as exc:
                yield RawRecord(name, reader.line_num, None, error=f"invalid CSV: {exc}")
                continue
            line_number = previous_end + 1
            previous_end = reader.line_num
            yield _csv_record(name, line_number, row, json_fields)


def _csv_record(
    name: str, line_number: int, row: dict[str | Any, Any], json_fields: frozenset[str]
) -> RawRecord:
    if None in row:
        return RawRecord(name, line_number, None, error="more values than header columns")
    record: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or value == "":
            record[key] = None
        elif key in json_fields:
            try:
                record[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                return RawRecord(
                    name,
                    line_number,
                    record | {key: value},
                    error="expected a JSON value (list/object) in this CSV column",
                    error_field=key,
                )
        else:
            record[key] = value
    return RawRecord(name, line_number, record, size=sum(len(v or "") for v in row.values()))
