"""Shared data for the dashboard, portal and feedback tests (no tests of its own).

The sample marketplace (8 tutors) imported and computed as of its last day, staff and tutor
accounts, a model prediction next to a rule score, and a human task behind a critical alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.api.app import create_app
from tutorpulse.auth import service as auth_service
from tutorpulse.auth.models import User
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.interventions.models import Alert, Intervention
from tutorpulse.pipeline.service import run_pipeline
from tutorpulse.risk.models import ChurnPrediction

from ..conftest import SAMPLE_DIR
from .helpers import run_import

AS_OF = date(2025, 1, 19)
NOW = datetime(2025, 1, 19, 23, 0, tzinfo=UTC)
SECRET = "dashboard-test-secret-key-0123456789abcdef"
CRITICAL_TUTOR = "tutor_002"
OWN_TUTOR = "tutor_001"
# Keys a tutor must never receive, at any depth of any response.
FORBIDDEN_KEYS = frozenset(
    {
        "churn_score",
        "churn_risk",
        "risk_level",
        "score_source",
        "probabilities",
        "top_factors",
        "contributing_factors",
        "rules_score",
        "manager_notes",
        "notes",
        "model_version",
        "window_1day_probability",
        "window_7day_probability",
        "window_30day_probability",
        "window_90day_probability",
    }
)


@dataclass
class Market:
    db: Session
    users: dict[str, User]
    task: Intervention
    alert: Alert


def build_market(db: Session, tmp_path: Any) -> Market:
    run_import(db, SAMPLE_DIR)
    run_pipeline(db, as_of=AS_OF, now=NOW)
    users = {
        "manager": User(email="sarah@example.org", display_name="Sarah", role="ops_manager"),
        "manager2": User(email="sam@example.org", display_name="Sam", role="ops_manager"),
        "people_ops": User(email="marcus@example.org", display_name="Marcus", role="people_ops"),
        "tutor": User(email="emily@example.org", role="tutor", tutor_id=OWN_TUTOR),
        "student": User(email="alex@example.org", role="student"),
    }
    for user in users.values():
        user.is_active = True
        db.add(user)
    db.flush()
    # The ML model's prediction beside the rule score: the model's is the one shown.
    db.add(
        ChurnPrediction(
            tutor_id=CRITICAL_TUTOR,
            prediction_date=AS_OF,
            churn_score=88,
            risk_level="Critical",
            score_source="model",
            window_1day_probability=0.05,
            window_7day_probability=0.3,
            window_30day_probability=0.88,
            window_90day_probability=0.93,
            contributing_factors={
                "top": [
                    {"component": "reschedule_pattern", "value": 0.8},
                    {"component": "no_show_risk", "value": 0.4},
                ]
            },
            model_version="test-model-1",
        )
    )
    task = Intervention(
        tutor_id=CRITICAL_TUTOR,
        intervention_type="H1",
        mode="human",
        trigger_reason="churn score above 50 for 7+ days",
        evidence={},
        recommended_date=NOW - timedelta(hours=2),
        owner_role="ops_manager",
        status="pending",
        holdout=False,
        risk_level="Critical",
        churn_score=88,
        due_date=NOW + timedelta(hours=22),
    )
    db.add(task)
    db.flush()
    alert = db.scalars(select(Alert).where(Alert.tutor_id == CRITICAL_TUTOR)).one()
    return Market(db=db, users=users, task=task, alert=alert)


_TOKENS: dict[int, str] = {}


def make_app(db: Session, users: dict[str, User]) -> FastAPI:
    """The real app (auth guard, dashboard routers, pages) on the test transaction; every
    user gets a real session (``as_user`` sends its bearer token)."""
    factory = sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")
    app = create_app(
        Settings(env="test", secret_key=SECRET),
        session_factory=factory,
        clock=FixedClock(NOW),
    )
    for user in users.values():
        sign_in(db, user)
    return app


def sign_in(db: Session, user: User) -> None:
    token, _ = auth_service.start_session(
        db, user=user, method="test", ip="testclient", now=NOW, lifetime=timedelta(hours=4)
    )
    db.flush()
    _TOKENS[user.id] = token


def as_user(user: User | None) -> dict[str, str]:
    if user is None:
        return {}
    return {"Authorization": f"Bearer {_TOKENS[user.id]}"}


@pytest.fixture
def market(db: Session, tmp_path: Any) -> Market:
    return build_market(db, tmp_path)


@pytest.fixture
def client(market: Market) -> Iterator[TestClient]:
    with TestClient(make_app(market.db, market.users)) as test_client:
        yield test_client


def forbidden_keys(value: Any, path: str = "$") -> list[str]:
    """Every forbidden key anywhere in a JSON value (with its path)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in FORBIDDEN_KEYS or "churn" in key.lower() or "probab" in key.lower():
                found.append(f"{path}.{key}")
            found.extend(forbidden_keys(inner, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(forbidden_keys(inner, f"{path}[{index}]"))
    return found


Getter = Callable[..., Any]
