"""Dirty-tutor marks and the outbox: how writes tell the rest of the system what changed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import String, bindparam, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tutorpulse.db.base import table_of
from tutorpulse.events.models import DirtyTutor, OutboxMessage


def mark_dirty(db: Session, *, tutor_ids: Iterable[str], now: datetime, reason: str) -> int:
    """Queue tutors for recomputation; re-marking an already queued tutor refreshes its time.

    One statement for the whole set, however large: the ids travel as a single array (JSON
    text on SQLite) parameter, instead of one parameter set per tutor.
    """
    ids = sorted(set(tutor_ids))
    if not ids:
        return 0
    table = table_of(DirtyTutor)
    stamp = (
        bindparam("marked_at", now, type_=table.c.marked_at.type),
        bindparam("reason", reason, type_=table.c.reason.type),
    )
    statement: Any
    if db.get_bind().dialect.name == "postgresql":
        listed = func.unnest(bindparam("ids", ids, type_=postgresql.ARRAY(String)))
        statement = postgresql.insert(table).from_select(
            ["tutor_id", "marked_at", "reason"], select(listed, *stamp)
        )
    else:
        each = func.json_each(bindparam("ids", orjson.dumps(ids).decode())).table_valued("value")
        # "WHERE true": SQLite's documented way to tell INSERT ... SELECT from ON CONFLICT.
        source = select(each.c.value, *stamp).where(true())
        statement = sqlite.insert(table).from_select(["tutor_id", "marked_at", "reason"], source)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.tutor_id],
        set_={"marked_at": statement.excluded.marked_at, "reason": statement.excluded.reason},
    )
    db.execute(statement)
    return len(ids)


def dirty_tutor_ids(db: Session) -> list[str]:
    return list(db.scalars(select(DirtyTutor.tutor_id).order_by(DirtyTutor.marked_at)))


def emit(db: Session, *, topic: str, payload: dict[str, Any], now: datetime) -> OutboxMessage:
    """Record an event in the caller's transaction: it exists only if the write commits."""
    message = OutboxMessage(topic=topic, payload=payload, created_at=now)
    db.add(message)
    return message
