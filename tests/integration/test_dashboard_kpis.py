"""Home KPIs and the churn trend on a hand-checked fixture, on both backends.

The stored figures are what the pipeline writes (30-day metric rows with their sample sizes
and churn state, rule and model predictions, resignation events); every expected value
below is worked out by hand in the comments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.dashboard import service
from tutorpulse.metrics.models import TutorPerformanceMetric
from tutorpulse.pipeline.service import run_pipeline
from tutorpulse.risk.models import ChurnPrediction

from ..conftest import SAMPLE_DIR
from .helpers import event, run_import, session, student, tutor, write_jsonl

DAY = date(2025, 3, 30)  # the latest full pipeline day
PREV = DAY - timedelta(days=30)  # the day a period earlier (a pipeline ran then too)
SAMPLE_DAY = date(2025, 1, 19)  # the last day of the sample marketplace
SAMPLE_NOW = datetime(2025, 1, 19, 23, 0, tzinfo=UTC)


def _metric(tutor_id: str, day: date, **figures: Any) -> TutorPerformanceMetric:
    churned_on = figures.pop("churned_on", None)
    return TutorPerformanceMetric(
        tutor_id=tutor_id,
        calculation_date=day,
        window_days=figures.pop("window", 30),
        sessions_completed=0,
        no_show_count=figures.pop("no_show", 0),
        sessions_due=figures.pop("due", 0),
        first_rated=figures.pop("first_rated", 0),
        first_successes=figures.pop("first_good", 0),
        churned_on=churned_on,
        churn_reason="inactivity" if churned_on else None,
        details={},
    )


def _prediction(tutor_id: str, day: date, source: str, level: str) -> ChurnPrediction:
    return ChurnPrediction(
        tutor_id=tutor_id,
        prediction_date=day,
        churn_score={"Low": 10, "Medium": 40, "High": 65, "Critical": 90}[level],
        risk_level=level,
        score_source=source,
        contributing_factors={},
    )


@pytest.fixture
def figures(db: Session, tmp_path: Path) -> Session:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor(f"t{i}") for i in range(1, 8)])
    write_jsonl(
        tmp_path / "tutor_events.jsonl",
        [
            # t6 resigned 10 days ago (this period), t7 45 days ago (the previous one).
            event(
                "r6",
                tutor_id="t6",
                event_type="resignation",
                event_timestamp="2025-03-20T09:00:00Z",
            ),
            event(
                "r7",
                tutor_id="t7",
                event_type="resignation",
                event_timestamp="2025-02-13T09:00:00Z",
            ),
        ],
    )
    run_import(db, tmp_path)
    db.add_all(
        [
            # Today: t1 and t2 active; t3 churned 5 days ago, t4 40 days ago, t5 70 days ago.
            _metric("t1", DAY, due=20, no_show=2, first_rated=4, first_good=3),
            _metric("t2", DAY, due=10),
            _metric("t3", DAY, first_rated=1, churned_on=DAY - timedelta(days=5)),
            _metric("t4", DAY, churned_on=DAY - timedelta(days=40)),
            _metric("t5", DAY, churned_on=DAY - timedelta(days=70)),
            # Other windows never count.
            _metric("t1", DAY, window=7, due=99, no_show=50, first_rated=9, first_good=0),
            # A period ago: t1, t2, t3 active; t4 had churned 10 days before.
            _metric("t1", PREV, due=18, no_show=1, first_rated=2, first_good=2),
            _metric("t2", PREV, due=10, no_show=1, first_rated=2, first_good=1),
            _metric("t3", PREV, due=12),
            _metric("t4", PREV, churned_on=PREV - timedelta(days=10)),
            # Today's predictions: the model's level wins over the rules' one.
            _prediction("t1", DAY, "rules", "High"),
            _prediction("t1", DAY, "model", "Low"),
            _prediction("t2", DAY, "rules", "Critical"),
            _prediction("t3", DAY, "rules", "Low"),
            _prediction("t3", DAY, "model", "Critical"),
            _prediction("t4", DAY, "rules", "Medium"),
            _prediction("t1", PREV, "rules", "Critical"),
            _prediction("t2", PREV, "rules", "Low"),
        ]
    )
    db.flush()
    return db


def test_each_kpi_and_its_change_vs_last_period(figures: Session) -> None:
    result = service.kpis(figures, as_of=DAY)
    assert result.as_of == DAY and result.period_days == 30
    kpis = {k.key: k for k in result.kpis}

    # Active: the day's 30-day rows without a churn date (t1, t2); a period ago t1, t2, t3.
    assert (kpis["active_tutors"].value, kpis["active_tutors"].previous) == (2, 3)
    assert kpis["active_tutors"].change == -1

    # At risk: active tutors whose preferred level is high or critical: t2 (rules Critical,
    # no model). t1's model says Low (it wins over the rules' High); t3's model says
    # Critical but t3 has churned (counted in the churn rate). A period ago: t1.
    assert (kpis["at_risk"].value, kpis["at_risk"].previous, kpis["at_risk"].change) == (1, 1, 0)

    # First-session success: rated first sessions with 4+ stars, pooled over the day's rows:
    # (3 + 0 + 0) / (4 + 0 + 1) = 0.6; a period ago (2 + 1) / (2 + 2) = 0.75.
    success = kpis["first_session_success"]
    assert success.value == pytest.approx(0.6)
    assert success.previous == pytest.approx(0.75)
    assert success.change == pytest.approx(-0.15)
    assert success.sample == 5

    # No-show rate: 2 / (20 + 10) today; (1 + 1) / (18 + 10 + 12) a period ago.
    no_show = kpis["no_show_rate"]
    assert no_show.value == pytest.approx(2 / 30)
    assert no_show.previous == pytest.approx(2 / 40)
    assert no_show.change == pytest.approx(2 / 30 - 2 / 40)
    assert no_show.sample == 30

    # Churn: this period t3 (inactivity, 5 days ago) and t6 (resigned 10 days ago) out of
    # the 2 active + 2 churned = 4 tutors: 0.5. The previous period: t4 (40 days ago) and
    # t7 (45 days ago) out of 4 + 2 = 6. t5 (70 days ago) is in neither period.
    churn = kpis["churn_rate"]
    assert churn.value == pytest.approx(0.5)
    assert churn.previous == pytest.approx(2 / 6)
    assert churn.change == pytest.approx(0.5 - 2 / 6)
    assert churn.sample == 4


def test_churn_trend_is_a_rolling_seven_day_sum(figures: Session) -> None:
    points = service.churn_trend(figures, as_of=DAY, days=30)
    assert [p.day for p in points] == [DAY - timedelta(days=29 - i) for i in range(30)]
    by_day = {p.day: p for p in points}
    # Churn events: t6 on DAY-10, t3 on DAY-5 (t4 and t7 are older than the chart).
    assert {p.day for p in points if p.count} == {DAY - timedelta(days=10), DAY - timedelta(days=5)}
    assert by_day[DAY - timedelta(days=11)].value == 0
    assert by_day[DAY - timedelta(days=10)].value == 1  # t6
    assert by_day[DAY - timedelta(days=5)].value == 2  # t6 and t3 within 7 days
    assert by_day[DAY - timedelta(days=4)].value == 2  # DAY-10 .. DAY-4: still both
    assert by_day[DAY - timedelta(days=3)].value == 1  # t6 left the window
    assert by_day[DAY].value == 1  # t3 (DAY-5 .. DAY-6 still inside)


def test_no_pipeline_day_means_no_kpis(db: Session) -> None:
    assert service.kpis(db).kpis == []
    assert service.churn_trend(db) == []


def test_pipeline_writes_the_kpi_columns_beside_its_details(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    run_pipeline(db, as_of=SAMPLE_DAY, now=SAMPLE_NOW)
    rows = list(
        db.scalars(
            select(TutorPerformanceMetric).where(
                TutorPerformanceMetric.calculation_date == SAMPLE_DAY
            )
        )
    )
    assert {row.window_days for row in rows} == {7, 30, 90}
    for row in rows:
        sample = row.details["sample"]
        assert (row.sessions_due, row.first_rated) == (sample["due"], sample["first_rated"])
        rate = row.details["raw"]["first_session_success_rate"]
        expected = round(rate * sample["first_rated"]) if rate is not None else 0
        assert row.first_successes == expected, row.tutor_id


# ------------------------------------------------------------------ churn by the pipeline
CHURN_DAY = date(2025, 3, 30)  # a Sunday


def _weekly_sessions(tutor_id: str, first_monday: date, weeks: int, per_week: int) -> list[Any]:
    """``per_week`` held sessions a week (weekdays, two a day at most) from ``first_monday``."""
    records = []
    for week in range(weeks):
        for n in range(per_week):
            day = first_monday + timedelta(days=7 * week + n // 2)
            hour = 14 + n % 2
            stamp = f"{day.isoformat()}T{hour}:00:00Z"
            records.append(
                session(
                    f"{tutor_id}-{day.isoformat()}-{hour}",
                    tutor_id=tutor_id,
                    session_number=2,
                    scheduled_start=stamp,
                    actual_start=stamp,
                )
            )
    return records


def test_pipeline_stores_reduced_activity_and_inactivity_churn(db: Session, tmp_path: Path) -> None:
    onboarded = date(2025, 1, 6)  # a Monday
    tutors = [
        tutor(tid, onboarding_date=onboarded.isoformat(), baseline_sessions_per_week=10)
        for tid in ("t1", "t2", "t3")
    ]
    sessions = [
        # t1: baseline for 9 weeks, then 2 a week (under half of 10) for the 3 full weeks
        # Mon 10 Mar .. Sun 30 Mar: reduced activity on the Sunday ending the 3rd week.
        *_weekly_sessions("t1", onboarded, 9, 10),
        *_weekly_sessions("t1", date(2025, 3, 10), 3, 2),
        # t2: at baseline throughout: active.
        *_weekly_sessions("t2", onboarded, 12, 10),
        # t3: baseline, then a last held session on Mon 10 Mar: inactive on its 15th day
        # after, 25 Mar (before its reduced-activity Sunday, 30 Mar).
        *_weekly_sessions("t3", onboarded, 9, 10),
        *_weekly_sessions("t3", date(2025, 3, 10), 1, 1),
    ]
    write_jsonl(tmp_path / "tutors.jsonl", tutors)
    write_jsonl(tmp_path / "students.jsonl", [student("s1")])
    write_jsonl(tmp_path / "sessions.jsonl", sessions)
    report = run_import(db, tmp_path)
    assert report.counts["sessions"].accepted == len(sessions)
    run_pipeline(db, as_of=CHURN_DAY, now=datetime(2025, 3, 30, 23, 0, tzinfo=UTC))
    rows = db.execute(
        select(
            TutorPerformanceMetric.tutor_id,
            TutorPerformanceMetric.churned_on,
            TutorPerformanceMetric.churn_reason,
        ).where(
            TutorPerformanceMetric.calculation_date == CHURN_DAY,
            TutorPerformanceMetric.window_days == 30,
        )
    ).all()
    assert {tid: (day, reason) for tid, day, reason in rows} == {
        "t1": (CHURN_DAY, "reduced_activity"),
        "t2": (None, None),
        "t3": (date(2025, 3, 25), "inactivity"),
    }
    kpis = {k.key: k for k in service.kpis(db, as_of=CHURN_DAY).kpis}
    assert kpis["active_tutors"].value == 1
    # t1 and t3 churned this period, out of the 1 active + 2 churned tutors.
    assert kpis["churn_rate"].value == pytest.approx(2 / 3)
    assert kpis["churn_rate"].sample == 3
    trend = {p.day: p.count for p in service.churn_trend(db, as_of=CHURN_DAY)}
    assert {day for day, count in trend.items() if count} == {CHURN_DAY, date(2025, 3, 25)}
