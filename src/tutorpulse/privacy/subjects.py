"""Access and deletion requests for one person (a tutor or a student), both audited.

The tables are found from the schema (every table with a ``tutor_id`` / ``student_id``
column), so that records added by later domains are exported and erased without a change
here. The audit log is kept (it is the record of who accessed what, retained 3 years) and
accounts are disabled and stripped rather than deleted, so that their audit trail stays.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.auth.models import AuditEntry, User
from tutorpulse.auth.service import revoke_user_sessions
from tutorpulse.db.models import Base
from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.marketplace.models import Student, Tutor

SubjectKind = Literal["tutor", "student"]
_HIDDEN_USER_FIELDS = {"password_hash", "oidc_subject"}
_SKIPPED_TABLES = {"users", "audit_log"}


def _subject(kind: SubjectKind) -> tuple[type[Tutor] | type[Student], str]:
    if kind == "tutor":
        return Tutor, "tutor_id"
    if kind == "student":
        return Student, "student_id"
    raise TutorpulseError(f"unknown subject kind {kind!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _tables_with(column: str) -> list[Table]:
    return [
        table
        for table in Base.metadata.sorted_tables
        if column in table.c and table.name not in _SKIPPED_TABLES
    ]


def export_subject(
    db: Session, *, kind: SubjectKind, subject_id: str, actor: audit.Actor, now: datetime
) -> dict[str, Any]:
    """Everything stored about one tutor or student, as JSON-ready data (audited)."""
    model, column = _subject(kind)
    if db.get(model, subject_id) is None:
        raise NotFoundError(kind, subject_id)
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in _tables_with(column):
        rows = db.execute(select(table).where(table.c[column] == subject_id)).mappings().all()
        if rows:
            tables[str(table.name)] = [{str(k): _jsonable(v) for k, v in r.items()} for r in rows]
    accounts = db.scalars(select(User).where(getattr(User, column) == subject_id)).all()
    tables["users"] = [
        {
            c.name: _jsonable(getattr(u, c.key))
            for c in User.__table__.columns
            if c.name not in _HIDDEN_USER_FIELDS
        }
        for u in accounts
    ]
    accesses = db.scalars(
        select(AuditEntry)
        .where(AuditEntry.target_type == kind, AuditEntry.target_id == subject_id)
        .order_by(AuditEntry.at)
    ).all()
    tables["access_log"] = [
        {"at": e.at.isoformat(), "action": e.action, "by": e.actor_label} for e in accesses
    ]
    audit.record(
        db,
        actor=actor,
        action="subject.export",
        target_type=kind,
        target_id=subject_id,
        details={"tables": sorted(tables)},
        now=now,
    )
    return {"subject": {"kind": kind, "id": subject_id}, "exported_at": now.isoformat()} | {
        "records": tables
    }


def erase_subject(
    db: Session, *, kind: SubjectKind, subject_id: str, actor: audit.Actor, now: datetime
) -> dict[str, int]:
    """Delete one tutor's or student's records; disable and strip their accounts (audited).

    Returns rows deleted per table. Records shared with other people go with them: erasing
    a student removes their sessions and feedback from the tutors' histories.
    """
    model, column = _subject(kind)
    subject = db.get(model, subject_id)
    if subject is None:
        raise NotFoundError(kind, subject_id)
    counts: dict[str, int] = {}
    # Children first, so that tables without a cascading foreign key go too.
    for table in reversed(_tables_with(column)):
        if table.name == model.__tablename__:
            continue
        result = db.execute(delete(table).where(table.c[column] == subject_id))
        deleted = int(getattr(result, "rowcount", 0) or 0)
        if deleted:
            counts[str(table.name)] = deleted
    for user in db.scalars(select(User).where(getattr(User, column) == subject_id)):
        revoke_user_sessions(db, user_id=user.id, now=now)
        user.email = f"erased-{user.id}@invalid"
        user.display_name = None
        user.password_hash = None
        user.oidc_subject = None
        user.is_active = False
        setattr(user, column, None)
        counts["users (disabled)"] = counts.get("users (disabled)", 0) + 1
    db.flush()
    db.execute(delete(model).where(getattr(model, column) == subject_id))
    counts[str(model.__tablename__)] = 1
    audit.record(
        db,
        actor=actor,
        action="subject.erase",
        target_type=kind,
        target_id=subject_id,
        details={"deleted": counts},
        now=now,
    )
    return counts
