"""The sign-in form (login CSRF, open redirects), password reset by signed link, demo users."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.auth.deps import SESSION_COOKIE
from tutorpulse.auth.models import User
from tutorpulse.auth.notifier import EMAIL_TOPIC, InMemoryNotifier
from tutorpulse.auth.pages import LOGIN_CSRF_COOKIE
from tutorpulse.auth.permissions import Role
from tutorpulse.auth.service import ensure_demo_users
from tutorpulse.clock import FixedClock
from tutorpulse.events.models import OutboxMessage

from ..conftest import NOW
from .test_auth_fixtures import (  # noqa: F401  (fixtures)
    PASSWORD,
    app_fixture,
    client_fixture,
    clock_fixture,
    people_fixture,
    seed_people,
)

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(client: TestClient, next_path: str = "/") -> str:
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200
    match = CSRF_FIELD.search(page.text)
    assert match
    return match.group(1)


def post_login(client: TestClient, **fields: str) -> object:
    return client.post("/login", data=fields, follow_redirects=False)


def test_form_login_redirects_to_a_local_next(client: TestClient, people: dict[str, User]) -> None:
    token = form_token(client)
    response = post_login(
        client,
        csrf_token=token,
        email="ops_manager@example.org",
        password=PASSWORD,
        next="/tutors/t1?tab=risk",
    )
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == "/tutors/t1?tab=risk"  # type: ignore[attr-defined]
    assert client.cookies.get(SESSION_COOKIE)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:x"]
)
def test_form_login_never_redirects_off_site(
    client: TestClient, people: dict[str, User], target: str
) -> None:
    token = form_token(client, target)
    page = client.get("/login", params={"next": target}).text
    assert "evil" not in page and "javascript" not in page
    response = post_login(
        client, csrf_token=token, email="tutor@example.org", password=PASSWORD, next=target
    )
    assert response.headers["location"] == "/"  # type: ignore[attr-defined]


def test_form_login_needs_the_form_token(client: TestClient, people: dict[str, User]) -> None:
    # A cross-site form (login CSRF) has neither our cookie nor the matching field.
    forged = post_login(client, email="tutor@example.org", password=PASSWORD, csrf_token="x")
    assert forged.status_code == 403  # type: ignore[attr-defined]
    assert not client.cookies.get(SESSION_COOKIE)
    form_token(client)
    mismatched = post_login(client, email="tutor@example.org", password=PASSWORD, csrf_token="y")
    assert mismatched.status_code == 403  # type: ignore[attr-defined]


def test_form_login_failure_shows_the_form_again(
    client: TestClient, people: dict[str, User]
) -> None:
    token = form_token(client)
    response = post_login(client, csrf_token=token, email="tutor@example.org", password="nope")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert "invalid email or password" in response.text  # type: ignore[attr-defined]
    assert client.cookies.get(LOGIN_CSRF_COOKIE)


def _reset_app(app: FastAPI) -> InMemoryNotifier:
    notifier = InMemoryNotifier()
    app.state.notifier = notifier
    return notifier


def test_password_reset_by_signed_link(
    app: FastAPI, client: TestClient, people: dict[str, User], clock: FixedClock
) -> None:
    notifier = _reset_app(app)
    ok = client.post("/api/v1/auth/password-reset", json={"email": "Tutor@example.org"})
    unknown = client.post("/api/v1/auth/password-reset", json={"email": "ghost@example.org"})
    assert ok.status_code == unknown.status_code == 202 and ok.json() == unknown.json()
    assert [m.to for m in notifier.sent] == ["tutor@example.org"]
    link = re.search(r"(http\S+)", notifier.sent[0].body)
    assert link
    token = parse_qs(urlparse(link.group(1)).query)["reset"][0]
    confirm = {"token": token, "new_password": "a brand new password"}
    done = client.post("/api/v1/auth/password-reset/confirm", json=confirm)
    assert done.status_code == 204, done.text
    login = {"email": "tutor@example.org", "password": "a brand new password"}
    assert client.post("/api/v1/auth/login", json=login).status_code == 200
    # Single use: the same link does nothing the second time.
    again = client.post("/api/v1/auth/password-reset/confirm", json=confirm)
    assert again.status_code == 400


def test_password_reset_links_expire_and_cannot_be_forged(
    app: FastAPI, client: TestClient, people: dict[str, User], clock: FixedClock
) -> None:
    notifier = _reset_app(app)
    client.post("/api/v1/auth/password-reset", json={"email": "tutor@example.org"})
    match = re.search(r"reset=(\S+)", notifier.sent[0].body)
    assert match
    token = [match.group(1)]
    forged = token[0][:-3] + ("aaa" if not token[0].endswith("aaa") else "bbb")
    body = {"token": forged, "new_password": "another long password"}
    assert client.post("/api/v1/auth/password-reset/confirm", json=body).status_code == 400
    clock.advance(timedelta(minutes=31))
    body = {"token": token[0], "new_password": "another long password"}
    assert client.post("/api/v1/auth/password-reset/confirm", json=body).status_code == 400


def test_password_reset_goes_through_the_outbox_by_default(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    client.post("/api/v1/auth/password-reset", json={"email": "student@example.org"})
    message = db.scalar(select(OutboxMessage).where(OutboxMessage.topic == EMAIL_TOPIC))
    assert message is not None and message.payload["to"] == "student@example.org"


def test_demo_users_one_per_role_linked_and_idempotent(db: Session) -> None:
    seed_people(db)
    logins = ensure_demo_users(db, now=NOW)
    assert {role for role, _, _ in logins} == {r.value for r in Role}
    again = ensure_demo_users(db, now=NOW)
    assert again == logins
    by_role = {u.role: u for u in db.scalars(select(User))}
    assert by_role["tutor"].tutor_id == "t1" and by_role["student"].student_id == "s1"
    assert by_role["admin"].tutor_id is None
    assert len(by_role) == 5
