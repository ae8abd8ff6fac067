"""Every write leaves an audit entry (who, what, which record, from where), on both backends.

``test_every_write_route_is_audited`` walks the write routes of the OpenAPI schema
(POST/PUT/PATCH/DELETE), performs each one as a role the permission table allows on a prepared
marketplace, and looks for the entry. A new write route fails it until it is audited and given
an expectation here (or a commented exclusion). The reads the issue names (profile, prediction)
and the exports are checked beside it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tutorpulse.auth import service as auth_service
from tutorpulse.auth.models import AuditEntry, User
from tutorpulse.auth.notifier import InMemoryNotifier
from tutorpulse.auth.passwords import hash_password
from tutorpulse.auth.permissions import rule_for
from tutorpulse.config import Settings
from tutorpulse.risk import registry
from tutorpulse.risk.overrides import create_override

from .helpers import tutor
from .test_dashboard_data import (
    CRITICAL_TUTOR,
    NOW,
    OWN_TUTOR,
    SECRET,
    Market,
    as_user,
    client,
    market,
    sign_in,
)
from .test_feedback_flow import _open_session, _url
from .test_model_and_override_routes import _model

__all__ = ["client", "market"]  # fixtures

PASSWORD = "a long enough password"
WRITE_METHODS = {"post", "put", "patch", "delete"}
# Write routes that record no entry of their own, each with the reason. Keep this short: an
# entry here is a route whose writes nobody can trace.
EXCLUDED: dict[tuple[str, str], str] = {}


@dataclass
class Call:
    headers: dict[str, str]
    path: str
    action: str
    target_type: str | None
    target_id: str | None
    body: Any = None
    actor_user_id: int | None = None
    actor_label: str | None = None
    status: int = 200
    role: str | None = None  # the role performing it (checked against the table)


@dataclass
class World:
    market: Market
    admin: User
    api_token: str
    token_id: int
    override_id: int
    reset_token: str
    feedback_url: str
    feedback_session: str

    @property
    def users(self) -> dict[str, User]:
        return self.market.users


def _world(market: Market) -> World:
    db = market.db
    admin = User(email="ada@example.org", display_name="Ada", role="admin", is_active=True)
    db.add(admin)
    db.flush()
    sign_in(db, admin)
    market.users["manager2"].password_hash = hash_password(PASSWORD)
    token, _row = auth_service.create_api_token(
        db, name="feed", scopes=["ingest"], actor="test", now=NOW
    )
    _plain, spare = auth_service.create_api_token(
        db, name="spare", scopes=["ingest"], actor="test", now=NOW
    )
    override = create_override(
        db,
        tutor_id=OWN_TUTOR,
        risk_level="High",
        reason="spoke with the tutor",
        expires_at=NOW + timedelta(days=7),
        actor=market.users["manager"],
        now=NOW,
    )
    _model(db, "churn-old", registry.RETIRED, 3, 0.88)
    _model(db, "churn-current", registry.CHAMPION, 2, 0.90)
    link = auth_service.request_password_reset(
        db,
        email=market.users["student"].email,  # a reset ends the account's sessions
        notifier=InMemoryNotifier(),
        settings=Settings(env="test", secret_key=SECRET),
        base_url="http://testserver",
        ip=None,
        now=NOW,
    )
    assert link is not None
    session = _open_session(market, first=False)
    db.flush()
    return World(
        market=market,
        admin=admin,
        api_token=token,
        token_id=spare.id,
        override_id=override.id,
        reset_token=link.token,
        feedback_url=_url(session),
        feedback_session=session.session_id,
    )


def _user_call(w: World, key: str, path: str, action: str, **kwargs: Any) -> Call:
    user = w.admin if key == "admin" else w.users[key]
    kwargs.setdefault("actor_user_id", user.id)
    return Call(headers=as_user(user), path=path, action=action, role=user.role, **kwargs)


V1 = "/api/v1"
# One expectation per write route, in the order they run (the task is assigned before it is
# closed; the login comes before the logout).
SPECS: dict[tuple[str, str], Callable[[World], Call]] = {
    ("POST", "/auth/login"): lambda w: Call(
        headers={},
        path="/auth/login",
        body={"email": w.users["manager2"].email, "password": PASSWORD},
        action="auth.login",
        target_type="user",
        target_id=str(w.users["manager2"].id),
        actor_user_id=w.users["manager2"].id,
    ),
    ("POST", "/auth/password-reset"): lambda w: Call(
        headers={},
        path="/auth/password-reset",
        body={"email": w.users["manager"].email},
        action="auth.password_reset_requested",
        target_type="user",
        target_id=str(w.users["manager"].id),
        actor_label="anonymous",
        status=202,
    ),
    ("POST", "/auth/password-reset/confirm"): lambda w: Call(
        headers={},
        path="/auth/password-reset/confirm",
        body={"token": w.reset_token, "new_password": "another long password"},
        action="auth.password_reset",
        target_type="user",
        target_id=str(w.users["student"].id),
        actor_user_id=w.users["student"].id,
        status=204,
    ),
    ("POST", "/admin/users"): lambda w: _user_call(
        w,
        "admin",
        "/admin/users",
        "user.create",
        body={"email": "new.person@example.org", "role": "people_ops"},
        target_type="user",
        target_id=None,  # the new account's id, from the response
        status=201,
    ),
    ("PATCH", "/admin/users/{user_id}"): lambda w: _user_call(
        w,
        "admin",
        f"/admin/users/{w.users['manager2'].id}",
        "user.update",
        body={"display_name": "Samuel"},
        target_type="user",
        target_id=str(w.users["manager2"].id),
    ),
    ("POST", "/admin/tokens"): lambda w: _user_call(
        w,
        "admin",
        "/admin/tokens",
        "token.create",
        body={"name": "another feed", "scopes": ["ingest"]},
        target_type="api_token",
        target_id=None,
        status=201,
    ),
    ("DELETE", "/admin/tokens/{token_id}"): lambda w: _user_call(
        w,
        "admin",
        f"/admin/tokens/{w.token_id}",
        "token.revoke",
        target_type="api_token",
        target_id=str(w.token_id),
    ),
    ("POST", "/ingest/{kind}"): lambda w: Call(
        headers={"Authorization": f"Bearer {w.api_token}"},
        path="/ingest/tutors",
        body=[tutor("tutor_new_1"), {"tutor_id": "broken"}],
        action="ingest.batch",
        target_type="ingest_batch",
        target_id=None,  # the batch id, from the response
        actor_label="token:",
    ),
    ("POST", "/tutors/{tutor_id}/notes"): lambda w: _user_call(
        w,
        "manager",
        f"/tutors/{CRITICAL_TUTOR}/notes",
        "tutor.note_added",
        body={"body": "Called, will follow up next week."},
        target_type="tutor",
        target_id=CRITICAL_TUTOR,
        status=201,
    ),
    ("POST", "/interventions/{intervention_id}/assign"): lambda w: _user_call(
        w,
        "manager",
        f"/interventions/{w.market.task.intervention_id}/assign",
        "intervention.assign",
        target_type="intervention",
        target_id=str(w.market.task.intervention_id),
    ),
    ("POST", "/interventions/{intervention_id}/outcome"): lambda w: _user_call(
        w,
        "people_ops",
        f"/interventions/{w.market.task.intervention_id}/outcome",
        "intervention.outcome",
        body={"outcome": "improved", "notes": "good call"},
        target_type="intervention",
        target_id=str(w.market.task.intervention_id),
    ),
    ("POST", "/alerts/{alert_id}/acknowledge"): lambda w: _user_call(
        w,
        "people_ops",
        f"/alerts/{w.market.alert.id}/acknowledge",
        "alert.acknowledged",
        target_type="alert",
        target_id=str(w.market.alert.id),
    ),
    ("POST", "/alerts/{alert_id}/snooze"): lambda w: _user_call(
        w,
        "manager",
        f"/alerts/{w.market.alert.id}/snooze",
        "alert.snoozed",
        body={"hours": 12},
        target_type="alert",
        target_id=str(w.market.alert.id),
    ),
    ("POST", "/alerts/{alert_id}/dismiss"): lambda w: _user_call(
        w,
        "manager",
        f"/alerts/{w.market.alert.id}/dismiss",
        "alert.dismissed",
        body={"reason": "already_handled"},
        target_type="alert",
        target_id=str(w.market.alert.id),
    ),
    ("PUT", "/portal/me/goals/{key}"): lambda w: _user_call(
        w,
        "tutor",
        "/portal/me/goals/avg_rating",
        "tutor.goal_set",
        body={"target": 4.6},
        target_type="tutor",
        target_id=OWN_TUTOR,
    ),
    ("POST", "/feedback/{token}"): lambda w: Call(
        headers={},
        path=w.feedback_url.removeprefix(V1),
        body={
            "overall_rating": 5,
            "subject_knowledge": 5,
            "communication": 4,
            "patience": 5,
            "engagement": 4,
            "helpfulness": 5,
        },
        action="feedback.submit",
        target_type="feedback",
        target_id=None,
        actor_label=f"feedback-link:session:{w.feedback_session}",
        status=201,
    ),
    ("POST", "/tutors/{tutor_id}/override"): lambda w: _user_call(
        w,
        "manager",
        f"/tutors/{CRITICAL_TUTOR}/override",
        "prediction.override",
        body={
            "risk_level": "High",
            "reason": "spoke with them today",
            "expires_at": (NOW + timedelta(days=14)).isoformat(),
        },
        target_type="tutor",
        target_id=CRITICAL_TUTOR,
        status=201,
    ),
    ("POST", "/tutors/{tutor_id}/overrides/{override_id}/revoke"): lambda w: _user_call(
        w,
        "manager",
        f"/tutors/{OWN_TUTOR}/overrides/{w.override_id}/revoke",
        "prediction.override_revoke",
        body={"reason": "resolved"},
        target_type="tutor",
        target_id=OWN_TUTOR,
    ),
    ("POST", "/models/rollback"): lambda w: _user_call(
        w,
        "manager",
        "/models/rollback",
        "model.rollback",
        body={},
        target_type="model",
        target_id="churn-old",
    ),
    # Last: it ends the session it is called with.
    ("POST", "/auth/logout"): lambda w: _user_call(
        w,
        "manager",
        "/auth/logout",
        "auth.logout",
        target_type="user",
        target_id=str(w.users["manager"].id),
        status=204,
    ),
}


def _write_routes(client: TestClient) -> set[tuple[str, str]]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {
        (method.upper(), path.removeprefix(V1))
        for path, operations in paths.items()
        for method in operations
        if method in WRITE_METHODS
    }


def _target_from(call: Call, body: Any) -> str | None:
    if call.target_id is not None:
        return call.target_id
    if call.action == "ingest.batch":
        return str(body["batch_id"])
    if call.action == "feedback.submit":
        return str(body["feedback_id"])
    return str(body["id"])


def test_every_write_route_is_audited(client: TestClient, market: Market) -> None:
    db = market.db
    world = _world(market)
    routes = _write_routes(client)
    assert len(routes) >= 20  # the walk sees the real schema
    missing = sorted(f"{m} {p}" for m, p in routes - set(SPECS) - set(EXCLUDED))
    assert missing == [], f"audit these write routes and add them to SPECS: {missing}"
    stale = sorted(f"{m} {p}" for m, p in set(SPECS) - routes)
    assert stale == [], f"SPECS names routes the app no longer has: {stale}"

    failures: list[str] = []
    for (method, template), make in SPECS.items():
        call = make(world)
        rule = rule_for(method, V1 + template)
        assert rule is not None
        if call.role is not None:
            assert rule.allows_role(call.role), f"{method} {template}: pick a permitted role"
        before = db.scalar(select(func.coalesce(func.max(AuditEntry.id), 0)))
        client.cookies.clear()
        response = client.request(
            method, V1 + call.path, json=call.body, headers=call.headers, follow_redirects=False
        )
        where = f"{method} {template}"
        if response.status_code != call.status:
            failures.append(f"{where}: {response.status_code} {response.text[:200]}")
            continue
        body = response.json() if response.content else None
        target = _target_from(call, body)
        entries = db.scalars(
            select(AuditEntry).where(AuditEntry.id > before, AuditEntry.action == call.action)
        ).all()
        matching = [
            e
            for e in entries
            if e.target_type == call.target_type
            and e.target_id == target
            and (call.actor_user_id is None or e.actor_user_id == call.actor_user_id)
            and (call.actor_label is None or e.actor_label.startswith(call.actor_label))
        ]
        if len(matching) != 1:
            seen = [(e.action, e.actor_label, e.target_type, e.target_id) for e in entries]
            failures.append(f"{where}: expected one {call.action} on {target}, saw {seen}")
            continue
        if matching[0].ip != "testclient":
            failures.append(f"{where}: from where? ip={matching[0].ip!r}")
    assert failures == [], "\n".join(failures)


def _entries(market: Market, action: str) -> list[AuditEntry]:
    return list(
        market.db.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


def test_ingest_batch_is_one_entry_with_counts(client: TestClient, market: Market) -> None:
    token, row = auth_service.create_api_token(
        market.db, name="bulk", scopes=["ingest"], actor="test", now=NOW
    )
    market.db.flush()
    records = [tutor(f"tutor_bulk_{i}") for i in range(3)] + [{"tutor_id": "bad"}]
    response = client.post(
        "/api/v1/ingest/tutors", json=records, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    (entry,) = _entries(market, "ingest.batch")
    assert entry.actor_label == f"token:{row.id}:bulk" and entry.actor_user_id is None
    assert entry.target_id == str(response.json()["batch_id"])
    assert entry.details["kind"] == "tutors" and entry.details["source"] == "real"
    assert entry.details["accepted"] == 3 and entry.details["rejected"] == 1
    assert entry.ip == "testclient"


def test_feedback_entry_names_the_link_not_the_student(client: TestClient, market: Market) -> None:
    session = _open_session(market, first=False)
    answers: dict[str, Any] = {k: 4 for k in ("subject_knowledge", "communication", "patience")}
    answers |= {"engagement": 4, "helpfulness": 4, "overall_rating": 4}
    answers["free_text_feedback"] = "Lovely session"
    response = client.post(_url(session), json=answers)
    assert response.status_code == 201
    (entry,) = _entries(market, "feedback.submit")
    assert entry.actor_label == f"feedback-link:session:{session.session_id}"
    assert entry.actor_user_id is None
    flat = repr(entry.details) + entry.actor_label + (entry.target_id or "")
    assert session.student_id not in flat and "Lovely" not in flat
    assert entry.details == {"session_id": session.session_id, "tutor_id": session.tutor_id}
    # A refused second submission writes nothing and records nothing.
    assert client.post(_url(session), json=answers).status_code == 409
    assert len(_entries(market, "feedback.submit")) == 1


def test_refused_writes_leave_no_entry(client: TestClient, market: Market) -> None:
    task = market.task.intervention_id
    manager = as_user(market.users["manager"])
    bad = client.post(
        f"/api/v1/interventions/{task}/outcome", json={"outcome": "great"}, headers=manager
    )
    assert bad.status_code == 422
    gone = client.post("/api/v1/alerts/999999/acknowledge", headers=manager)
    assert gone.status_code == 404 and "alert 999999 not found" in gone.text
    tutor_user = as_user(market.users["tutor"])
    refused = client.post(f"/api/v1/interventions/{task}/assign", headers=tutor_user)
    assert refused.status_code == 403
    goal = client.put("/api/v1/portal/me/goals/avg_rating", json={"target": 9}, headers=tutor_user)
    assert goal.status_code == 422 and "between 1 and 5" in goal.text
    for action in ("intervention.outcome", "alert.acknowledged", "intervention.assign"):
        assert _entries(market, action) == []
    assert _entries(market, "tutor.goal_set") == []


def test_profile_and_prediction_reads_are_audited(client: TestClient, market: Market) -> None:
    people_ops = market.users["people_ops"]
    assert client.get(f"/api/v1/tutors/{OWN_TUTOR}", headers=as_user(people_ops)).status_code == 200
    own = as_user(market.users["tutor"])
    assert client.get(f"/api/v1/tutors/{OWN_TUTOR}", headers=own).status_code == 200
    reads = _entries(market, "tutor.read")
    assert [(e.actor_user_id, e.target_id, e.details["view"]) for e in reads] == [
        (people_ops.id, OWN_TUTOR, "staff"),
        (market.users["tutor"].id, OWN_TUTOR, "tutor"),
    ]
    path = f"/api/v1/tutors/{CRITICAL_TUTOR}/predictions"
    assert client.get(path, headers=as_user(people_ops)).status_code == 200
    (seen,) = _entries(market, "prediction.read")
    assert (seen.actor_user_id, seen.target_type, seen.target_id) == (
        people_ops.id,
        "tutor",
        CRITICAL_TUTOR,
    )
    assert seen.ip == "testclient"
    # The tutor's "who viewed my data" shows the staff read, not their own.
    mine = client.get("/api/v1/me/audit", headers=own).json()
    assert [(a["action"], a["viewer_role"]) for a in mine] == [("tutor.read", "people_ops")]
    # A look at their predictions is a view of their record; internal work (a manager's note)
    # is not listed, and nothing names churn figures or notes.
    manager = as_user(market.users["manager"])
    assert client.get(f"/api/v1/tutors/{OWN_TUTOR}/predictions", headers=manager).status_code == 200
    note = client.post(f"/api/v1/tutors/{OWN_TUTOR}/notes", json={"body": "x"}, headers=manager)
    assert note.status_code == 201
    mine = client.get("/api/v1/me/audit", headers=own).json()
    assert [(a["action"], a["viewer_role"]) for a in mine] == [
        ("tutor.read", "ops_manager"),
        ("tutor.read", "people_ops"),
    ]
    assert "note" not in repr(mine) and "prediction" not in repr(mine)


def test_analytics_csv_export_is_audited_json_view_is_not(
    client: TestClient, market: Market
) -> None:
    headers = as_user(market.users["manager"])
    assert client.get("/api/v1/analytics/tier_distribution", headers=headers).status_code == 200
    assert _entries(market, "analytics.export") == []
    response = client.get("/api/v1/analytics/tier_distribution?format=csv", headers=headers)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    (entry,) = _entries(market, "analytics.export")
    assert entry.actor_user_id == market.users["manager"].id
    assert (entry.target_type, entry.target_id) == ("analytics", "tier_distribution")
    assert entry.details == {"rows": len(rows) - 1, "format": "csv"}


@pytest.mark.parametrize("hours", [0, 10_000])
def test_bad_snooze_is_named_and_not_audited(
    client: TestClient, market: Market, hours: int
) -> None:
    response = client.post(
        f"/api/v1/alerts/{market.alert.id}/snooze",
        json={"hours": hours},
        headers=as_user(market.users["manager"]),
    )
    assert response.status_code == 422 and "hours" in response.text
    assert _entries(market, "alert.snoozed") == []
