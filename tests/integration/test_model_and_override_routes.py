"""Model list and rollback over HTTP, override revocation, and the monthly override report
(API and CLI), on both backends."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.api.deps import get_clock, get_db
from tutorpulse.auth.deps import current_user
from tutorpulse.auth.models import AuditEntry, User
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine
from tutorpulse.errors import TutorpulseError
from tutorpulse.risk import registry
from tutorpulse.risk.api import router
from tutorpulse.risk.models import ChurnPrediction, ModelVersion
from tutorpulse.risk.overrides import create_override, override_report

from ..conftest import NOW, SAMPLE_DIR
from .helpers import event, run_import, session, student, tutor, write_jsonl
from .test_cli import assert_one_line_error, run


def _client(db: Session, role: str, now: datetime = NOW) -> TestClient:
    user = User(email=f"{role}-{now:%H%M%S}@example.org", role=role, display_name=role)
    db.add(user)
    db.flush()
    app = FastAPI()
    app.include_router(router, prefix="/api/v1")

    def session_dep() -> Iterator[Session]:
        yield db

    app.dependency_overrides[get_db] = session_dep
    app.dependency_overrides[get_clock] = lambda: FixedClock(now)
    app.dependency_overrides[current_user] = lambda: user
    return TestClient(app)


def _model(db: Session, version: str, status: str, days_ago: int, auc: float) -> ModelVersion:
    trained = NOW - timedelta(days=days_ago)
    row = ModelVersion(
        version=version,
        model_kind=registry.CHURN_KIND,
        status=status,
        artifact_path=f"/nonexistent/{version}",
        data_start=date(2025, 1, 1),
        data_end=trained.date(),
        features=["sessions_7d", "logins_7d"],
        metrics={
            "horizons": {
                "30": {
                    "rows": 1000,
                    "auc": auc,
                    "brier": 0.03,
                    "ece": 0.01,
                    "precision_at_10pct": {"precision": 0.3, "recall": 0.66},
                }
            }
        },
        trained_at=trained,
        promoted_at=trained if status != registry.CHALLENGER else None,
    )
    db.add(row)
    db.flush()
    return row


def _audit(db: Session, action: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_models_are_listed_newest_first_with_their_test_metrics(db: Session) -> None:
    _model(db, "churn-old", registry.RETIRED, 3, 0.88)
    _model(db, "churn-current", registry.CHAMPION, 2, 0.90)
    _model(db, "churn-new", registry.CHALLENGER, 1, 0.89)
    people = _client(db, "people_ops")
    listed = people.get("/api/v1/models")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 3
    assert [m["version"] for m in body["items"]] == ["churn-new", "churn-current", "churn-old"]
    current = body["items"][1]
    assert current["status"] == "champion" and current["features"] == 2
    assert current["metrics"]["auc_30d"] == 0.90
    assert current["metrics"]["precision_at_10pct_30d"] == 0.3
    page = people.get("/api/v1/models", params={"page": 2, "page_size": 2}).json()
    assert [m["version"] for m in page["items"]] == ["churn-old"]
    assert people.get("/api/v1/models", params={"kind": "first_session"}).json()["total"] == 0
    assert people.get("/api/v1/models", params={"page": 0}).status_code == 422
    assert _client(db, "tutor").get("/api/v1/models").status_code == 403


def test_empty_registry_lists_nothing_and_cannot_roll_back(db: Session) -> None:
    ops = _client(db, "ops_manager")
    assert ops.get("/api/v1/models").json() == {
        "items": [],
        "total": 0,
        "page": 1,
        "page_size": 50,
    }
    refused = ops.post("/api/v1/models/rollback", json={})
    assert refused.status_code == 409
    assert "no earlier champion" in refused.json()["detail"]


def test_rollback_goes_back_to_the_previous_champion_and_is_audited(db: Session) -> None:
    _model(db, "churn-old", registry.RETIRED, 3, 0.88)
    _model(db, "churn-current", registry.CHAMPION, 2, 0.90)
    _model(db, "churn-new", registry.CHALLENGER, 1, 0.89)
    ops = _client(db, "ops_manager")
    back = ops.post("/api/v1/models/rollback", json={})
    assert back.status_code == 200, back.text
    assert back.json()["version"] == "churn-old" and back.json()["status"] == "champion"
    assert registry.get_model(db, version="churn-current").status == registry.RETIRED
    entries = _audit(db, "model.rollback")
    assert [(e.target_id, e.details["replaced"]) for e in entries] == [
        ("churn-old", "churn-current")
    ]
    assert entries[0].actor_user_id is not None

    # A named version (here the challenger) can be made champion the same way.
    chosen = ops.post("/api/v1/models/rollback", json={"version": "churn-new"})
    assert chosen.status_code == 200 and chosen.json()["version"] == "churn-new"
    assert registry.champion(db).version == "churn-new"  # type: ignore[union-attr]

    unknown = ops.post("/api/v1/models/rollback", json={"version": "churn-nope"})
    assert unknown.status_code == 404
    assert "churn-nope" in unknown.json()["detail"]
    again = ops.post("/api/v1/models/rollback", json={"version": "churn-new"})
    assert again.status_code == 409 and "already the champion" in again.json()["detail"]
    assert ops.post("/api/v1/models/rollback", json={"version": ""}).status_code == 422
    assert len(_audit(db, "model.rollback")) == 2  # refusals leave no entry
    people = _client(db, "people_ops")
    assert people.post("/api/v1/models/rollback", json={}).status_code == 403
    assert registry.champion(db).version == "churn-new"  # type: ignore[union-attr]


def test_promotion_is_audited_with_actor_and_versions(db: Session) -> None:
    _model(db, "churn-current", registry.CHAMPION, 2, 0.90)
    _model(db, "churn-new", registry.CHALLENGER, 1, 0.91)
    operator = User(email="ml-ops@example.org", role="admin", display_name="ML ops")
    db.add(operator)
    db.flush()
    row = registry.promote(db, version="churn-new", now=NOW, actor=operator)
    assert row.status == registry.CHAMPION
    (entry,) = _audit(db, "model.promote")
    assert (entry.actor_user_id, entry.actor_label) == (operator.id, "admin:ml-ops@example.org")
    assert (entry.target_type, entry.target_id, entry.at) == ("model", "churn-new", NOW)
    assert entry.details == {"kind": registry.CHURN_KIND, "replaced": "churn-current"}
    # A refused promotion (already the champion) leaves no entry; rollback keeps its own action.
    with pytest.raises(TutorpulseError, match="already the champion"):
        registry.promote(db, version="churn-new", now=NOW, actor=operator)
    assert len(_audit(db, "model.promote")) == 1
    registry.rollback(db, now=NOW, version="churn-current", actor=operator)
    assert len(_audit(db, "model.promote")) == 1
    assert [(e.target_id, e.details["replaced"]) for e in _audit(db, "model.rollback")] == [
        ("churn-current", "churn-new")
    ]


def test_cli_promote_and_rollback_are_audited_as_the_operator(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run("db", "upgrade", data_dir=data_dir).returncode == 0
    engine = make_engine(Settings(env="test", data_dir=data_dir).effective_database_url)
    try:
        with Session(engine) as db:
            _model(db, "churn-current", registry.CHAMPION, 2, 0.90)
            _model(db, "churn-new", registry.CHALLENGER, 1, 0.91)
            db.commit()
        promoted = run("model", "promote", "churn-new", data_dir=data_dir)
        assert promoted.returncode == 0, promoted.stderr
        rolled = run("model", "rollback", data_dir=data_dir)
        assert rolled.returncode == 0, rolled.stderr
        with Session(engine) as db:
            entries = [
                (e.action, e.actor_user_id, e.actor_label, e.target_id, e.details["replaced"])
                for e in db.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.action.like("model.%"))
                    .order_by(AuditEntry.id)
                )
            ]
    finally:
        engine.dispose()
    operator = f"cli:{getpass.getuser()}"
    assert entries == [
        ("model.promote", None, operator, "churn-new", "churn-current"),
        ("model.rollback", None, operator, "churn-current", "churn-new"),
    ]


def test_an_ops_manager_revokes_an_active_override_with_a_reason(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    ops = _client(db, "ops_manager")
    created = ops.post(
        "/api/v1/tutors/tutor_001/override",
        json={
            "risk_level": "Critical",
            "reason": "said they are leaving",
            "expires_at": (NOW + timedelta(days=10)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    override_id = created.json()["id"]
    url = f"/api/v1/tutors/tutor_001/overrides/{override_id}"
    assert ops.post(f"{url}/revoke", json={}).status_code == 422  # reason is mandatory
    assert ops.post(f"{url}/revoke", json={"reason": "  "}).status_code == 422
    wrong_tutor = ops.post(
        f"/api/v1/tutors/tutor_002/overrides/{override_id}/revoke", json={"reason": "typo"}
    )
    assert wrong_tutor.status_code == 404
    assert (
        ops.post(
            "/api/v1/tutors/tutor_001/overrides/999999/revoke", json={"reason": "no such"}
        ).json()["detail"]
        == "override of tutor 'tutor_001' 999999 not found"
    )
    people = _client(db, "people_ops")
    assert people.post(f"{url}/revoke", json={"reason": "mine"}).status_code == 403

    revoked = ops.post(f"{url}/revoke", json={"reason": "she stays: new contract signed"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] == NOW.isoformat()
    shown = ops.get("/api/v1/tutors/tutor_001/predictions").json()
    assert shown["override"] is None
    entries = _audit(db, "prediction.override_revoke")
    assert len(entries) == 1 and entries[0].details == {
        "override_id": override_id,
        "risk_level": "Critical",
        "reason": "she stays: new contract signed",
    }
    twice = ops.post(f"{url}/revoke", json={"reason": "again"})
    assert twice.status_code == 409 and "already revoked" in twice.json()["detail"]


def test_an_expired_override_cannot_be_revoked(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    ops = _client(db, "ops_manager")
    item = create_override(
        db,
        tutor_id="tutor_001",
        risk_level="High",
        reason="temporary",
        expires_at=NOW - timedelta(days=1),
        actor="ops",
        now=NOW - timedelta(days=5),
    )
    late = ops.post(
        f"/api/v1/tutors/tutor_001/overrides/{item.id}/revoke", json={"reason": "too late"}
    )
    assert late.status_code == 409 and "already expired" in late.json()["detail"]


FEB = datetime(2025, 2, 5, 10, 0, tzinfo=UTC)


def _report_market(tmp_path: Path) -> Path:
    """t1 resigns ten days after its override; t2 keeps teaching through March."""
    directory = tmp_path / "market"
    write_jsonl(
        directory / "tutors.jsonl",
        [
            tutor("t1", onboarding_date="2024-10-01", baseline_sessions_per_week=3),
            tutor("t2", onboarding_date="2024-10-01", baseline_sessions_per_week=3),
        ],
    )
    write_jsonl(directory / "students.jsonl", [student("s1")])
    sessions = []
    for n in range(60):
        day = datetime(2025, 1, 10, 16, tzinfo=UTC) + timedelta(days=n)
        for tutor_id in ("t1", "t2"):
            if tutor_id == "t1" and day.date() >= date(2025, 2, 15):
                continue
            stamp = day.isoformat().replace("+00:00", "Z")
            sessions.append(
                session(
                    f"{tutor_id}-{n}",
                    tutor_id=tutor_id,
                    session_number=n + 1,
                    scheduled_start=stamp,
                    actual_start=stamp,
                )
            )
    write_jsonl(directory / "sessions.jsonl", sessions)
    write_jsonl(
        directory / "tutor_events.jsonl",
        [
            event(
                "r1",
                tutor_id="t1",
                event_type="resignation",
                event_timestamp="2025-02-15T09:00:00Z",
            )
        ],
    )
    return directory


def _overrides_in_february(db: Session) -> None:
    for tutor_id, model_level in (("t1", "Low"), ("t2", "Low")):
        db.add(
            ChurnPrediction(
                tutor_id=tutor_id,
                prediction_date=FEB.date(),
                churn_score=10,
                risk_level=model_level,
                score_source="model",
                contributing_factors={},
                model_version="churn-x",
            )
        )
    db.flush()
    create_override(
        db,
        tutor_id="t1",
        risk_level="High",
        reason="asked about leaving",
        expires_at=FEB + timedelta(days=20),
        actor="ops",
        now=FEB,
    )
    create_override(
        db,
        tutor_id="t2",
        risk_level="Critical",
        reason="complained about pay",
        expires_at=FEB + timedelta(days=20),
        actor="ops",
        now=FEB,
    )


def test_monthly_report_compares_override_and_model_with_what_happened(
    db: Session, tmp_path: Path
) -> None:
    run_import(db, _report_market(tmp_path))
    _overrides_in_february(db)
    report = override_report(db, month=date(2025, 2, 1), now=datetime(2025, 3, 10, tzinfo=UTC))
    rows = {r["tutor_id"]: r for r in report["rows"]}
    assert rows["t1"]["churned_within_30d"] and not rows["t2"]["churned_within_30d"]
    # t1: override High and churned (right), model Low (wrong); t2: the reverse.
    assert (rows["t1"]["override_right"], rows["t1"]["model_right"]) == (True, False)
    assert (rows["t2"]["override_right"], rows["t2"]["model_right"]) == (False, True)
    assert report["override_accuracy"] == 0.5 and report["model_accuracy"] == 0.5
    assert report["outcomes_observed_until"] == "2025-03-10" and not report["complete"]
    later = override_report(db, month=date(2025, 2, 1), now=datetime(2025, 5, 1, tzinfo=UTC))
    assert later["complete"] and later["outcomes_observed_until"] == "2025-03-30"

    ops = _client(db, "ops_manager", now=datetime(2025, 3, 10, tzinfo=UTC))
    shown = ops.get("/api/v1/overrides/report", params={"month": "2025-02"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["overrides"] == 2
    empty = ops.get("/api/v1/overrides/report", params={"month": "2025-01"}).json()
    assert empty["overrides"] == 0 and empty["rows"] == [] and empty["override_accuracy"] is None
    bad = ops.get("/api/v1/overrides/report", params={"month": "2025-13"})
    assert bad.status_code == 422 and "YYYY-MM" in bad.json()["detail"]
    future = ops.get("/api/v1/overrides/report", params={"month": "2026-01"})
    assert future.status_code == 422 and "not started" in future.json()["detail"]
    assert ops.get("/api/v1/overrides/report").status_code == 422  # month is required
    tutor_client = _client(db, "tutor")
    refused = tutor_client.get("/api/v1/overrides/report", params={"month": "2025-02"})
    assert refused.status_code == 403


def test_cli_override_report(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run("db", "upgrade", data_dir=data_dir).returncode == 0
    assert_one_line_error(
        run("overrides", "report", "--month", "Feb 2025", data_dir=data_dir), "YYYY-MM"
    )
    assert run("overrides", "report", data_dir=data_dir).returncode == 2  # --month required
    out = tmp_path / "o.csv"
    done = run("overrides", "report", "--month", "2025-02", "--out", str(out), data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert "no overrides in 2025-02" in done.stdout
    assert out.read_text().splitlines() == [
        "override_id,tutor_id,starts_at,revoked,override_level,model_level,"
        "churned_within_30d,override_right,model_right"
    ]


def test_intervention_history_holds_only_what_reached_a_tutor_and_when(db: Session) -> None:
    from tutorpulse.interventions.models import Intervention
    from tutorpulse.risk.features import FEATURES
    from tutorpulse.risk.intervention_features import (
        INTERVENTION_FEATURES,
        load_intervention_history,
    )

    run_import(db, SAMPLE_DIR)
    day = NOW - timedelta(days=10)

    def add(kind: str, status: str, **fields: object) -> Intervention:
        item = Intervention(
            tutor_id="tutor_001",
            intervention_type=kind,
            trigger_reason="test",
            recommended_date=day,
            status=status,
            **fields,
        )
        db.add(item)
        db.flush()
        return item

    add("A1", "sent", completed_date=day)  # automated, sent: reached at once
    add("H1", "completed", acted_at=day + timedelta(days=2), completed_date=NOW)
    add("H4", "in_progress", acted_at=day + timedelta(days=12))  # acted after NOW
    add("H2", "pending")  # nobody acted yet
    add("H1", "cancelled", completed_date=day + timedelta(days=1))  # closed unacted
    add("A2", "holdout", holdout=True)  # control group: nothing was sent
    plan = add("H3", "in_progress", acted_at=day + timedelta(days=1))
    add("H3", "pending", parent_id=plan.intervention_id, acted_at=day + timedelta(days=1))
    history = load_intervention_history(db, until=NOW)
    got = sorted(
        (kind, moment.to_pydatetime())
        for kind, moment in zip(history["intervention_type"], history["reached_at"], strict=True)
    )
    assert got == [
        ("A1", day),
        ("H1", day + timedelta(days=2)),
        ("H3", day + timedelta(days=1)),
    ]
    # Later, the in-progress retention talk has reached the tutor too.
    later = load_intervention_history(db, until=NOW + timedelta(days=5))
    assert sorted(later["intervention_type"]) == ["A1", "H1", "H3", "H4"]
    assert load_intervention_history(db, until=day).empty
    assert set(INTERVENTION_FEATURES) <= set(FEATURES)  # trained and scored with the rest
