"""The append-only audit log: who did what, to which record, when, from where.

There is deliberately no update or delete function here. The ORM refuses to flush a change
to an existing row; on PostgreSQL a trigger (migration 0002) refuses UPDATE, DELETE and
TRUNCATE, and on SQLite triggers (migration 0009) refuse UPDATE and DELETE. The only
exception is the retention purge (``privacy.retention.purge_audit``), which is itself
audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from tutorpulse.auth.models import AuditEntry, User

SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class MachineActor:
    """A non-human actor: an API token, a CLI operator, a scheduled job."""

    label: str


Actor = User | MachineActor | str | None

# "From where" belongs to the request, not to the business operation: the API sets it once per
# HTTP request (auth.middleware.AuditOriginMiddleware) and a UI action once per click
# (ui.context.PageContext.write), so that services need no ``ip`` argument and none forgets it.
_origin: ContextVar[str | None] = ContextVar("audit_origin", default=None)


@contextmanager
def origin(ip: str | None) -> Iterator[None]:
    """Entries recorded inside this block without an explicit ``ip`` get this one."""
    token = _origin.set(ip)
    try:
        yield
    finally:
        _origin.reset(token)


def current_origin() -> str | None:
    return _origin.get()


def _actor_fields(actor: Actor) -> tuple[int | None, str]:
    if isinstance(actor, User):
        # The development-only admin (auth_disabled) has no row to point at.
        return actor.id or None, actor.label
    if isinstance(actor, MachineActor):
        return None, actor.label
    if actor is None:
        return None, "anonymous"
    return None, actor


def record(
    db: Session,
    *,
    actor: Actor,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it exists only if the caller commits).

    ``action`` is ``<domain>.<verb>`` (``tutor.read``, ``auth.login``, ``prediction.override``).
    ``details`` must not hold secrets or PII beyond ids: it is kept for three years.
    """
    actor_user_id, actor_label = _actor_fields(actor)
    entry = AuditEntry(
        at=now,
        actor_user_id=actor_user_id,
        actor_label=actor_label[:200],
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=ip if ip is not None else _origin.get(),
        details=details or {},
    )
    db.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    actor_user_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(
    db: Session, *, filters: AuditFilter, limit: int = 100, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """Entries newest first, and the total count matching ``filters``.

    ``action`` ending in ``.*`` matches a prefix (``auth.*``).
    """
    conditions = []
    if filters.actor_user_id is not None:
        conditions.append(AuditEntry.actor_user_id == filters.actor_user_id)
    if filters.action:
        if filters.action.endswith(".*"):
            prefix = filters.action[:-1]
            conditions.append(func.substr(AuditEntry.action, 1, len(prefix)) == prefix)
        else:
            conditions.append(AuditEntry.action == filters.action)
    if filters.target_type:
        conditions.append(AuditEntry.target_type == filters.target_type)
    if filters.target_id:
        conditions.append(AuditEntry.target_id == filters.target_id)
    if filters.since:
        conditions.append(AuditEntry.at >= filters.since)
    if filters.until:
        conditions.append(AuditEntry.at < filters.until)
    total = db.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    rows = db.scalars(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


# What "who viewed my data" shows of entries about a tutor's or student's own record: views
# and exports, named plainly. Everything else (managers' notes, churn predictions and their
# overrides, task and alert work) is internal and never shown to the subject: DESIGN §5.
SUBJECT_VISIBLE_ACTIONS = {
    "tutor.read": "tutor.read",
    "prediction.read": "tutor.read",  # a view of their record; the churn figures stay unnamed
    "subject.export": "subject.export",
}


@dataclass(frozen=True)
class AccessByOthers:
    at: datetime
    action: str
    viewer_role: str
    viewer_name: str


def accesses_by_others(db: Session, *, user: User, limit: int = 100) -> list[AccessByOthers]:
    """Who viewed my data: views and exports of the user's own tutor or student record by
    somebody else (staff, jobs), newest first (``SUBJECT_VISIBLE_ACTIONS``). Viewers are named
    by their display name only."""
    if user.role == "tutor" and user.tutor_id:
        target = ("tutor", user.tutor_id)
    elif user.role == "student" and user.student_id:
        target = ("student", user.student_id)
    else:
        return []
    rows = db.execute(
        select(AuditEntry, User.role, User.display_name)
        .outerjoin(User, User.id == AuditEntry.actor_user_id)
        .where(AuditEntry.target_type == target[0], AuditEntry.target_id == target[1])
        .where(AuditEntry.action.in_(SUBJECT_VISIBLE_ACTIONS))
        .where((AuditEntry.actor_user_id != user.id) | AuditEntry.actor_user_id.is_(None))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    ).all()
    return [
        AccessByOthers(
            at=entry.at,
            action=SUBJECT_VISIBLE_ACTIONS[entry.action],
            viewer_role=role or "system",
            viewer_name=name or (role or "system").replace("_", " "),
        )
        for entry, role, name in rows
    ]


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.dirty:
        if isinstance(obj, AuditEntry) and session.is_modified(obj):
            raise AuditLogIsAppendOnly("audit entries cannot be changed")
    for obj in session.deleted:
        if isinstance(obj, AuditEntry):
            raise AuditLogIsAppendOnly("audit entries cannot be deleted")
