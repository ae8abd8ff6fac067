"""Sign-in, sessions, cookies, CSRF, rate limiting, lockout, API tokens: attacked over HTTP."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.auth.deps import CSRF_COOKIE, SESSION_COOKIE
from tutorpulse.auth.models import ApiToken, AuditEntry, AuthSession, User
from tutorpulse.auth.service import digest
from tutorpulse.clock import FixedClock

from .helpers import tutor
from .test_auth_fixtures import (  # noqa: F401  (fixtures)
    INGEST_BOOTSTRAP,
    PASSWORD,
    app_fixture,
    bearer,
    build_app,
    client_fixture,
    clock_fixture,
    people_fixture,
    session_token,
)

LOGIN = "/api/v1/auth/login"


def login(client: TestClient, email: str, password: str = PASSWORD, **kwargs: Any) -> Any:
    return client.post(LOGIN, json={"email": email, "password": password}, **kwargs)


def actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_login_me_logout_with_bearer(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    response = login(client, "ops_manager@example.org")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"].startswith("tps_")
    client.cookies.clear()
    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["user"]["role"] == "ops_manager"
    assert "interventions.assign" in me.json()["permissions"]
    assert "password_hash" not in me.text
    out = client.post("/api/v1/auth/logout", headers=bearer(body["access_token"]))
    assert out.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(body["access_token"])).status_code == 401
    assert {"auth.login", "auth.logout"} <= set(actions(db))


def test_login_is_audited_with_who_and_where(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    login(client, "admin@example.org")
    login(client, "admin@example.org", "wrong password")
    login(client, "nobody@example.org", "wrong password")
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action.like("auth.login%"))).all()
    ok = [e for e in entries if e.action == "auth.login"]
    failed = [e for e in entries if e.action == "auth.login_failed"]
    assert ok[0].actor_user_id == people["admin"].id and ok[0].ip == "testclient"
    assert {e.details["reason"] for e in failed} == {"bad_password", "unknown_email"}
    assert all("wrong password" not in str(e.details) for e in entries)


def test_wrong_and_unknown_credentials_look_the_same(
    client: TestClient, people: dict[str, User]
) -> None:
    wrong = login(client, "admin@example.org", "not the password")
    unknown = login(client, "ghost@example.org", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_session_cookie_flags(client: TestClient, people: dict[str, User]) -> None:
    response = login(client, "tutor@example.org")
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    session = cookies[SESSION_COOKIE].lower()
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert "secure" not in session  # plain HTTP in tests, see the TLS test below
    csrf = cookies[CSRF_COOKIE].lower()
    assert "httponly" not in csrf and "samesite=strict" in csrf


def test_cookies_are_secure_and_hsts_sent_behind_tls(db: Session, people: dict[str, User]) -> None:
    with TestClient(build_app(db, behind_tls=True)) as tls_client:
        response = login(tls_client, "tutor@example.org")
        for cookie in response.headers.get_list("set-cookie"):
            assert "secure" in cookie.lower()
        assert "max-age=" in response.headers["strict-transport-security"]


def test_no_hsts_on_plain_http(client: TestClient) -> None:
    assert "strict-transport-security" not in client.get("/healthz").headers


def test_security_headers_on_api_and_pages(client: TestClient) -> None:
    for path in ("/healthz", "/api/v1/me", "/login", "/docs"):
        headers = client.get(path).headers
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert (
        client.get("/api/v1/me").headers["content-security-policy"].startswith("default-src 'none'")
    )
    assert "default-src 'self'" in client.get("/login").headers["content-security-policy"]
    assert client.get("/api/v1/me").headers["cache-control"] == "no-store"


def test_cookie_writes_need_the_csrf_token(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    body = login(client, "admin@example.org").json()
    assert client.cookies.get(SESSION_COOKIE)
    # A safe request with the cookie alone is fine.
    assert client.get("/api/v1/me").status_code == 200
    # A write with the cookie but without the token (a forged cross-site form) is refused.
    forged = client.post("/api/v1/admin/tokens", json={"name": "x", "scopes": ["ingest"]})
    assert forged.status_code == 403 and "CSRF" in forged.text
    wrong = client.post(
        "/api/v1/admin/tokens",
        json={"name": "x", "scopes": ["ingest"]},
        headers={"X-CSRF-Token": "guess"},
    )
    assert wrong.status_code == 403
    foreign = client.post(
        "/api/v1/admin/tokens",
        json={"name": "x", "scopes": ["ingest"]},
        headers={"X-CSRF-Token": body["csrf_token"], "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    good = client.post(
        "/api/v1/admin/tokens",
        json={"name": "x", "scopes": ["ingest"]},
        headers={"X-CSRF-Token": client.cookies[CSRF_COOKIE]},
    )
    assert good.status_code == 201, good.text
    assert db.scalar(select(ApiToken.name)) == "x"


def test_logout_by_cookie_needs_csrf(client: TestClient, people: dict[str, User]) -> None:
    login(client, "tutor@example.org")
    assert client.post("/api/v1/auth/logout").status_code == 403
    assert client.get("/api/v1/me").status_code == 200
    csrf = client.cookies[CSRF_COOKIE]
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_session_fixation_is_impossible(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    # An attacker plants a session id before the victim signs in...
    planted = "tps_attacker-chosen-value"
    client.cookies.set(SESSION_COOKIE, planted, domain="testserver.local")
    assert client.get("/api/v1/me").status_code == 401
    issued = login(client, "people_ops@example.org").cookies.get(SESSION_COOKIE)
    assert issued and issued != planted
    # ...and the planted value never becomes valid.
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, planted, domain="testserver.local")
    assert client.get("/api/v1/me").status_code == 401
    # Signing in again replaces (and revokes) the previous session.
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, issued, domain="testserver.local")
    assert client.get("/api/v1/me").status_code == 200
    renewed = login(client, "people_ops@example.org").cookies.get(SESSION_COOKIE)
    assert renewed and renewed != issued
    old = db.scalar(select(AuthSession).where(AuthSession.token_hash == digest(issued)))
    assert old is not None and old.revoked_at is not None


def test_sessions_expire_by_the_clock(
    client: TestClient, people: dict[str, User], clock: FixedClock
) -> None:
    token = login(client, "tutor@example.org").json()["access_token"]
    client.cookies.clear()
    clock.advance(timedelta(hours=7, minutes=59))
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    clock.advance(timedelta(minutes=2))
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_lockout_after_repeated_failures_then_release(
    client: TestClient, people: dict[str, User], clock: FixedClock, db: Session
) -> None:
    email = "ops_manager@example.org"
    for _ in range(5):
        assert login(client, email, "bad password").status_code == 401
    # Locked: even the right password is refused, with the same answer.
    locked = login(client, email)
    assert locked.status_code == 401 and locked.json()["detail"] == "invalid email or password"
    user = db.scalar(select(User).where(User.email == email))
    assert user is not None and user.locked_until is not None
    clock.advance(timedelta(minutes=14))
    assert login(client, email).status_code == 401
    clock.advance(timedelta(minutes=2))
    assert login(client, email).status_code == 200
    reasons = db.scalars(
        select(AuditEntry.details).where(AuditEntry.action == "auth.login_failed")
    ).all()
    assert [r["reason"] for r in reasons].count("locked") == 2


def test_rate_limit_per_address(db: Session, people: dict[str, User], clock: FixedClock) -> None:
    with TestClient(build_app(db, clock=clock, login_rate_limit=3)) as limited:
        for email in ("a@example.org", "b@example.org", "c@example.org"):
            assert login(limited, email, "x" * 12).status_code == 401
        blocked = login(limited, "admin@example.org")
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        clock.advance(timedelta(minutes=15, seconds=1))
        assert login(limited, "admin@example.org").status_code == 200


def test_api_tokens_scoped_hashed_and_revocable(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    admin = bearer(session_token(db, people["admin"]))
    created = client.post(
        "/api/v1/admin/tokens", json={"name": "feed", "scopes": ["ingest"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    row = db.get(ApiToken, created.json()["id"])
    assert row is not None and row.token_hash == digest(token) and token not in str(row.__dict__)
    listed = client.get("/api/v1/admin/tokens", headers=admin).json()
    assert "token" not in listed[0] and listed[0]["prefix"] == token[:12]

    ok = client.post("/api/v1/ingest/tutors", json=[tutor("t9")], headers=bearer(token))
    assert ok.status_code == 200, ok.text
    # An API token is not a user: user routes refuse it.
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    # A user session is not an API token: even an admin cannot ingest with it.
    assert client.post("/api/v1/ingest/tutors", json=[], headers=admin).status_code == 403

    revoked = client.delete(f"/api/v1/admin/tokens/{row.id}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    again = client.post("/api/v1/ingest/tutors", json=[tutor("t9")], headers=bearer(token))
    assert again.status_code == 401
    assert {"token.create", "token.revoke"} <= set(actions(db))


def test_bootstrap_ingest_token_setting_still_works(client: TestClient) -> None:
    response = client.post(
        "/api/v1/ingest/tutors", json=[tutor("t8")], headers=bearer(INGEST_BOOTSTRAP)
    )
    assert response.status_code == 200, response.text
    assert client.get("/api/v1/me", headers=bearer(INGEST_BOOTSTRAP)).status_code == 401


def test_expired_api_token_is_refused(
    client: TestClient, people: dict[str, User], db: Session, clock: FixedClock
) -> None:
    admin = bearer(session_token(db, people["admin"]))
    expires = (clock.now() + timedelta(days=1)).isoformat()
    token = client.post(
        "/api/v1/admin/tokens",
        json={"name": "short", "scopes": ["ingest"], "expires_at": expires},
        headers=admin,
    ).json()["token"]
    assert client.post("/api/v1/ingest/tutors", json=[], headers=bearer(token)).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    assert client.post("/api/v1/ingest/tutors", json=[], headers=bearer(token)).status_code == 401


def test_admin_manages_users(client: TestClient, people: dict[str, User], db: Session) -> None:
    admin = bearer(session_token(db, people["admin"]))
    created = client.post(
        "/api/v1/admin/users",
        json={
            "email": "New.Tutor@Example.org",
            "role": "tutor",
            "tutor_id": "t2",
            "password": "a long enough password",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "new.tutor@example.org"
    user_id = created.json()["id"]
    duplicate = client.post(
        "/api/v1/admin/users",
        json={"email": "new.tutor@example.org", "role": "admin"},
        headers=admin,
    )
    assert duplicate.status_code == 400
    missing = client.post(
        "/api/v1/admin/users",
        json={"email": "x@example.org", "role": "tutor", "tutor_id": "nope"},
        headers=admin,
    )
    assert missing.status_code == 404
    mislinked = client.post(
        "/api/v1/admin/users",
        json={"email": "y@example.org", "role": "ops_manager", "tutor_id": "t1"},
        headers=admin,
    )
    assert mislinked.status_code == 400
    token = login(client, "new.tutor@example.org", "a long enough password").json()["access_token"]
    client.cookies.clear()
    disabled = client.patch(
        f"/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=admin
    )
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    # Disabling ends the sessions at once.
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    page = client.get("/api/v1/admin/users", headers=admin).json()
    assert page["total"] == len(people) + 1
    self_demote = client.patch(
        f"/api/v1/admin/users/{people['admin'].id}", json={"role": "tutor"}, headers=admin
    )
    assert self_demote.status_code == 400


def test_role_change_ends_sessions(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    admin = bearer(session_token(db, people["admin"]))
    ops = session_token(db, people["ops_manager"])
    client.patch(
        f"/api/v1/admin/users/{people['ops_manager'].id}",
        json={"role": "people_ops"},
        headers=admin,
    )
    assert client.get("/api/v1/me", headers=bearer(ops)).status_code == 401


def test_audit_log_is_filterable_by_admins_only(
    client: TestClient, people: dict[str, User], db: Session, clock: FixedClock
) -> None:
    login(client, "tutor@example.org")
    clock.advance(timedelta(hours=1))
    login(client, "ops_manager@example.org", "bad password")
    client.cookies.clear()
    admin = bearer(session_token(db, people["admin"], now=clock.now()))
    everything = client.get("/api/v1/admin/audit", headers=admin).json()
    assert everything["total"] >= 2
    failed = client.get("/api/v1/admin/audit?action=auth.login_failed", headers=admin).json()
    assert [i["target_id"] for i in failed["items"]] == [str(people["ops_manager"].id)]
    prefixed = client.get("/api/v1/admin/audit?action=auth.*", headers=admin).json()
    assert {i["action"] for i in prefixed["items"]} == {"auth.login", "auth.login_failed"}
    by_actor = client.get(
        f"/api/v1/admin/audit?actor_user_id={people['tutor'].id}", headers=admin
    ).json()
    assert {i["action"] for i in by_actor["items"]} == {"auth.login"}
    since = (clock.now() - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    recent = client.get("/api/v1/admin/audit", params={"since": since}, headers=admin).json()
    assert {i["action"] for i in recent["items"]} == {"auth.login_failed"}
    naive = client.get(
        "/api/v1/admin/audit", params={"since": "2025-01-01T00:00:00"}, headers=admin
    )
    assert naive.status_code == 422
    for role in ("ops_manager", "people_ops", "tutor", "student"):
        token = bearer(session_token(db, people[role], now=clock.now()))
        assert client.get("/api/v1/admin/audit", headers=token).status_code == 403


def test_secrets_never_reach_the_logs(
    client: TestClient, people: dict[str, User], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = login(client, "admin@example.org")
    token = response.json()["access_token"]
    login(client, "admin@example.org", "the-wrong-secret-pw")
    client.get("/api/v1/me", headers=bearer(token))
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in (PASSWORD, "the-wrong-secret-pw", token, INGEST_BOOTSTRAP):
        assert secret not in text
