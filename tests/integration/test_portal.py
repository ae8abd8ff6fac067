"""The tutor portal: the tutor's own growth view, never a churn figure (both backends)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tutorpulse.auth.models import User
from tutorpulse.interventions.messages import FORBIDDEN_FOR_TUTORS

from .test_dashboard_data import OWN_TUTOR, Market, as_user, client, forbidden_keys, market

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
    market.users["unlinked"] = unlinked
    app = client.app
    previous = app.state.resolve_user  # type: ignore[attr-defined]
    app.state.resolve_user = lambda request: (  # type: ignore[attr-defined]
        unlinked if request.headers.get("x-test-user") == str(unlinked.id) else previous(request)
    )
    assert client.get("/api/v1/portal/me", headers=as_user(unlinked)).status_code == 404
