"""Validated, idempotent, streaming import: one code path for files, HTTP and the simulator.

Records are validated one by one; a bad record is rejected with its file, line, field and
reason and stored in ``ingest_rejects``; the good ones land. The same record sent twice is a
no-op, a re-sent record may change only its mutable fields, and kinds are imported in
dependency order so that a directory's sessions may come before (or without) its tutors file
being read first. Services never commit: the caller passes ``checkpoint`` to commit per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from tutorpulse.db.base import table_of
from tutorpulse.events import service as events
from tutorpulse.ingest.models import IngestBatch, RejectedRecord
from tutorpulse.ingest.readers import RawRecord, UnreadableFileError
from tutorpulse.ingest.rows import MUTABLE_FIELDS, TABLES, changed_fields, to_row
from tutorpulse.ingest.schemas import ID_FIELDS, KINDS, SCHEMAS
from tutorpulse.marketplace.models import Student, StudentFeedback, Tutor, TutoringSession

SOURCES = ("synthetic", "real")
DEFAULT_CHUNK_SIZE = 5000
REJECT_SAMPLE_LIMIT = 200
# Databases cap bound parameters per statement; look-ups are split to stay under every cap.
LOOKUP_CHUNK = 900


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


@dataclass(slots=True)
class KindCounts:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    @property
    def accepted(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass
class ImportReport:
    batch_id: int
    source: str
    counts: dict[str, KindCounts] = field(default_factory=lambda: {k: KindCounts() for k in KINDS})
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_accepted(self) -> int:
        return sum(c.accepted for c in self.counts.values())

    @property
    def total_rejected(self) -> int:
        return sum(c.rejected for c in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "source": self.source,
            "counts": {
                kind: {
                    "received": c.received,
                    "accepted": c.accepted,
                    "inserted": c.inserted,
                    "updated": c.updated,
                    "unchanged": c.unchanged,
                    "rejected": c.rejected,
                }
                for kind, c in self.counts.items()
            },
            "rejections": [r.describe() for r in self.rejections],
            "notes": self.notes,
        }


@dataclass(slots=True)
class _Candidate:
    raw: RawRecord
    row: dict[str, Any]


ProgressCallback = Callable[[str, int, int], None]


class Importer:
    """Streams records of each kind into the database in chunks; see the module docstring."""

    def __init__(
        self,
        db: Session,
        *,
        source: str,
        origin: str,
        now: datetime,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        checkpoint: Callable[[], None] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        self.db = db
        self.source = source
        self.now = now
        self.chunk_size = chunk_size
        self._checkpoint = checkpoint or (lambda: None)
        self._on_progress = on_progress
        self.batch = IngestBatch(origin=origin[:500], source=source, started_at=now, counts={})
        db.add(self.batch)
        db.flush()
        self.report = ImportReport(batch_id=self.batch.id, source=source)
        # Ids confirmed to exist, so that references are looked up once per import.
        self._known: dict[str, set[str]] = {"tutors": set(), "students": set()}

    # ------------------------------------------------------------------ public
    def feed(self, kind: str, records: Iterable[RawRecord]) -> KindCounts:
        if kind not in SCHEMAS:
            raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}")
        counts = self.report.counts[kind]
        for chunk in _chunks(records, self.chunk_size):
            self._process_chunk(kind, chunk, counts)
            self._checkpoint()
        return counts

    def note(self, message: str) -> None:
        self.report.notes.append(message)

    def finish(self) -> ImportReport:
        self.batch.finished_at = self.now
        self.batch.status = "completed"
        self.batch.counts = self.report.as_dict()["counts"]
        events.emit(
            self.db,
            topic="ingest.batch_completed",
            payload={
                "batch_id": self.batch.id,
                "accepted": self.report.total_accepted,
                "rejected": self.report.total_rejected,
            },
            now=self.now,
        )
        self.db.flush()
        self._checkpoint()
        return self.report

    # ----------------------------------------------------------------- chunks
    def _process_chunk(self, kind: str, chunk: list[RawRecord], counts: KindCounts) -> None:
        counts.received += len(chunk)
        rejections: list[Rejection] = []
        candidates: list[_Candidate] = []
        for raw in chunk:
            candidate_or_rejection = self._validate(kind, raw)
            if isinstance(candidate_or_rejection, Rejection):
                rejections.append(candidate_or_rejection)
            else:
                candidates.append(candidate_or_rejection)

        candidates = self._check_references(kind, candidates, rejections)
        inserts, updates, unchanged, touched = self._reconcile(kind, candidates, rejections)
        table = TABLES[kind]
        if inserts:
            self.db.execute(table.insert(), inserts)
        for record_id, values in updates:
            id_column = table.c[ID_FIELDS[kind]]
            self.db.execute(update(table).where(id_column == record_id).values(**values))
        self._after_write(kind, inserts, touched)

        counts.inserted += len(inserts)
        counts.updated += len(updates)
        counts.unchanged += unchanged
        counts.rejected += len(rejections)
        self._store_rejections(rejections)
        if self._on_progress is not None:
            self._on_progress(kind, len(chunk), sum(raw.size for raw in chunk))

    def _validate(self, kind: str, raw: RawRecord) -> _Candidate | Rejection:
        if raw.error is not None:
            return self._rejection(kind, raw, raw.error_field, raw.error)
        schema = SCHEMAS[kind]
        try:
            if isinstance(raw.payload, bytes):
                record = schema.model_validate_json(raw.payload)
            else:
                record = schema.model_validate(raw.payload)
        except ValidationError as exc:
            field_name, reason = _first_error(exc)
            return self._rejection(kind, raw, field_name, reason)
        row = to_row(kind, record)
        row["source"] = self.source
        return _Candidate(raw, row)

    def _rejection(
        self, kind: str, raw: RawRecord, field_name: str | None, reason: str
    ) -> Rejection:
        return Rejection(
            kind=kind,
            file=raw.file,
            line=raw.line,
            record_id=_best_effort_id(kind, raw),
            field=field_name,
            reason=reason,
            raw=raw.raw_text(),
        )

    # ------------------------------------------------------------- references
    def _check_references(
        self, kind: str, candidates: list[_Candidate], rejections: list[Rejection]
    ) -> list[_Candidate]:
        if kind in ("sessions", "tutor_events"):
            self._load_known("tutors", Tutor.tutor_id, {c.row["tutor_id"] for c in candidates})
        if kind == "sessions":
            self._load_known(
                "students", Student.student_id, {c.row["student_id"] for c in candidates}
            )
        if kind == "feedback":
            return self._check_feedback(candidates, rejections)
        kept: list[_Candidate] = []
        for candidate in candidates:
            problem = self._dangling(kind, candidate.row)
            if problem is None:
                kept.append(candidate)
            else:
                rejections.append(self._rejection(kind, candidate.raw, *problem))
        return kept

    def _dangling(self, kind: str, row: dict[str, Any]) -> tuple[str, str] | None:
        if kind in ("sessions", "tutor_events") and row["tutor_id"] not in self._known["tutors"]:
            return (
                "tutor_id",
                f"unknown tutor {row['tutor_id']!r} (not in this import or the database)",
            )
        if kind == "sessions" and row["student_id"] not in self._known["students"]:
            return (
                "student_id",
                f"unknown student {row['student_id']!r} (not in this import or the database)",
            )
        return None

    def _load_known(self, kind: str, column: Any, wanted: set[str]) -> None:
        missing = wanted - self._known[kind]
        for part in _slices(sorted(missing), LOOKUP_CHUNK):
            self._known[kind].update(self.db.scalars(select(column).where(column.in_(part))))

    def _check_feedback(
        self, candidates: list[_Candidate], rejections: list[Rejection]
    ) -> list[_Candidate]:
        session_ids = sorted({c.row["session_id"] for c in candidates})
        sessions: dict[str, tuple[str, str]] = {}
        existing_feedback: dict[str, str] = {}
        for part in _slices(session_ids, LOOKUP_CHUNK):
            for sid, tid, stid in self.db.execute(
                select(
                    TutoringSession.session_id, TutoringSession.tutor_id, TutoringSession.student_id
                ).where(TutoringSession.session_id.in_(part))
            ):
                sessions[sid] = (tid, stid)
            for sid, fid in self.db.execute(
                select(StudentFeedback.session_id, StudentFeedback.feedback_id).where(
                    StudentFeedback.session_id.in_(part)
                )
            ):
                existing_feedback[sid] = fid
        kept: list[_Candidate] = []
        for candidate in candidates:
            row = candidate.row
            problem = _feedback_problem(row, sessions, existing_feedback)
            if problem is None:
                existing_feedback.setdefault(row["session_id"], row["feedback_id"])
                kept.append(candidate)
            else:
                rejections.append(self._rejection("feedback", candidate.raw, *problem))
        return kept

    # -------------------------------------------------------------- duplicates
    def _reconcile(
        self, kind: str, candidates: list[_Candidate], rejections: list[Rejection]
    ) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]], int, set[str]]:
        """Split into inserts, updates (mutable fields only) and no-ops; reject conflicts."""
        table = TABLES[kind]
        id_field = ID_FIELDS[kind]
        existing = self._existing_rows(table, id_field, [c.row[id_field] for c in candidates])
        inserts: dict[str, dict[str, Any]] = {}
        updates: dict[str, dict[str, Any]] = {}
        unchanged = 0
        touched: set[str] = set()
        mutable = MUTABLE_FIELDS[kind]
        for candidate in candidates:
            row = candidate.row
            record_id = row[id_field]
            current = inserts.get(record_id) or existing.get(record_id)
            if current is None:
                inserts[record_id] = row
                if "tutor_id" in row:
                    touched.add(row["tutor_id"])
                continue
            if current["content_hash"] == row["content_hash"]:
                unchanged += 1
                continue
            problem = _update_problem(kind, current, row, mutable, self.source)
            if problem is not None:
                rejections.append(self._rejection(kind, candidate.raw, *problem))
                continue
            if record_id in inserts:
                inserts[record_id] = row
            else:
                values = {k: row[k] for k in changed_fields(current, row)}
                values["content_hash"] = row["content_hash"]
                updates[record_id] = updates.get(record_id, {}) | values
                existing[record_id] = current | row
            if "tutor_id" in row:
                touched.add(row["tutor_id"])
        return list(inserts.values()), list(updates.items()), unchanged, touched

    def _existing_rows(
        self, table: Table, id_field: str, ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Current hash of each id; the full row only for ids whose content may differ."""
        id_column = table.c[id_field]
        found: dict[str, dict[str, Any]] = {}
        for part in _slices(sorted(set(ids)), LOOKUP_CHUNK):
            for row in self.db.execute(select(table).where(id_column.in_(part))).mappings():
                found[row[id_field]] = dict(row)
        return found

    # ------------------------------------------------------------- after write
    def _after_write(self, kind: str, inserts: list[dict[str, Any]], touched: set[str]) -> None:
        if kind in self._known:
            self._known[kind].update(r[ID_FIELDS[kind]] for r in inserts)
        if touched:
            events.mark_dirty(self.db, tutor_ids=touched, now=self.now, reason=f"ingest:{kind}")

    def _store_rejections(self, rejections: list[Rejection]) -> None:
        if not rejections:
            return
        sample_room = REJECT_SAMPLE_LIMIT - len(self.report.rejections)
        if sample_room > 0:
            self.report.rejections.extend(rejections[:sample_room])
        self.db.execute(
            table_of(RejectedRecord).insert(),
            [
                {
                    "batch_id": self.batch.id,
                    "kind": r.kind,
                    "file": r.file,
                    "line": r.line,
                    "record_id": r.record_id,
                    "field": r.field,
                    "reason": r.reason[:2000],
                    "raw": r.raw,
                    "created_at": self.now,
                }
                for r in rejections
            ],
        )


def _feedback_problem(
    row: dict[str, Any],
    sessions: Mapping[str, tuple[str, str]],
    existing_feedback: Mapping[str, str],
) -> tuple[str, str] | None:
    session = sessions.get(row["session_id"])
    if session is None:
        return (
            "session_id",
            f"unknown session {row['session_id']!r} (not in this import or the database)",
        )
    tutor_id, student_id = session
    if row["tutor_id"] != tutor_id:
        return "tutor_id", f"does not match the session's tutor {tutor_id!r}"
    if row["student_id"] != student_id:
        return "student_id", f"does not match the session's student {student_id!r}"
    other = existing_feedback.get(row["session_id"])
    if other is not None and other != row["feedback_id"]:
        return (
            "session_id",
            f"session {row['session_id']!r} already has feedback {other!r} (one per session)",
        )
    return None


def _update_problem(
    kind: str,
    current: dict[str, Any],
    new: dict[str, Any],
    mutable: frozenset[str],
    source: str,
) -> tuple[str, str] | None:
    if current.get("source") not in (None, source):
        return (
            ID_FIELDS[kind],
            f"id already belongs to a {current['source']} record; a {source} import cannot "
            "change it",
        )
    changes = changed_fields(current, new)
    immutable = [name for name in changes if name not in mutable]
    if immutable:
        name = immutable[0]
        return (
            name,
            f"conflicts with the stored record of the same id ({name} was "
            f"{current.get(name)!r}, now {new.get(name)!r}; only "
            f"{', '.join(sorted(mutable - {'extra'})) or 'nothing'} may change)",
        )
    if kind == "sessions" and current["status"] != "scheduled" and new["status"] == "scheduled":
        return "status", f"cannot go back from {current['status']!r} to 'scheduled'"
    return None


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


def _chunks(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
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


def _slices(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
