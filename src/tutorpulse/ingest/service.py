"""Validated, idempotent, streaming import: one code path for files, HTTP and the simulator.

Records are validated one by one; a bad record is rejected with its file, line, field and
reason and stored in ``ingest_rejects``; the good ones land. The same record sent twice is a
no-op, a re-sent record may change only its mutable fields, and kinds are imported in
dependency order so that a directory's sessions may come before (or without) its tutors file
being read first. Services never commit: the caller passes ``checkpoint`` to commit per chunk.

Validation and row building (``parsing``) need no database; for a large file they run in a
helper process (``parallel``) while this one does the database work of the previous chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Row, Select, String, Table, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from tutorpulse.db.base import table_of
from tutorpulse.events import service as events
from tutorpulse.ingest import bulk, parallel
from tutorpulse.ingest.models import IngestBatch, RejectedRecord
from tutorpulse.ingest.parsing import Candidate, ParsedChunk, Rejection, parse_records, rejection
from tutorpulse.ingest.readers import RawRecord
from tutorpulse.ingest.rows import MUTABLE_FIELDS, TABLES, changed_fields
from tutorpulse.ingest.schemas import ID_FIELDS, KINDS, SCHEMAS
from tutorpulse.marketplace.models import Student, StudentFeedback, Tutor, TutoringSession

SOURCES = ("synthetic", "real")
# Records per transaction: larger chunks rewrite hot index pages less often (SQLite commits
# took 12% of an import at 5,000, 6% at 20,000; peak RSS stays near 200 MB).
DEFAULT_CHUNK_SIZE = 20_000
REJECT_SAMPLE_LIMIT = 200
# Ids per look-up statement: one parameter carries the list, this bounds its size.
LOOKUP_CHUNK = 50_000
ROW = itemgetter(0)  # a Candidate's row, without a Python-level call per record


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


ProgressCallback = Callable[[str, int, int], None]
AnyRow = tuple[Any, ...]
Rows = Iterator[Row[*AnyRow]]


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
        self._dialect = db.get_bind().dialect
        # Rows are prepared for the driver as soon as they are parsed (see ``bulk``); a
        # typed row is rebuilt only for a record that must be compared field by field.
        self._prepared = bulk.has_fast_path(self._dialect)
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
        """Import records of one kind (already read: HTTP bodies, simulator output, tests)."""
        self._check_kind(kind)
        prepare = bulk.preparer(self._dialect, TABLES[kind])
        chunks = parse_records(
            kind, records, source=self.source, chunk_size=self.chunk_size, prepare=prepare
        )
        return self._feed_parsed(kind, chunks)

    def feed_file(self, kind: str, path: Path) -> KindCounts:
        """Import one JSON Lines or CSV file of one kind, parsing ahead in a helper if large.

        Raises ``UnreadableFileError`` after importing the lines read before the file
        turned unreadable.
        """
        self._check_kind(kind)
        chunks = parallel.parse_file(
            kind, path, source=self.source, chunk_size=self.chunk_size, dialect=self._dialect
        )
        return self._feed_parsed(kind, chunks)

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
    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in SCHEMAS:
            raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}")

    def _feed_parsed(self, kind: str, chunks: Iterable[ParsedChunk]) -> KindCounts:
        counts = self.report.counts[kind]
        for chunk in chunks:
            self._write_chunk(kind, chunk, counts)
            self._checkpoint()
        return counts

    def _write_chunk(self, kind: str, chunk: ParsedChunk, counts: KindCounts) -> None:
        rejections = chunk.rejections
        candidates = self._check_references(kind, chunk.candidates, rejections)
        inserts, updates, unchanged, touched = self._reconcile(kind, candidates, rejections)
        table = TABLES[kind]
        connection = self.db.connection()
        bulk.insert_rows(connection, table, inserts, prepared=self._prepared)
        bulk.update_rows(connection, table, ID_FIELDS[kind], updates)
        self._after_write(kind, inserts, touched)

        counts.received += chunk.received
        counts.inserted += len(inserts)
        counts.updated += len(updates)
        counts.unchanged += unchanged
        counts.rejected += len(rejections)
        self._store_rejections(rejections)
        if self._on_progress is not None:
            self._on_progress(kind, chunk.received, chunk.size)

    # ------------------------------------------------------------- references
    def _check_references(
        self, kind: str, candidates: list[Candidate], rejections: list[Rejection]
    ) -> list[Candidate]:
        if kind == "feedback":
            return self._check_feedback(candidates, rejections)
        if kind not in ("sessions", "tutor_events"):
            return candidates
        rows = list(map(ROW, candidates))
        tutor_ids = set(map(itemgetter("tutor_id"), rows))
        self._load_known("tutors", Tutor.tutor_id, tutor_ids)
        complete = tutor_ids <= self._known["tutors"]
        if kind == "sessions":
            student_ids = set(map(itemgetter("student_id"), rows))
            self._load_known("students", Student.student_id, student_ids)
            complete = complete and student_ids <= self._known["students"]
        if complete:
            return candidates  # the usual case: no record to look at one by one
        kept: list[Candidate] = []
        for candidate in candidates:
            problem = self._dangling(kind, candidate.row)
            if problem is None:
                kept.append(candidate)
            else:
                rejections.append(rejection(kind, candidate.origin(), *problem))
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
        self._known[kind].update(row[0] for row in self._where_in(select(column), column, missing))

    def _check_feedback(
        self, candidates: list[Candidate], rejections: list[Rejection]
    ) -> list[Candidate]:
        session_ids = {c.row["session_id"] for c in candidates}
        held = select(
            TutoringSession.session_id, TutoringSession.tutor_id, TutoringSession.student_id
        )
        sessions: dict[str, tuple[str, str]] = {
            sid: (tid, stid)
            for sid, tid, stid in self._where_in(held, TutoringSession.session_id, session_ids)
        }
        given = select(StudentFeedback.session_id, StudentFeedback.feedback_id)
        existing_feedback: dict[str, str] = {
            sid: fid for sid, fid in self._where_in(given, StudentFeedback.session_id, session_ids)
        }
        kept: list[Candidate] = []
        for candidate in candidates:
            row = candidate.row
            problem = _feedback_problem(row, sessions, existing_feedback)
            if problem is None:
                existing_feedback.setdefault(row["session_id"], row["feedback_id"])
                kept.append(candidate)
            else:
                rejections.append(rejection("feedback", candidate.origin(), *problem))
        return kept

    # -------------------------------------------------------------- duplicates
    def _reconcile(
        self, kind: str, candidates: list[Candidate], rejections: list[Rejection]
    ) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]], int, set[str]]:
        """Split into inserts, updates (mutable fields only) and no-ops; reject conflicts."""
        table = TABLES[kind]
        id_field = ID_FIELDS[kind]
        rows = list(map(ROW, candidates))
        ids = list(map(itemgetter(id_field), rows))
        stored_hashes = self._stored_hashes(table, id_field, ids)
        if not stored_hashes and len(set(ids)) == len(ids):
            # All new, each once (a first import): nothing to compare record by record.
            new_for = set(map(itemgetter("tutor_id"), rows)) if "tutor_id" in table.c else set()
            return rows, [], 0, new_for
        # Full stored rows only where some record differs from them: a re-sent unchanged
        # record costs one hash comparison, a new one nothing beyond the id look-up.
        differing = {
            record_id
            for record_id, row in zip(ids, rows, strict=True)
            if stored_hashes.get(record_id, row["content_hash"]) != row["content_hash"]
        }
        existing = self._stored_rows(table, id_field, differing)
        inserts: dict[str, Candidate] = {}
        updates: dict[str, dict[str, Any]] = {}
        unchanged = 0
        touched: set[str] = set()
        mutable = MUTABLE_FIELDS[kind]
        for candidate in candidates:
            row = candidate.row
            record_id = row[id_field]
            pending = inserts.get(record_id)
            if pending is None and record_id not in existing:
                if record_id in stored_hashes:  # stored with this very content
                    unchanged += 1
                    continue
                inserts[record_id] = candidate
                if "tutor_id" in row:
                    touched.add(row["tutor_id"])
                continue
            current_hash = (pending.row if pending else existing[record_id])["content_hash"]
            if current_hash == row["content_hash"]:
                unchanged += 1
                continue
            # Same id, other content: compare typed values, field by field.
            current = self._typed(kind, pending) if pending else existing[record_id]
            new = self._typed(kind, candidate)
            problem = _update_problem(kind, current, new, mutable, self.source)
            if problem is not None:
                rejections.append(rejection(kind, candidate.origin(), *problem))
                continue
            if pending is not None:
                inserts[record_id] = candidate
            else:
                values = {k: new[k] for k in changed_fields(current, new)}
                values["content_hash"] = new["content_hash"]
                updates[record_id] = updates.get(record_id, {}) | values
                existing[record_id] = current | new
            if "tutor_id" in row:
                touched.add(row["tutor_id"])
        rows = [candidate.row for candidate in inserts.values()]
        return rows, list(updates.items()), unchanged, touched

    def _typed(self, kind: str, candidate: Candidate) -> dict[str, Any]:
        if not self._prepared:
            return candidate.row
        return candidate.typed_row(kind, source=self.source)

    def _stored_hashes(self, table: Table, id_field: str, ids: list[str]) -> dict[str, str]:
        """Content hash of each id already stored (new ids are simply absent)."""
        id_column = table.c[id_field]
        query = select(id_column, table.c.content_hash)
        return {record_id: digest for record_id, digest in self._where_in(query, id_column, ids)}

    def _stored_rows(self, table: Table, id_field: str, ids: set[str]) -> dict[str, dict[str, Any]]:
        rows = self._where_in(select(table), table.c[id_field], ids)
        return {row._mapping[id_field]: dict(row._mapping) for row in rows}

    def _where_in(self, query: Select[*AnyRow], column: Any, ids: Iterable[str]) -> Rows:
        """``query`` restricted to rows whose ``column`` is one of ``ids``.

        One cached statement with a single parameter that carries the whole list: an array
        on PostgreSQL (``= ANY``), a JSON array read by ``json_each`` on SQLite. An expanding
        ``IN`` would be re-rendered for every list length and sliced under SQLite's cap on
        bound parameters (a third of an import's time went there, measured).
        """
        wanted = list(set(ids))
        if not wanted:
            return
        if self.db.get_bind().dialect.name == "postgresql":
            statement = query.where(column == any_(bindparam("ids", type_=ARRAY(String))))
            for part in _slices(wanted, LOOKUP_CHUNK):
                yield from self.db.execute(statement, {"ids": part})
            return
        listed = func.json_each(bindparam("ids", type_=String)).table_valued("value")
        statement = query.where(column.in_(select(listed.c.value)))
        for part in _slices(wanted, LOOKUP_CHUNK):
            yield from self.db.execute(statement, {"ids": orjson.dumps(part).decode()})

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


def _slices(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
