"""The tutor portal: the tutor's own growth view, never a churn figure (both backends)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tutorpulse.auth.models import User
from tutorpulse.interventions.messages import FORBIDDEN_FOR_TUTORS

from .test_dashboard_data import (
    OWN_TUTOR,
    Market,
    as_user,
    client,
    forbidden_keys,
    market,
    sign_in,
)

__all__ = ["client", "market"]


def _texts(value: object) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [value] if isinstance(value, str) else []


def test_portal_shows_growth_view_without_churn_fields(client: TestClient, market: Market) -> None:
    response = client.get("/api/v1/portal/me", headers=as_user(market.users["tutor"]))
    assert response.status_code == 200
    body = response.json()
    assert body["tutor_id"] == OWN_TUTOR
    assert body["tier"] is not None and body["tier_message"]
    assert set(body["weekly"]) >= {"sessions", "avg_rating", "on_time_ratio"}
    assert len(body["rating_trend"]) == 30
    assert body["badges"] and body["goals"] and body["training"]
    assert body["next_tier_steps"]
    assert 0 <= body["percentile_rank"] <= 100
    for item in body["feedback"]:
        assert set(item) == {"submitted_on", "overall_rating", "first_session", "ratings", "text"}
    assert forbidden_keys(body) == []
    # Our own wording is growth-oriented (students' free text is theirs).
    ours = _texts({k: v for k, v in body.items() if k not in ("feedback", "name", "tier")})
    for text in ours:
        lowered = text.lower()
        assert not any(word in lowered for word in FORBIDDEN_FOR_TUTORS), text


def test_portal_needs_a_linked_tutor(client: TestClient, market: Market) -> None:
    unlinked = User(email="new@example.org", role="tutor", is_active=True)
    market.db.add(unlinked)
    market.db.flush()
    sign_in(market.db, unlinked)
    assert client.get("/api/v1/portal/me", headers=as_user(unlinked)).status_code == 404


def test_tutor_sets_own_goals(client: TestClient, market: Market) -> None:
    tutor = as_user(market.users["tutor"])
    response = client.put("/api/v1/portal/me/goals/avg_rating", json={"target": 4.8}, headers=tutor)
    assert response.status_code == 200
    goals = {g["key"]: g for g in response.json()["goals"]}
    assert goals["avg_rating"]["target"] == 4.8
    again = client.get("/api/v1/portal/me", headers=tutor).json()
    assert {g["key"]: g["target"] for g in again["goals"]}["avg_rating"] == 4.8
    bad = client.put("/api/v1/portal/me/goals/on_time", json={"target": 3}, headers=tutor)
    assert bad.status_code == 422
    unknown = client.put("/api/v1/portal/me/goals/salary", json={"target": 1}, headers=tutor)
    assert unknown.status_code == 422
    manager = as_user(market.users["manager"])
    refused = client.put("/api/v1/portal/me/goals/on_time", json={"target": 0.9}, headers=manager)
    assert refused.status_code == 403
