"""The NiceGUI pages check the signed-in user on the server before rendering anything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection

from tutorpulse.auth.models import User
from tutorpulse.dashboard.feedback import link_for_session

from .test_dashboard_data import CRITICAL_TUTOR, OWN_TUTOR, SECRET, Market, make_app, market

__all__ = ["market"]


@pytest.fixture
def pages(market: Market) -> Iterator[TestClient]:
    app = make_app(market.db, market.users)
    ids = {str(user.id): user for user in market.users.values()}

    def resolve(request: HTTPConnection) -> User | None:
        return ids.get(request.cookies.get("test-user", ""))

    app.state.resolve_page_user = resolve
    with TestClient(app, follow_redirects=False) as client:
        yield client


def _as(client: TestClient, user: User | None) -> TestClient:
    client.cookies.clear()
    if user is not None:
        client.cookies.set("test-user", str(user.id))
    return client


STAFF_PAGES = ["/", "/tutors", f"/tutors/{CRITICAL_TUTOR}", "/interventions", "/analytics"]


def test_anonymous_visitors_are_sent_to_sign_in(pages: TestClient) -> None:
    for path in [*STAFF_PAGES, "/portal"]:
        response = _as(pages, None).get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=" + path)


def test_staff_pages_render_for_staff(pages: TestClient, market: Market) -> None:
    client = _as(pages, market.users["manager"])
    for path in STAFF_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "<html" in response.text
    assert client.get("/portal").status_code == 403


def test_tutors_reach_only_their_portal_and_own_profile(pages: TestClient, market: Market) -> None:
    client = _as(pages, market.users["tutor"])
    for path in ["/", "/tutors", "/interventions", "/analytics"]:
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/portal", path
    assert client.get(f"/tutors/{CRITICAL_TUTOR}").status_code == 404
    portal = client.get("/portal")
    assert portal.status_code == 200
    assert "churn" not in portal.text.lower()
    own = client.get(f"/tutors/{OWN_TUTOR}")
    assert own.status_code == 200 and "churn" not in own.text.lower()


def test_students_get_no_staff_page(pages: TestClient, market: Market) -> None:
    client = _as(pages, market.users["student"])
    for path in [*STAFF_PAGES, "/portal"]:
        assert client.get(path).status_code in (403, 404), path


def test_feedback_page_needs_only_a_valid_link(pages: TestClient, market: Market) -> None:
    from sqlalchemy import select

    from tutorpulse.marketplace.models import StudentFeedback, TutoringSession

    answered = select(StudentFeedback.session_id)
    session = market.db.scalars(
        select(TutoringSession)
        .where(TutoringSession.status == "completed", TutoringSession.session_id.not_in(answered))
        .order_by(TutoringSession.scheduled_start.desc())
    ).first()
    assert session is not None
    link = link_for_session(market.db, secret_key=SECRET, session_id=session.session_id)
    page = _as(pages, None).get(link)
    assert page.status_code == 200
    assert "Your tutor sees your ratings but not your name" in page.text
    broken = _as(pages, None).get(link[:-4] + "AAAA")
    assert broken.status_code == 200 and "not valid" in broken.text
