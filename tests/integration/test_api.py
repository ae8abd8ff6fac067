"""HTTP API: health, readiness and ingestion, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.api.app import create_app
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.ingest.models import RejectedRecord

from ..conftest import NOW
from .helpers import session, student, tutor

TOKEN = "test-ingest-token-0123456789abcdef"


def _client(db: Session, **settings: object) -> TestClient:
    factory = sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")
    app = create_app(
        Settings(env="test", ingest_token=TOKEN, **settings),  # type: ignore[arg-type]
        session_factory=factory,
        clock=FixedClock(NOW),
    )
    return TestClient(app)


@pytest.fixture
def client(db: Session) -> Iterator[TestClient]:
    with _client(db) as test_client:
        yield test_client


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}
    assert ready.json()["freshness"] == {
        "pipeline_lag_seconds": 0.0,
        "scheduler_last_job_seconds": None,
        "model_age_seconds": None,
    }


@pytest.mark.redis
def test_readiness_checks_redis_when_configured(db: Session, redis_url: str) -> None:
    with _client(db, redis_url=redis_url) as test_client:
        assert test_client.get("/readyz").json()["checks"]["redis"] == "ok"
    # Redis only speeds up push and caching: without it the app is degraded, still ready.
    with _client(db, redis_url="redis://127.0.0.1:1/0") as test_client:
        response = test_client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"]["redis"].startswith("degraded: ConnectionError")


def test_ingest_requires_the_token(client: TestClient) -> None:
    assert client.post("/api/v1/ingest/tutors", json=[tutor()]).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/api/v1/ingest/tutors", json=[tutor()], headers=wrong).status_code == 401


def test_ingest_accepts_good_and_reports_bad_records(client: TestClient, db: Session) -> None:
    response = client.post(
        "/api/v1/ingest/tutors", json=[tutor("t1"), tutor("t2", email="bad")], headers=_auth()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["inserted"], body["rejected"]) == (1, 1)
    assert "email" in body["rejections"][0]
    client.post("/api/v1/ingest/students", json=[student()], headers=_auth())
    response = client.post(
        "/api/v1/ingest/sessions",
        json=[session("x1"), 42, session("x2", tutor_id="t9")],
        headers=_auth(),
    )
    body = response.json()
    assert (body["inserted"], body["rejected"]) == (1, 2)
    assert db.scalar(select(func.count()).select_from(RejectedRecord)) == 3
    # Same request again: nothing new, nothing changed.
    again = client.post("/api/v1/ingest/tutors", json=[tutor("t1")], headers=_auth()).json()
    assert (again["inserted"], again["unchanged"]) == (0, 1)


def test_ingest_validates_kind_and_body(client: TestClient) -> None:
    assert client.post("/api/v1/ingest/lessons", json=[], headers=_auth()).status_code == 422
    response = client.post("/api/v1/ingest/tutors", json={"a": 1}, headers=_auth())
    assert response.status_code == 422


def test_openapi_and_offline_docs(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/v1/ingest/{kind}" in schema["paths"]
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs


def test_ingest_rejects_huge_integers_cleanly(client: TestClient) -> None:
    response = client.post(
        "/api/v1/ingest/sessions", json=[{"": -9223372036854775809}], headers=_auth()
    )
    assert response.status_code == 200
    assert response.json()["rejected"] == 1
