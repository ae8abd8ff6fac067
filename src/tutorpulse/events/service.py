"""Dirty-tutor marks and the outbox: how writes tell the rest of the system what changed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tutorpulse.db.base import table_of
from tutorpulse.events.models import DirtyTutor, OutboxMessage


def mark_dirty(db: Session, *, tutor_ids: Iterable[str], now: datetime, reason: str) -> int:
    """Queue tutors for recomputation; re-marking an already queued tutor refreshes its time."""
    rows = [{"tutor_id": t, "marked_at": now, "reason": reason} for t in sorted(set(tutor_ids))]
    if not rows:
        return 0
    table = table_of(DirtyTutor)
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.tutor_id],
        set_={"marked_at": statement.excluded.marked_at, "reason": statement.excluded.reason},
    )
    db.execute(statement, rows)
    return len(rows)


def dirty_tutor_ids(db: Session) -> list[str]:
    return list(db.scalars(select(DirtyTutor.tutor_id).order_by(DirtyTutor.marked_at)))


def emit(db: Session, *, topic: str, payload: dict[str, Any], now: datetime) -> OutboxMessage:
    """Record an event in the caller's transaction: it exists only if the write commits."""
    message = OutboxMessage(topic=topic, payload=payload, created_at=now)
    db.add(message)
    return message
