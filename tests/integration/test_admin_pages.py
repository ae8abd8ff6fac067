"""Admin pages (accounts and API tokens, the audit log viewer with its audited CSV export)
and the "who viewed my data" page: their services on both backends, and the pages as served.

Which role reaches which page is walked in test_permissions_walk.py; here: what the pages
show and do.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.auth import audit, service
from tutorpulse.auth.models import AuditEntry, User
from tutorpulse.ui.admin_audit import AuditFilters, FilterError, export_csv, to_csv

from ..conftest import NOW
from .test_auth_fixtures import (  # noqa: F401  (fixtures)
    app_fixture,
    bearer,
    client_fixture,
    clock_fixture,
    people_fixture,
    session_token,
)


def test_accounts_search_and_pages(db: Session, people: dict[str, User]) -> None:
    for n in range(30):
        service.create_user(
            db,
            email=f"coach{n:02d}@example.org",
            role="people_ops",
            password=None,
            display_name=f"Coach {n:02d}",
            actor="test",
            now=NOW,
        )
    db.flush()
    first, total = service.list_users(db, limit=25, offset=0)
    assert total == len(people) + 30 and len(first) == 25
    rest, _ = service.list_users(db, limit=25, offset=25)
    assert {u.id for u in first}.isdisjoint({u.id for u in rest})
    found, count = service.list_users(db, limit=25, q="COACH0")
    assert count == 10 and all(u.email.startswith("coach0") for u in found)
    by_name, count = service.list_users(db, limit=25, q="coach 29")
    assert count == 1 and by_name[0].email == "coach29@example.org"
    assert service.list_users(db, q="nobody-like-this") == ([], 0)


def test_audit_filters_check_their_fields(db: Session, people: dict[str, User]) -> None:
    admin = people["admin"]
    chosen = AuditFilters(actor=admin.email.upper(), since="2025-01-01", until="2025-01-31")
    converted = chosen.to_filter(db, tz=UTC)
    assert converted.actor_user_id == admin.id
    assert (
        converted.since is not None and converted.since.isoformat() == "2025-01-01T00:00:00+00:00"
    )
    assert (
        converted.until is not None and converted.until.isoformat() == "2025-02-01T00:00:00+00:00"
    )
    assert AuditFilters(actor=str(admin.id)).to_filter(db, tz=UTC).actor_user_id == admin.id
    for bad, message in [
        (AuditFilters(since="yesterday"), "From: 'yesterday' is not a date"),
        (AuditFilters(until="2025-13-01"), "To: '2025-13-01' is not a date"),
        (AuditFilters(since="2025-02-01", until="2025-01-01"), "To: before From"),
        (AuditFilters(actor="ghost@example.org"), "Who: no account with email"),
        (AuditFilters(target_id="x" * 201), "Target id: at most 200 characters"),
    ]:
        with pytest.raises(FilterError, match=message):
            bad.to_filter(db, tz=UTC)


def test_csv_export_is_audited_and_safe_for_spreadsheets(
    db: Session, people: dict[str, User]
) -> None:
    admin = people["admin"]
    audit.record(
        db,
        actor=people["people_ops"],
        action="tutor.read",
        target_type="tutor",
        target_id="t1",
        now=NOW - timedelta(hours=1),
    )
    audit.record(
        db,
        actor=people["people_ops"],
        action="tutor.read",
        target_type="tutor",
        target_id='=HYPERLINK("http://evil")',
        now=NOW - timedelta(minutes=30),
    )
    audit.record(db, actor="system:test", action="auth.login", now=NOW - timedelta(minutes=5))
    db.flush()
    chosen = AuditFilters(action="tutor.read").to_filter(db, tz=UTC)
    content, total = export_csv(db, filters=chosen, actor=admin, now=NOW, ip="192.0.2.9")
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert total == 2 and len(rows) == 2
    assert {r["action"] for r in rows} == {"tutor.read"}
    assert rows[0]["target_id"] == '\'=HYPERLINK("http://evil")'  # newest first, defused
    assert rows[1]["target_id"] == "t1"
    db.flush()
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "audit.export")).one()
    assert entry.actor_user_id == admin.id and entry.ip == "192.0.2.9"
    assert entry.details == {"filters": {"action": "tutor.read"}, "rows": 2}
    assert to_csv([]).decode().strip().split(",")[:3] == ["id", "at", "actor_user_id"]


def test_who_viewed_my_data_lists_other_peoples_accesses(
    db: Session, people: dict[str, User]
) -> None:
    tutor = people["tutor"]
    for actor, target in [
        (people["people_ops"], "t1"),
        (people["ops_manager"], "t2"),
        (tutor, "t1"),
        ("system:retention", "t1"),
    ]:
        audit.record(
            db, actor=actor, action="tutor.read", target_type="tutor", target_id=target, now=NOW
        )
    db.flush()
    seen = audit.accesses_by_others(db, user=tutor)
    assert sorted(a.viewer_role for a in seen) == ["people_ops", "system"]
    assert audit.accesses_by_others(db, user=people["admin"]) == []


def test_admin_pages_render_for_an_admin(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    admin = bearer(session_token(db, people["admin"]))
    for path, title in [("/admin/users", "Accounts"), ("/admin/audit", "Audit log")]:
        page = client.get(path, headers=admin, follow_redirects=False)
        assert page.status_code == 200, path
        assert f"<title>{title} · tutorpulse</title>" in page.text
    # The navigation offers them to admins, and not to other staff.
    assert "/admin/audit" in client.get("/tutors", headers=admin).text
    manager = bearer(session_token(db, people["ops_manager"]))
    assert "/admin/audit" not in client.get("/tutors", headers=manager).text


def test_a_tutor_sees_who_viewed_their_record(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    people["people_ops"].display_name = "Marcus Reviewer"
    audit.record(
        db,
        actor=people["people_ops"],
        action="tutor.read",
        target_type="tutor",
        target_id="t1",
        now=NOW,
    )
    db.flush()
    tutor = bearer(session_token(db, people["tutor"]))
    page = client.get("/me/audit", headers=tutor, follow_redirects=False)
    assert page.status_code == 200
    assert "Marcus Reviewer (people ops)" in page.text
    other = bearer(session_token(db, people["tutor2"]))  # nobody viewed t2
    assert "Nobody else has viewed your data yet." in client.get("/me/audit", headers=other).text
