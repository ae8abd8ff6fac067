"""Record-level import work that needs no database: validate, build the row, explain rejects.

These are pure functions of the input records, so that a helper process can run them on a
large file while the importing process writes the previous chunk (``ingest.parallel``). Every
check that needs the database (references, duplicates, conflicts) stays in ``service``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from tutorpulse.ingest.readers import RawRecord, UnreadableFileError, read_line_at
from tutorpulse.ingest.rows import to_row
from tutorpulse.ingest.schemas import ID_FIELDS, NUL_FREE, SCHEMAS, json_may_hold_nul


@dataclass(frozen=True, slots=True)
class Rejection:
    kind: str
    file: str | None
    line: int | None
    record_id: str | None
    field: str | None
    reason: str
    raw: str | None = None

    def describe(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")
        parts = [p for p in (where, self.record_id and f"id={self.record_id}") if p]
        prefix = " ".join(parts) + ": " if parts else ""
        subject = f"{self.field}: " if self.field else ""
        return f"{prefix}{subject}{self.reason}"


# Where a record's JSON text can be read again: (path of its file, offset of its line).
LineAt = tuple[str, int]


class Candidate(NamedTuple):
    """A record that passed validation: its table row and where it came from.

    The row may be prepared for the driver (see ``parse_chunk``); ``typed_row`` rebuilds the
    typed row from the record when it must be compared field by field. A plain tuple rather
    than the ``RawRecord`` so that chunks cross a process boundary cheaply; ``origin()``
    rebuilds the record when a later check rejects it. The payload may be only a ``LineAt``
    (see ``parse_chunk``'s ``refer_to``): the text is read again from the file if needed.
    """

    row: dict[str, Any]
    file: str | None
    line: int | None
    payload: bytes | dict[str, Any] | LineAt | None

    def origin(self) -> RawRecord:
        payload = self.payload
        if isinstance(payload, tuple):
            payload = read_line_at(*payload)
        return RawRecord(self.file, self.line, payload)

    def typed_row(self, kind: str, *, source: str) -> dict[str, Any]:
        """The row as validation built it, before any preparation (validated again)."""
        (again,) = parse_chunk(kind, [self.origin()], source=source).candidates
        return again.row


@dataclass(slots=True)
class ParsedChunk:
    """One chunk of input after validation: what may be written, and what was rejected."""

    candidates: list[Candidate]
    rejections: list[Rejection]
    received: int
    size: int

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled column by column: unpickling a NamedTuple per record calls its Python-level
        # __new__, which cost the importing process as much as the rest of the chunk.
        columns = tuple(zip(*self.candidates, strict=True)) or ((), (), (), ())
        return _rebuild_chunk, (columns, self.rejections, self.received, self.size)


_new_candidate = partial(tuple.__new__, Candidate)


def _rebuild_chunk(
    columns: tuple[tuple[Any, ...], ...], rejections: list[Rejection], received: int, size: int
) -> ParsedChunk:
    candidates: list[Candidate] = list(map(_new_candidate, zip(*columns, strict=True)))
    return ParsedChunk(candidates, rejections, received, size)


Prepare = Callable[[list[dict[str, Any]]], None]


def parse_records(
    kind: str,
    records: Iterable[RawRecord],
    *,
    source: str,
    chunk_size: int,
    prepare: Prepare | None = None,
    refer_to: str | None = None,
) -> Iterator[ParsedChunk]:
    for chunk in chunked(records, chunk_size):
        yield parse_chunk(kind, chunk, source=source, prepare=prepare, refer_to=refer_to)


def parse_chunk(
    kind: str,
    chunk: list[RawRecord],
    *,
    source: str,
    prepare: Prepare | None = None,
    refer_to: str | None = None,
) -> ParsedChunk:
    """Validate a chunk; ``prepare`` (``bulk.RowPreparer``) turns its rows into driver values.

    ``refer_to``: the path of the JSON Lines file the records come from. A candidate then
    keeps where its line is instead of its text: most records never need their text again,
    and sending it to the importing process cost more than the row itself (``parallel``).
    """
    schema = SCHEMAS[kind]
    candidates: list[Candidate] = []
    rejections: list[Rejection] = []
    for raw in chunk:
        if raw.error is not None:
            rejections.append(rejection(kind, raw, raw.error_field, raw.error))
            continue
        try:
            if isinstance(raw.payload, bytes):
                nul_free = not json_may_hold_nul(raw.payload)
                context = NUL_FREE if nul_free else None
                record = schema.model_validate_json(raw.payload, context=context)
            else:
                record = schema.model_validate(raw.payload)
        except ValidationError as exc:
            rejections.append(rejection(kind, raw, *_first_error(exc)))
            continue
        row = to_row(kind, record)
        row["source"] = source
        payload: bytes | dict[str, Any] | LineAt | None = raw.payload
        if refer_to is not None and raw.offset is not None:
            payload = (refer_to, raw.offset)
        candidates.append(Candidate(row, raw.file, raw.line, payload))
    if prepare is not None:
        prepare([candidate.row for candidate in candidates])
    return ParsedChunk(candidates, rejections, len(chunk), sum(raw.size for raw in chunk))


def rejection(kind: str, raw: RawRecord, field_name: str | None, reason: str) -> Rejection:
    return Rejection(
        kind=kind,
        file=raw.file,
        line=raw.line,
        record_id=_best_effort_id(kind, raw),
        field=field_name,
        reason=reason,
        raw=raw.raw_text(),
    )


def chunked(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    chunk: list[RawRecord] = []
    try:
        for record in records:
            chunk.append(record)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    except UnreadableFileError:
        # The lines read before the file turned unreadable are good: import them first.
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def _first_error(exc: ValidationError) -> tuple[str | None, str]:
    error = exc.errors(include_url=False)[0]
    location = ".".join(str(part) for part in error["loc"]) or None
    message = error["msg"]
    if error["type"] == "json_invalid":
        return None, f"invalid JSON: {error.get('ctx', {}).get('error', message)}"
    if error["type"] == "model_type" or error["type"] == "model_attributes_type":
        return None, "expected a JSON object"
    cause = error.get("ctx", {}).get("error")
    blamed = getattr(cause, "field", None)
    if blamed is not None:
        return blamed, str(cause).split(": ", 1)[1]
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required field is missing"
    return location, message


def _best_effort_id(kind: str, raw: RawRecord) -> str | None:
    payload: Any = raw.payload
    if isinstance(payload, bytes):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
    if isinstance(payload, dict):
        value = payload.get(ID_FIELDS[kind])
        return str(value)[:200] if value is not None else None
    return None
