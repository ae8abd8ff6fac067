"""The pipeline through the real database: idempotent, incremental, same on both backends."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from tutorpulse.events.models import DirtyTutor
from tutorpulse.metrics.models import TierChange, TutorFlag, TutorPerformanceMetric
from tutorpulse.pipeline.service import process_dirty, run_pipeline
from tutorpulse.risk.models import ChurnPrediction

from ..conftest import NOW, SAMPLE_DIR
from .helpers import run_import, session, write_jsonl

AS_OF = date(2025, 1, 19)  # the sample's last day


def _snapshot(db: Session) -> dict[str, Any]:
    metrics = db.execute(
        select(
            TutorPerformanceMetric.tutor_id,
            TutorPerformanceMetric.window_days,
            TutorPerformanceMetric.sessions_completed,
            TutorPerformanceMetric.avg_rating,
            TutorPerformanceMetric.no_show_rate,
            TutorPerformanceMetric.engagement_score,
            TutorPerformanceMetric.performance_tier,
        ).order_by(TutorPerformanceMetric.tutor_id, TutorPerformanceMetric.window_days)
    ).all()
    scores = db.execute(
        select(
            ChurnPrediction.tutor_id, ChurnPrediction.churn_score, ChurnPrediction.risk_level
        ).order_by(ChurnPrediction.tutor_id)
    ).all()
    flags = db.execute(
        select(
            TutorFlag.tutor_id, TutorFlag.flag_type, TutorFlag.raised_on, TutorFlag.cleared_on
        ).order_by(TutorFlag.tutor_id, TutorFlag.flag_type)
    ).all()
    tiers = db.execute(
        select(TierChange.tutor_id, TierChange.to_tier).order_by(TierChange.tutor_id)
    ).all()
    return {
        "metrics": [tuple(_round(v) for v in row) for row in metrics],
        "scores": [tuple(row) for row in scores],
        "flags": [tuple(row) for row in flags],
        "tiers": [tuple(row) for row in tiers],
    }


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def test_pipeline_is_idempotent(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    result = run_pipeline(db, as_of=AS_OF, now=NOW)
    assert result.tutors == 8 and result.metric_rows == 24
    first = _snapshot(db)
    assert len(first["scores"]) == 8
    run_pipeline(db, as_of=AS_OF, now=NOW)
    assert _snapshot(db) == first


def test_flags_clear_when_the_condition_goes(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    run_pipeline(db, as_of=AS_OF, now=NOW)
    opened = db.scalar(select(func.count()).where(TutorFlag.cleared_on.is_(None)))
    # Half a year later the sample's tutors have gone quiet: no longer active, flags close.
    later = date(2025, 7, 1)
    result = run_pipeline(db, as_of=later, now=NOW)
    assert result.tutors == 0 and result.flags["cleared"] == opened
    assert db.scalar(select(func.count()).where(TutorFlag.cleared_on.is_(None))) == 0
    cleared = db.scalars(select(TutorFlag).where(TutorFlag.cleared_on == later)).all()
    assert len(cleared) == opened and all(flag.raised_on == AS_OF for flag in cleared)


def test_dirty_tutors_are_recomputed_and_unmarked(db: Session, tmp_path: Any) -> None:
    run_import(db, SAMPLE_DIR)
    run_pipeline(db, as_of=AS_OF, now=NOW)
    db.execute(DirtyTutor.__table__.delete())
    before = db.scalar(
        select(TutorPerformanceMetric.no_show_count).where(
            TutorPerformanceMetric.tutor_id == "tutor_001",
            TutorPerformanceMetric.window_days == 7,
        )
    )
    write_jsonl(
        tmp_path / "sessions.jsonl",
        [
            session(
                "late_no_show",
                tutor_id="tutor_001",
                student_id="student_001",
                session_number=9,
                scheduled_start="2025-01-19T10:00:00Z",
                actual_start=None,
                no_show=True,
                student_rating=None,
                engagement_score=None,
                late_start_minutes=0,
            )
        ],
    )
    run_import(db, tmp_path, source="synthetic")
    assert db.scalars(select(DirtyTutor.tutor_id)).all() == ["tutor_001"]
    assert process_dirty(db, as_of=AS_OF, now=NOW) == 1
    after = db.scalar(
        select(TutorPerformanceMetric.no_show_count).where(
            TutorPerformanceMetric.tutor_id == "tutor_001",
            TutorPerformanceMetric.window_days == 7,
        )
    )
    assert after == (before or 0) + 1
    assert db.scalar(select(func.count()).select_from(DirtyTutor)) == 0
    assert process_dirty(db, as_of=AS_OF, now=NOW) == 0


@pytest.mark.postgres
def test_sqlite_and_postgresql_agree(sqlite_engine: Engine, postgres_engine: Engine) -> None:
    snapshots = []
    for engine in (sqlite_engine, postgres_engine):
        connection = engine.connect()
        outer = connection.begin()
        db = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            run_import(db, SAMPLE_DIR)
            run_pipeline(db, as_of=AS_OF, now=NOW)
            snapshots.append(_snapshot(db))
        finally:
            db.close()
            outer.rollback()
            connection.close()
    assert snapshots[0] == snapshots[1]


def test_flag_evidence_satisfaction_and_training_figures(db: Session, tmp_path: Any) -> None:
    from datetime import UTC, datetime

    from tutorpulse.interventions.models import Intervention

    from .helpers import event, student, tutor

    write_jsonl(tmp_path / "tutors.jsonl", [tutor("t1")])
    write_jsonl(tmp_path / "students.jsonl", [student("s1"), student("s2"), student("s3")])
    write_jsonl(
        tmp_path / "sessions.jsonl",
        [
            session(
                "p1",
                student_id="s1",
                student_rating=2.0,
                scheduled_start="2025-01-15T16:00:00Z",
                actual_start="2025-01-15T16:00:00Z",
            ),
            session(
                "p2",
                student_id="s2",
                student_rating=2.5,
                scheduled_start="2025-01-16T16:00:00Z",
                actual_start="2025-01-16T16:00:00Z",
            ),
            session(
                "ok",
                student_id="s3",
                student_rating=5.0,
                session_type="group",
                scheduled_start="2025-01-17T16:00:00Z",
                actual_start="2025-01-17T16:00:00Z",
            ),
        ],
    )
    write_jsonl(
        tmp_path / "tutor_events.jsonl",
        [
            event(
                "tr1",
                event_type="training_completed",
                event_timestamp="2025-01-12T10:00:00Z",
                metadata={"module_id": "m-1"},
            )
        ],
    )
    run_import(db, tmp_path)
    for module, day in (("m-1", 10), ("m-2", 11)):
        db.add(
            Intervention(
                tutor_id="t1",
                intervention_type="A2",
                mode="automated",
                trigger_reason="gap",
                evidence={"module_id": module},
                status="sent",
                recommended_date=datetime(2025, 1, day, 9, tzinfo=UTC),
            )
        )
    db.flush()
    run_pipeline(db, as_of=AS_OF, now=NOW)
    flag = db.scalar(
        select(TutorFlag).where(
            TutorFlag.tutor_id == "t1", TutorFlag.flag_type == "poor_first_session"
        )
    )
    assert flag is not None and flag.evidence["session_ids"] == ["p2", "p1"]
    overall = db.scalar(
        select(TutorPerformanceMetric.details).where(
            TutorPerformanceMetric.tutor_id == "t1", TutorPerformanceMetric.window_days == 30
        )
    )["overall"]
    assert overall["by_session_type"]["group"] == {"avg_rating": 5.0, "n": 1}
    assert overall["by_subject"]["Mathematics"]["n"] == 3
    assert overall["training_assigned"] == 2 and overall["training_completion_rate"] == 0.5


# Bookkeeping of the row itself, not computed figures: new on every write.
ROW_BOOKKEEPING = {"metric_id", "prediction_id", "id", "created_at", "updated_at"}
# Population-relative figures: a partial run keeps the last full run's tier, and its reason
# says so; the percentile is only meaningful over the whole population.
POPULATION_FIGURES = {"composite_percentile", "tier_reason"}


def _stored_rows(db: Session, tutor_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored column of one tutor's metrics, flags and rule scores (as of AS_OF)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, model, order in (
        ("metrics", TutorPerformanceMetric, TutorPerformanceMetric.window_days),
        ("flags", TutorFlag, TutorFlag.flag_type),
        ("scores", ChurnPrediction, ChurnPrediction.score_source),
    ):
        rows = db.execute(
            select(model.__table__).where(model.tutor_id == tutor_id).order_by(order)
        ).mappings()
        found[name] = [
            {key: value for key, value in row.items() if key not in ROW_BOOKKEEPING} for row in rows
        ]
    for row in found["metrics"]:
        overall = row["details"]["overall"]
        row["population"] = {key: overall.pop(key) for key in POPULATION_FIGURES}
    return found


def test_an_incremental_run_stores_what_the_full_run_stores(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    run_pipeline(db, as_of=AS_OF, now=NOW)
    tutor_ids = db.scalars(
        select(TutorPerformanceMetric.tutor_id).distinct().order_by(TutorPerformanceMetric.tutor_id)
    ).all()
    assert len(tutor_ids) == 8
    full = {tutor_id: _stored_rows(db, tutor_id) for tutor_id in tutor_ids}
    assert any(rows["flags"] for rows in full.values())  # the comparison covers flags too
    for tutor_id in tutor_ids:
        result = run_pipeline(db, as_of=AS_OF, now=NOW, tutor_ids=[tutor_id])
        assert result.tutors == 1 and result.metric_rows == 3
        incremental = _stored_rows(db, tutor_id)
        for row in incremental["metrics"]:
            assert row.pop("population")["tier_reason"] == "tier from the last full run"
        for row in full[tutor_id]["metrics"]:
            row.pop("population")
        assert incremental == full[tutor_id], tutor_id
        assert len(incremental["metrics"]) == 3 and len(incremental["scores"]) == 1


@pytest.mark.postgres
def test_a_full_run_refreshes_the_planner_statistics_of_the_new_day(
    postgres_engine: Engine,
) -> None:
    # Without it the planner believes the new day holds a handful of rows until autovacuum
    # analyzes the table, and the dashboard's per-day joins pick per-tutor re-scans.
    connection = postgres_engine.connect()
    outer = connection.begin()
    db = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        run_import(db, SAMPLE_DIR)
        run_pipeline(db, as_of=AS_OF, now=NOW)
        known = db.execute(
            text(
                "SELECT coalesce(most_common_vals::text, '')"
                " || coalesce(histogram_bounds::text, '')"
                " FROM pg_stats WHERE schemaname = current_schema()"
                " AND tablename = :table AND attname = :column"
            ),
            {"table": "tutor_performance_metrics", "column": "calculation_date"},
        ).scalar_one()
        assert AS_OF.isoformat() in known
        # An incremental run (a few tutors) leaves the statistics to the full runs.
        assert run_pipeline(db, as_of=AS_OF, now=NOW, tutor_ids=["t-none"]).tutors == 0
    finally:
        db.close()
        outer.rollback()
        connection.close()
