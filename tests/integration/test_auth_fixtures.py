"""Shared pieces of the auth, permission and privacy tests (this module holds no tests).

``auth_app`` builds the real app on the test transaction, plus a small test-only router that
stands in for the later tutor/student routes of DESIGN §4 (they are already in the
permission table), so that ownership and field filtering are tested through HTTP.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.api.app import create_app
from tutorpulse.auth import audit, service
from tutorpulse.auth.deps import (
    CurrentUser,
    OwnedStudentId,
    OwnedTutorId,
    enforce_route_table,
    require,
)
from tutorpulse.auth.models import User
from tutorpulse.auth.passwords import hash_password
from tutorpulse.auth.permissions import Permission, Role
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.marketplace.models import Student, Tutor

from ..conftest import NOW

PASSWORD = "correct horse battery"
INGEST_BOOTSTRAP = "bootstrap-ingest-token-0123456789"


def churny_profile(tutor_id: str) -> dict[str, Any]:
    """What a careless later route might return: churn fields at several depths."""
    return {
        "tutor_id": tutor_id,
        "tier": "Strong",
        "churn_score": 68,
        "risk_level": "high",
        "score_source": "model",
        "metrics": {"rating_30d": 4.2, "window_30d_probability": 0.68, "p30": 0.68},
        "predictions": [{"p1": 0.1, "p7": 0.2, "p30": 0.3, "p90": 0.4, "horizon": 30}],
        "explanations": {"contributing_factors": ["reschedules"], "top": {"manager_notes": "x"}},
        "interventions": [{"type": "H1", "notes": "internal", "status": "open"}],
    }


def later_routes_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(enforce_route_table)])

    @router.get("/tutors/{tutor_id}/predictions")
    def predictions(
        tutor_id: str, _user: User = Depends(require(Permission.READ_PREDICTIONS))
    ) -> dict[str, Any]:
        return {"tutor_id": tutor_id, "p1": 0.1, "p7": 0.2, "p30": 0.3, "p90": 0.4}

    @router.get("/tutors/{tutor_id}/feedback")
    def tutor_feedback(
        tutor_id: OwnedTutorId,
        _user: User = Depends(require(Permission.READ_TUTOR_FEEDBACK)),
    ) -> dict[str, Any]:
        # Deliberately unshaped: the middleware must still strip churn fields for tutors.
        # (The real /tutors/{id}, /portal/me and /kpis routes now come from dashboard/.)
        return churny_profile(tutor_id)

    @router.get("/students/{student_id}/feedback")
    def student_feedback(
        student_id: OwnedStudentId,
        _user: User = Depends(require(Permission.READ_STUDENT_FEEDBACK)),
    ) -> list[dict[str, Any]]:
        return [{"student_id": student_id, "rating": 4}]

    return router


def unlisted_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(enforce_route_table)])

    @router.get("/not-in-the-table")
    def unlisted(_user: CurrentUser) -> dict[str, str]:
        return {"secret": "x"}

    return router


def seed_people(db: Session) -> None:
    for tutor_id in ("t1", "t2"):
        if db.get(Tutor, tutor_id) is None:
            db.add(
                Tutor(
                    tutor_id=tutor_id,
                    name=f"Tutor {tutor_id}",
                    email=f"{tutor_id}@example.org",
                    onboarding_date=date(2024, 9, 1),
                    subjects=["Mathematics"],
                    education_level="Master",
                    location="London",
                    baseline_sessions_per_week=12,
                    source="synthetic",
                    content_hash="x" * 32,
                )
            )
    for student_id in ("s1", "s2"):
        if db.get(Student, student_id) is None:
            db.add(
                Student(
                    student_id=student_id,
                    name=f"Student {student_id}",
                    age=16,
                    grade_level="11",
                    subjects_interested=["Mathematics"],
                    source="synthetic",
                    content_hash="x" * 32,
                )
            )
    db.flush()


def make_user(
    db: Session,
    role: Role | str,
    *,
    email: str | None = None,
    password: str | None = PASSWORD,
    tutor_id: str | None = None,
    student_id: str | None = None,
) -> User:
    role = Role(role)
    if role is Role.TUTOR and tutor_id is None:
        tutor_id = "t1"
    if role is Role.STUDENT and student_id is None:
        student_id = "s1"
    user = service.create_user(
        db,
        email=email or f"{role.value}@example.org",
        role=role.value,
        password=None,
        tutor_id=tutor_id,
        student_id=student_id,
        actor=audit.MachineActor("test"),
        now=NOW,
    )
    if password is not None:
        # One argon2 hash per password per test run: hashing is slow on purpose.
        user.password_hash = _hashed(password)
    return user


@functools.cache
def _hashed(password: str) -> str:
    return hash_password(password)


def session_token(db: Session, user: User, *, now: Any = NOW) -> str:
    token, _ = service.start_session(
        db, user=user, method="test", ip="testclient", now=now, lifetime=timedelta(hours=1)
    )
    db.flush()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def build_app(
    db: Session,
    *,
    clock: FixedClock | None = None,
    routers: tuple[APIRouter, ...] = (),
    **settings: Any,
) -> FastAPI:
    factory = sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")
    settings.setdefault("env", "test")
    app = create_app(
        Settings(**settings),
        session_factory=factory,
        clock=clock or FixedClock(NOW),
    )
    for router in routers:
        app.include_router(router)
    return app


@pytest.fixture(name="clock")
def clock_fixture() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture(name="people")
def people_fixture(db: Session) -> dict[str, User]:
    """One account per role (tutor → t1, student → s1) plus a second tutor (t2)."""
    seed_people(db)
    users = {role.value: make_user(db, role) for role in Role}
    users["tutor2"] = make_user(db, Role.TUTOR, email="tutor2@example.org", tutor_id="t2")
    db.flush()
    return users


@pytest.fixture(name="app")
def app_fixture(db: Session, clock: FixedClock) -> FastAPI:
    return build_app(
        db, clock=clock, routers=(later_routes_router(),), ingest_token=INGEST_BOOTSTRAP
    )


@pytest.fixture(name="client")
def client_fixture(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
