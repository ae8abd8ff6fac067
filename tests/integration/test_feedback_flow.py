"""The student feedback link: signed, expiring, once per session, validated by the ingest
service, and a negative first-session answer raises the flag at once (both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import object_session

from tutorpulse.dashboard.feedback import LINK_LIFETIME, link_for_session, make_token
from tutorpulse.events.models import DirtyTutor
from tutorpulse.marketplace.models import StudentFeedback, TutoringSession
from tutorpulse.metrics.models import TutorFlag

from .test_dashboard_data import NOW, SECRET, Market, client, market

__all__ = ["client", "market"]

ANSWERS = {
    "overall_rating": 2,
    "subject_knowledge": 3,
    "communication": 2,
    "patience": 3,
    "engagement": 2,
    "helpfulness": 2,
    "free_text_feedback": "Started late and went too fast.",
    "would_work_again": "no",
    "improvement_areas": ["late", "unclear"],
}


def _open_session(market: Market, *, first: bool) -> TutoringSession:
    """A recent held session that has no feedback yet, of a tutor without the flag."""
    flagged = set(
        market.db.scalars(
            select(TutorFlag.tutor_id).where(
                TutorFlag.flag_type == "poor_first_session", TutorFlag.cleared_on.is_(None)
            )
        )
    )
    answered = set(market.db.scalars(select(StudentFeedback.session_id)))
    candidates = market.db.scalars(
        select(TutoringSession)
        .where(
            TutoringSession.status == "completed",
            TutoringSession.scheduled_start > NOW - LINK_LIFETIME + timedelta(hours=1),
            (TutoringSession.session_number == 1)
            if first
            else (TutoringSession.session_number > 1),
        )
        .order_by(TutoringSession.scheduled_start.desc())
    ).all()
    for candidate in candidates:
        if candidate.session_id not in answered and candidate.tutor_id not in flagged:
            return candidate
    pytest.fail("the sample has no suitable session")


def _url(session: TutoringSession) -> str:
    db = object_session(session)
    assert db is not None
    link = link_for_session(db, secret_key=SECRET, session_id=session.session_id)
    return "/api/v1" + link


def test_negative_first_session_raises_the_flag(client: TestClient, market: Market) -> None:
    session = _open_session(market, first=True)
    url = _url(session)
    form = client.get(url)
    assert form.status_code == 200
    body = form.json()
    assert body["first_session"] is True and body["already_submitted"] is False
    assert body["session_id"] == session.session_id
    assert "student" not in body

    sent = client.post(url, json=ANSWERS)
    assert sent.status_code == 201, sent.text
    stored = market.db.scalars(
        select(StudentFeedback).where(StudentFeedback.session_id == session.session_id)
    ).one()
    assert stored.source == "real" and stored.would_work_again == "no"
    assert stored.improvement_areas == ["late", "unclear"]
    assert stored.would_recommend is False
    flag = market.db.scalars(
        select(TutorFlag).where(
            TutorFlag.tutor_id == session.tutor_id,
            TutorFlag.flag_type == "poor_first_session",
            TutorFlag.cleared_on.is_(None),
        )
    ).one()
    assert flag.evidence["first_session_negative_feedback_30d_count"] >= 1
    assert market.db.get(DirtyTutor, session.tutor_id) is not None

    again = client.post(url, json=ANSWERS)
    assert again.status_code == 409
    assert "already have your feedback" in again.json()["detail"]
    assert client.get(url).json()["already_submitted"] is True


def test_other_sessions_ignore_first_session_questions(client: TestClient, market: Market) -> None:
    session = _open_session(market, first=False)
    answers = ANSWERS | {"overall_rating": 5}
    assert client.post(_url(session), json=answers).status_code == 201
    stored = market.db.scalars(
        select(StudentFeedback).where(StudentFeedback.session_id == session.session_id)
    ).one()
    assert stored.would_work_again is None and stored.improvement_areas is None
    assert stored.is_first_session is False and stored.would_recommend is True


def test_forged_expired_and_invalid_links(client: TestClient, market: Market) -> None:
    session = _open_session(market, first=True)
    good = _url(session)
    assert client.get(good[:-3] + "abc").status_code == 404
    wrong_key = make_token(
        secret_key="another-secret-key-0123456789abcdef",
        session_id=session.session_id,
        expires_at=NOW + timedelta(days=1),
    )
    assert client.get(f"/api/v1/feedback/{wrong_key}").status_code == 404
    expired = make_token(
        secret_key=SECRET, session_id=session.session_id, expires_at=NOW - timedelta(seconds=1)
    )
    response = client.get(f"/api/v1/feedback/{expired}")
    assert response.status_code == 404 and "expired" in response.json()["detail"]
    assert client.post(f"/api/v1/feedback/{expired}", json=ANSWERS).status_code == 404


def test_answers_are_validated(client: TestClient, market: Market) -> None:
    url = _url(_open_session(market, first=True))
    assert client.post(url, json=ANSWERS | {"overall_rating": 0}).status_code == 422
    assert client.post(url, json=ANSWERS | {"free_text_feedback": "x" * 501}).status_code == 422
    missing = {k: v for k, v in ANSWERS.items() if k != "patience"}
    assert client.post(url, json=missing).status_code == 422
    assert client.post(url, json=ANSWERS | {"improvement_areas": ["rude"]}).status_code == 422
    assert client.post(url, json=ANSWERS | {"free_text_feedback": "x" * 500}).status_code == 201


def test_reminders_once_per_unanswered_session(market: Market) -> None:
    from tutorpulse.dashboard.feedback import REMINDER_TOPIC, queue_reminders
    from tutorpulse.events.models import OutboxMessage

    sent = queue_reminders(market.db, secret_key=SECRET, now=NOW, base_url="https://tp.example")
    assert sent > 0
    market.db.flush()
    rows = market.db.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == REMINDER_TOPIC)
    ).all()
    assert len(rows) == sent
    answered = set(market.db.scalars(select(StudentFeedback.session_id)))
    for row in rows:
        assert row.payload["session_id"] not in answered
        assert row.payload["link"].startswith("https://tp.example/feedback/")
        session = market.db.get(TutoringSession, row.payload["session_id"])
        assert session is not None and session.scheduled_start <= NOW - timedelta(hours=24)
    assert queue_reminders(market.db, secret_key=SECRET, now=NOW) == 0
