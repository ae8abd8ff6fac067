"""Import of a directory of §3 files (JSON Lines or CSV), kind by kind in dependency order."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from tutorpulse.errors import TutorpulseError
from tutorpulse.ingest.readers import RawRecord, UnreadableFileError
from tutorpulse.ingest.schemas import KINDS
from tutorpulse.ingest.service import Importer, ImportReport, ProgressCallback

SUFFIXES = (".jsonl", ".csv")
MANIFEST = "manifest.json"
# Allocations between young-generation collections while importing (CPython's default: 700).
BULK_GC_THRESHOLD = 50_000


@dataclass(frozen=True)
class ImportPlan:
    directory: Path
    files: dict[str, list[Path]]
    ignored: list[str]
    source: str

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for paths in self.files.values() for path in paths)


def plan_directory(directory: Path, *, source: str = "auto") -> ImportPlan:
    if not directory.exists():
        raise TutorpulseError(f"directory not found: {directory}")
    if not directory.is_dir():
        raise TutorpulseError(f"not a directory: {directory}")
    files: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    ignored: list[str] = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name == MANIFEST:
            continue
        kind = _kind_of(path)
        if kind is None:
            ignored.append(path.name)
        else:
            files[kind].append(path)
    if not any(files.values()):
        expected = ", ".join(f"{k}.jsonl" for k in KINDS)
        raise TutorpulseError(f"no importable files in {directory} (expected {expected} or .csv)")
    return ImportPlan(directory, files, ignored, _resolve_source(directory, source))


def _kind_of(path: Path) -> str | None:
    if path.suffix not in SUFFIXES:
        return None
    stem = path.name[: -len(path.suffix)]
    for kind in KINDS:
        # tutors.jsonl, or partitions such as sessions-2025-01.jsonl / sessions.part1.csv
        if stem == kind or stem.startswith((f"{kind}-", f"{kind}.", f"{kind}_part")):
            return kind
    return None


def _resolve_source(directory: Path, source: str) -> str:
    if source != "auto":
        if source not in ("real", "synthetic"):
            raise TutorpulseError(f"--source must be auto, real or synthetic, not {source!r}")
        return source
    manifest = directory / MANIFEST
    if manifest.is_file():
        try:
            declared = orjson.loads(manifest.read_bytes()).get("source")
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise TutorpulseError(f"{manifest}: unreadable manifest ({exc})") from exc
        if declared in ("real", "synthetic"):
            return str(declared)
    return "real"


@contextmanager
def _bulk_load_gc() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while a directory is imported.

    An import allocates millions of short-lived, acyclic objects (rows, tuples); with the
    default thresholds the collector re-scans them every 700 allocations, about an eighth of
    the import's CPU time. Reference counting still frees them at once; cycles are still
    collected, only less often. The previous thresholds are restored afterwards.
    """
    previous = gc.get_threshold()
    gc.set_threshold(BULK_GC_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def import_directory(
    db: Session,
    *,
    plan: ImportPlan,
    now: datetime,
    chunk_size: int,
    checkpoint: Callable[[], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    with _bulk_load_gc():
        return _import_plan(
            db,
            plan=plan,
            now=now,
            chunk_size=chunk_size,
            checkpoint=checkpoint,
            on_progress=on_progress,
        )


def _import_plan(
    db: Session,
    *,
    plan: ImportPlan,
    now: datetime,
    chunk_size: int,
    checkpoint: Callable[[], None] | None,
    on_progress: ProgressCallback | None,
) -> ImportReport:
    importer = Importer(
        db,
        source=plan.source,
        origin=str(plan.directory),
        now=now,
        chunk_size=chunk_size,
        checkpoint=checkpoint,
        on_progress=on_progress,
    )
    for name in plan.ignored:
        importer.note(f"{name}: not a recognised file name; ignored")
    for kind in KINDS:
        paths = plan.files[kind]
        if not paths:
            importer.note(f"no {kind} file ({kind}.jsonl or {kind}.csv); nothing of that kind")
        for path in paths:
            if path.stat().st_size == 0:
                importer.note(f"{path.name}: file is empty; nothing imported from it")
                continue
            try:
                importer.feed_file(kind, path)
            except UnreadableFileError as exc:
                importer.note(str(exc))
    return importer.finish()


def ingest_records(
    db: Session,
    *,
    kind: str,
    records: Iterable[Mapping[str, Any]],
    source: str,
    origin: str,
    now: datetime,
    chunk_size: int = 5000,
) -> ImportReport:
    """Ingest already-decoded records of one kind (HTTP API, simulator). Never commits."""
    importer = Importer(db, source=source, origin=origin, now=now, chunk_size=chunk_size)
    importer.feed(
        kind,
        (
            RawRecord(origin, index, dict(record))
            if isinstance(record, Mapping)
            else RawRecord(origin, index, None, error="expected a JSON object")
            for index, record in enumerate(records, start=1)
        ),
    )
    return importer.finish()
