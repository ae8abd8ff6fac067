"""A full recompute running beside the dirty-tutor micro-batches (issue #10).

Two rules keep every tutor's figures at least as fresh as its data:

- Write phases do not interleave. On PostgreSQL a micro-batch holds a shared transaction
  advisory lock, a full run's write phase the exclusive one: the full run writes only when no
  micro-batch is between its claim and its commit, and micro-batches wait for the full run's
  (short) write phase. Both write the same rows (metrics are deleted and re-inserted), so
  interleaved they could deadlock or collide on unique keys. On SQLite the single writer
  (jobs begin IMMEDIATE) does the same.
- A full run does not have the last word on a tutor recomputed after it read its data. Every
  micro-batch raises its tutors' counters (``IncrementalRecompute``); a full run takes the
  counters before reading and, in its write phase, marks dirty again the tutors whose counter
  moved: they are recomputed once more right after the full run commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tutorpulse.db.base import table_of
from tutorpulse.events import service as events
from tutorpulse.pipeline.models import IncrementalRecompute

WRITES_LOCK_NAME = "tutorpulse-pipeline-writes"
REMARK_REASON = "pipeline:fresher-than-full-run"
ID_CHUNK = 1000  # ids per IN list


def _lock_key(name: str) -> int:
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


WRITES_LOCK_KEY = _lock_key(WRITES_LOCK_NAME)


def _postgres(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def micro_batch_writes(db: Session) -> None:
    """Taken by a micro-batch before it claims its tutors; held until its transaction ends."""
    if _postgres(db):
        db.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": WRITES_LOCK_KEY})


def full_run_writes(db: Session) -> None:
    """Taken by a full run before its first write; waits for the micro-batches in flight."""
    if _postgres(db):
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITES_LOCK_KEY})


def note_recomputed(db: Session, *, tutor_ids: Iterable[str]) -> None:
    """Raise the counters of the tutors a micro-batch recomputed (in its transaction)."""
    rows: list[dict[str, Any]] = [{"tutor_id": t, "recomputes": 1} for t in sorted(set(tutor_ids))]
    if not rows:
        return
    table = table_of(IncrementalRecompute)
    insert: Any = postgresql.insert if _postgres(db) else sqlite.insert
    statement = insert(table).on_conflict_do_update(
        index_elements=[table.c.tutor_id], set_={"recomputes": table.c.recomputes + 1}
    )
    db.execute(statement, rows)


def recompute_counters(db: Session) -> dict[str, int]:
    """Read by a full run before it reads its data."""
    return {
        str(tutor_id): int(count)
        for tutor_id, count in db.execute(
            select(IncrementalRecompute.tutor_id, IncrementalRecompute.recomputes)
        )
    }


def _counters_of(db: Session, tutor_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(tutor_ids), ID_CHUNK):
        part = tutor_ids[start : start + ID_CHUNK]
        found.update(
            (str(tutor_id), int(count))
            for tutor_id, count in db.execute(
                select(IncrementalRecompute.tutor_id, IncrementalRecompute.recomputes).where(
                    IncrementalRecompute.tutor_id.in_(part)
                )
            )
        )
    return found


def remark_fresher(
    db: Session, *, seen: dict[str, int], now: datetime, tutor_ids: list[str] | None = None
) -> list[str]:
    """In a full run's write phase: mark dirty again the tutors (all, or ``tutor_ids``) a
    micro-batch recomputed since ``seen`` was read (their figures there were fresher than
    the full run's)."""
    counters = recompute_counters(db) if tutor_ids is None else _counters_of(db, tutor_ids)
    moved = sorted(tutor_id for tutor_id, count in counters.items() if seen.get(tutor_id) != count)
    events.mark_dirty(db, tutor_ids=moved, now=now, reason=REMARK_REASON)
    return moved
