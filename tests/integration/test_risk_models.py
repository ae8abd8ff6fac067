"""Training from the database, the registry's champion rule, scoring in the pipeline,
overrides, and the CLI's train/predict/model commands (both backends where a DB is used)."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.marketplace.models import TutoringSession
from tutorpulse.metrics.data import load_market_data
from tutorpulse.pipeline.service import evaluate_day, run_pipeline
from tutorpulse.risk import registry
from tutorpulse.risk.first_session import upcoming_first_session_risks, upcoming_first_sessions
from tutorpulse.risk.jobs import retrain, retraining_due
from tutorpulse.risk.models import ChurnPrediction, ModelVersion
from tutorpulse.risk.overrides import (
    active_override,
    create_override,
    monthly_override_report,
    tutor_predictions,
)
from tutorpulse.simulator.config import SimulationConfig
from tutorpulse.simulator.export import generate_dataset

from ..conftest import NOW
from .helpers import run_import
from .test_cli import assert_one_line_error, run

DAYS = 50


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    generate_dataset(SimulationConfig.build(seed=2, tutors=120), days=DAYS, out=out)
    return out


def _last_day(db: Session) -> date:
    from tutorpulse.risk.jobs import data_days

    return data_days(db)[1]


def test_train_register_score_and_roll_back(db: Session, sim_dir: Path, tmp_path: Path) -> None:
    run_import(db, sim_dir, source="synthetic")
    first = retrain(db, data_dir=tmp_path, now=NOW, max_configs=1)
    report = first.report
    assert first.churn_version.status == registry.CHAMPION
    assert Path(first.churn_version.artifact_path).is_relative_to(tmp_path.resolve() / "models")
    assert report["coherence_violations"] == 0
    assert report["split"]["eval_horizon_days"] in (7, 30)
    assert report["backtest"]["table"]
    assert "first_session_model" in report
    # A second model is compared with the champion on its own test window.
    second = retrain(db, data_dir=tmp_path, now=NOW + timedelta(hours=1), max_configs=1)
    comparison = second.report["registry"]
    assert comparison["status"] in (registry.CHAMPION, registry.CHALLENGER)
    assert comparison["reason"]
    champion = registry.champion(db)
    assert champion is not None
    # The pipeline writes model rows beside the rule rows when a champion exists.
    day = _last_day(db)
    run_pipeline(db, as_of=day, now=NOW)
    sources = dict(
        db.execute(
            select(ChurnPrediction.score_source, func.count())
            .where(ChurnPrediction.prediction_date == day)
            .group_by(ChurnPrediction.score_source)
        ).all()
    )
    assert sources["model"] == sources["rules"] > 0
    rows = db.scalars(
        select(ChurnPrediction).where(
            ChurnPrediction.prediction_date == day, ChurnPrediction.score_source == "model"
        )
    ).all()
    for row in rows:
        p = [
            row.window_1day_probability,
            row.window_7day_probability,
            row.window_30day_probability,
            row.window_90day_probability,
        ]
        assert p == sorted(p)
        assert row.churn_score == round(100 * (row.window_30day_probability or 0))
        assert row.model_version == champion.version
    assert all(set(r.contributing_factors) >= {"components", "top", "top_features"} for r in rows)
    # First-session risks of upcoming bookings, for the prep reminders.
    assert first.first_session_version is not None
    booked = db.execute(
        select(TutoringSession.session_id, TutoringSession.scheduled_start)
        .where(TutoringSession.status == "scheduled", TutoringSession.session_number == 1)
        .order_by(TutoringSession.scheduled_start)
    ).first()
    assert booked is not None
    moment = booked.scheduled_start - timedelta(hours=1)
    data = load_market_data(db, as_of=moment.date())
    frame = evaluate_day(data, as_of=moment.date()).frame
    upcoming = upcoming_first_sessions(
        db, data=data, metrics=frame, as_of=moment.date(), now=moment
    )
    assert booked.session_id in {u.session_id for u in upcoming}
    assert all(0 <= u.risk <= 1 for u in upcoming)
    risky = upcoming_first_session_risks(
        db, data=data, metrics=frame, as_of=moment.date(), now=moment
    )
    assert set(risky) <= {u.session_id for u in upcoming} and all(r > 0.5 for r in risky.values())
    # Promote and roll back.
    other = next(
        m for m in registry.list_models(db, kind=registry.CHURN_KIND) if m.id != champion.id
    )
    registry.promote(db, version=other.version, now=NOW + timedelta(hours=2))
    assert registry.champion(db).version == other.version  # type: ignore[union-attr]
    with pytest.raises(TutorpulseError):
        registry.promote(db, version=other.version, now=NOW)
    with pytest.raises(NotFoundError):
        registry.promote(db, version="nope", now=NOW)
    back = registry.rollback(db, now=NOW + timedelta(hours=3), version=champion.version)
    assert back.version == champion.version
    assert (
        db.scalar(
            select(func.count()).where(
                ModelVersion.status == registry.CHAMPION,
                ModelVersion.model_kind == registry.CHURN_KIND,
            )
        )
        == 1
    )


def test_overrides_need_reason_and_expiry_and_sit_beside_the_model(
    db: Session, sim_dir: Path
) -> None:
    run_import(db, sim_dir, source="synthetic")
    day = _last_day(db)
    run_pipeline(db, as_of=day, now=NOW)
    tutor_id = db.scalar(
        select(ChurnPrediction.tutor_id).where(ChurnPrediction.prediction_date == day)
    )
    assert tutor_id is not None
    now = NOW.replace(year=day.year, month=day.month, day=day.day)
    audited: list[dict[str, object]] = []

    def audit(db: Session, **kwargs: object) -> None:
        audited.append(kwargs)

    for bad in (
        {"risk_level": "Severe", "reason": "x"},
        {"risk_level": "High", "reason": "  "},
    ):
        with pytest.raises(TutorpulseError):
            create_override(
                db,
                tutor_id=tutor_id,
                expires_at=now + timedelta(days=7),
                actor="ops",
                now=now,
                audit=audit,
                **bad,
            )  # type: ignore[arg-type]
    with pytest.raises(TutorpulseError, match="future"):
        create_override(
            db,
            tutor_id=tutor_id,
            risk_level="High",
            reason="r",
            expires_at=now,
            actor="ops",
            now=now,
            audit=audit,
        )
    with pytest.raises(NotFoundError):
        create_override(
            db,
            tutor_id="ghost",
            risk_level="High",
            reason="r",
            expires_at=now + timedelta(days=1),
            actor="ops",
            now=now,
            audit=audit,
        )
    item = create_override(
        db,
        tutor_id=tutor_id,
        risk_level="Critical",
        reason="told us they are leaving",
        expires_at=now + timedelta(days=14),
        actor="ops@example.org",
        now=now,
        audit=audit,
    )
    assert audited and audited[0]["action"] == "prediction.override"
    assert item.model_score is not None and item.model_risk_level is not None
    view = tutor_predictions(db, tutor_id=tutor_id, now=now)
    assert view["override"]["risk_level"] == "Critical"
    assert view["predictions"]  # the model's (or rule's) figures stay
    assert active_override(db, tutor_id=tutor_id, now=now + timedelta(days=15)) is None
    report = monthly_override_report(db, month=day, churned={tutor_id: day + timedelta(days=3)})
    assert report["overrides"] == 1 and report["rows"][0]["churned_within_30d"]


def test_retraining_is_due_once_a_day_after_two() -> None:
    from datetime import UTC, datetime

    at = datetime(2025, 3, 2, 3, 0, tzinfo=UTC)
    assert retraining_due(now=at, last_trained=None)
    assert not retraining_due(now=at, last_trained=datetime(2025, 3, 2, 2, 5, tzinfo=UTC))
    assert retraining_due(now=at, last_trained=datetime(2025, 3, 1, 2, 5, tzinfo=UTC))
    assert not retraining_due(
        now=datetime(2025, 3, 2, 1, 0, tzinfo=UTC),
        last_trained=datetime(2025, 3, 1, 2, 5, tzinfo=UTC),
    )


def test_cli_train_predict_and_model_commands(tmp_path: Path, sim_dir: Path) -> None:
    data_dir = tmp_path / "data"
    assert run("db", "upgrade", data_dir=data_dir).returncode == 0
    assert_one_line_error(run("train", data_dir=data_dir), "no sessions in the database")
    assert_one_line_error(
        run(
            "predict", "--as-of", "2025-01-01", "--out", str(tmp_path / "p.csv"), data_dir=data_dir
        ),
        "no champion model",
    )
    assert_one_line_error(run("model", "promote", "v-unknown", data_dir=data_dir), "not found")
    assert_one_line_error(run("model", "rollback", data_dir=data_dir), "no earlier champion")
    assert run("predict", data_dir=data_dir).returncode == 2  # usage: --as-of and --out required
    assert run("import", str(sim_dir), data_dir=data_dir).returncode == 0
    report = tmp_path / "r.json"
    trained = run("train", "--report", str(report), "--max-configs", "1", data_dir=data_dir)
    assert trained.returncode == 0, trained.stderr
    assert report.is_file() and "champion" in trained.stderr
    listed = run("model", "list", data_dir=data_dir)
    assert listed.returncode == 0 and "champion" in listed.stdout
    out = tmp_path / "p.csv"
    day = (date(2025, 1, 6) + timedelta(days=DAYS - 5)).isoformat()
    predicted = run("predict", "--as-of", day, "--out", str(out), data_dir=data_dir)
    assert predicted.returncode == 0, predicted.stderr
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == ["tutor_id", "p1", "p7", "p30", "p90", "score", "risk_level"]
    for row in rows:
        p = [float(row[c]) for c in ("p1", "p7", "p30", "p90")]
        assert p == sorted(p) and int(row["score"]) == round(100 * p[2])
    assert_one_line_error(
        run("predict", "--as-of", "2020-01-01", "--out", str(out), data_dir=data_dir),
        "no data up to 2020-01-01",
    )


def test_a_lost_artifact_leaves_the_rule_score_standing(
    db: Session, sim_dir: Path, tmp_path: Path
) -> None:
    import shutil

    run_import(db, sim_dir, source="synthetic")
    outcome = retrain(db, data_dir=tmp_path, now=NOW, max_configs=1)
    shutil.rmtree(outcome.churn_version.artifact_path)
    day = _last_day(db)
    run_pipeline(db, as_of=day, now=NOW)
    sources = set(
        db.scalars(
            select(ChurnPrediction.score_source).where(ChurnPrediction.prediction_date == day)
        )
    )
    assert sources == {"rules"}
