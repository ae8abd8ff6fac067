"""The prediction and override routes: permissions, validation, the override beside the model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tutorpulse.api.deps import get_clock, get_db
from tutorpulse.auth.deps import current_user
from tutorpulse.auth.models import User
from tutorpulse.clock import FixedClock
from tutorpulse.risk.api import router

from ..conftest import NOW, SAMPLE_DIR
from .helpers import run_import


def _client(db: Session, role: str) -> TestClient:
    user = User(email=f"{role}@example.org", role=role, display_name=role)
    db.add(user)
    db.flush()
    app = FastAPI()
    app.include_router(router, prefix="/api/v1")

    def session() -> Iterator[Session]:
        yield db

    app.dependency_overrides[get_db] = session
    app.dependency_overrides[get_clock] = lambda: FixedClock(NOW)
    app.dependency_overrides[current_user] = lambda: user
    return TestClient(app)


def test_override_and_predictions_routes(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    ops = _client(db, "ops_manager")
    body = {
        "risk_level": "High",
        "reason": "asked about leaving in the last call",
        "expires_at": (NOW + timedelta(days=10)).isoformat(),
    }
    created = ops.post("/api/v1/tutors/tutor_001/override", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["risk_level"] == "High"
    shown = ops.get("/api/v1/tutors/tutor_001/predictions")
    assert shown.status_code == 200 and shown.json()["override"]["reason"] == body["reason"]
    assert ops.get("/api/v1/tutors/ghost/predictions").status_code == 404
    bad = ops.post("/api/v1/tutors/tutor_001/override", json=body | {"risk_level": "Huge"})
    assert bad.status_code == 422
    past = ops.post(
        "/api/v1/tutors/tutor_001/override", json=body | {"expires_at": NOW.isoformat()}
    )
    assert past.status_code == 422
    assert ops.post("/api/v1/tutors/ghost/override", json=body).status_code == 404


def test_roles_without_the_permission_are_refused(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    body = {"risk_level": "High", "reason": "a reason", "expires_at": NOW.isoformat()}
    tutor = _client(db, "tutor")
    assert tutor.get("/api/v1/tutors/tutor_001/predictions").status_code == 403
    assert tutor.post("/api/v1/tutors/tutor_001/override", json=body).status_code == 403
