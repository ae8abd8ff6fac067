"""The audit log is append-only: in the application, and on PostgreSQL in the database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.auth.models import AuditEntry, User

from ..conftest import NOW
from .test_auth_fixtures import (  # noqa: F401  (fixtures)
    app_fixture,
    bearer,
    client_fixture,
    clock_fixture,
    people_fixture,
    session_token,
)


def _entry(db: Session) -> AuditEntry:
    entry = audit.record(
        db,
        actor=audit.MachineActor("test"),
        action="tutor.read",
        target_type="tutor",
        target_id="t1",
        ip="10.0.0.1",
        details={"fields": ["tier"]},
        now=NOW,
    )
    db.flush()
    return entry


def test_record_keeps_who_what_when_where(db: Session, people: dict[str, User]) -> None:
    entry = audit.record(
        db,
        actor=people["people_ops"],
        action="tutor.read",
        target_type="tutor",
        target_id="t1",
        ip="192.0.2.7",
        details={"view": "profile"},
        now=NOW,
    )
    db.flush()
    stored = db.get(AuditEntry, entry.id)
    assert stored is not None
    assert stored.actor_user_id == people["people_ops"].id
    assert stored.actor_label == "people_ops:people_ops@example.org"
    assert (stored.action, stored.target_type, stored.target_id) == ("tutor.read", "tutor", "t1")
    assert stored.at == NOW and stored.ip == "192.0.2.7" and stored.details == {"view": "profile"}


def test_the_application_cannot_change_or_delete_entries(db: Session) -> None:
    entry = _entry(db)
    entry.action = "tutor.nothing"
    with pytest.raises(audit.AuditLogIsAppendOnly):
        db.flush()
    db.rollback()
    entry = _entry(db)
    db.delete(entry)
    with pytest.raises(audit.AuditLogIsAppendOnly):
        db.flush()
    db.rollback()


def _refused(db: Session, statement: str) -> None:
    _entry(db)
    savepoint = db.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text(statement))
    savepoint.rollback()
    assert db.scalar(select(AuditEntry.action)) == "tutor.read"


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"]
)
def test_database_triggers_refuse_update_and_delete(db: Session, statement: str) -> None:
    """Below the application, SQL itself cannot change the log (0002 PostgreSQL, 0009 SQLite)."""
    _refused(db, statement)


# SQLite has no TRUNCATE (its DELETE trigger covers it): this case exists on PostgreSQL only,
# so it is not generated for SQLite at all rather than skipped there.
@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_database_trigger_refuses_truncate_on_postgresql(db: Session) -> None:
    assert db.get_bind().dialect.name == "postgresql"
    _refused(db, "TRUNCATE audit_log")


def test_who_viewed_my_data(client: TestClient, people: dict[str, User], db: Session) -> None:
    for actor, target in [
        (people["people_ops"], "t1"),
        (people["ops_manager"], "t1"),
        (people["ops_manager"], "t2"),
        (people["tutor"], "t1"),  # the tutor's own views are not listed
    ]:
        audit.record(
            db,
            actor=actor,
            action="tutor.read",
            target_type="tutor",
            target_id=target,
            now=NOW,
        )
    db.flush()
    tutor = bearer(session_token(db, people["tutor"]))
    views = client.get("/api/v1/me/audit", headers=tutor).json()
    assert sorted(v["viewer_role"] for v in views) == ["ops_manager", "people_ops"]
    assert all("ip" not in v for v in views)
    student = bearer(session_token(db, people["student"]))
    assert client.get("/api/v1/me/audit", headers=student).json() == []
    staff = bearer(session_token(db, people["ops_manager"]))
    assert client.get("/api/v1/me/audit", headers=staff).status_code == 403
