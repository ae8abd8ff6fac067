"""The intervention engine against the database, with a simulated clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.auth.models import User
from tutorpulse.errors import TutorpulseError
from tutorpulse.events.models import OutboxMessage
from tutorpulse.interventions import service
from tutorpulse.interventions.engine import run_engine
from tutorpulse.interventions.models import Alert, Intervention, Notification
from tutorpulse.metrics.models import TutorFlag, TutorPerformanceMetric
from tutorpulse.risk.models import ChurnPrediction
from tutorpulse.risk.rules import risk_level

from .helpers import run_import, tutor, write_jsonl

START = date(2025, 3, 1)
SEED = "test-seed"


def at(day: date, hour: int = 6) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def market(db: Session, tmp_path: Any) -> Session:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor(f"t{i}") for i in range(1, 6)])
    run_import(db, tmp_path)
    for i, role in enumerate(["ops_manager", "ops_manager", "people_ops", "admin"], start=1):
        db.add(User(email=f"staff{i}@example.org", role=role, is_active=True))
    db.flush()
    return db


def set_day(db: Session, day: date, scores: dict[str, int], **extra: Any) -> None:
    """What the pipeline would have stored for ``day``: metric rows and rule scores."""
    for tutor_id, score in scores.items():
        overall = {"tenure_days": 300, "sessions_trend": 0.0} | extra.get(tutor_id, {})
        db.add(
            TutorPerformanceMetric(
                tutor_id=tutor_id,
                calculation_date=day,
                window_days=30,
                performance_tier=extra.get("tiers", {}).get(tutor_id, "Strong"),
                details={"overall": overall},
            )
        )
        db.add(
            ChurnPrediction(
                tutor_id=tutor_id,
                prediction_date=day,
                churn_score=score,
                risk_level=risk_level(score),
                score_source="rules",
                contributing_factors={},
            )
        )
    db.flush()


def run_days(db: Session, first: date, days: int, scores: dict[str, int]) -> None:
    for offset in range(days):
        day = first + timedelta(days=offset)
        set_day(db, day, scores)
        run_engine(db, as_of=day, now=at(day), seed=SEED)


def of_type(db: Session, code: str, tutor_id: str = "t1") -> list[Intervention]:
    return list(
        db.scalars(
            select(Intervention)
            .where(
                Intervention.intervention_type == code,
                Intervention.tutor_id == tutor_id,
                Intervention.parent_id.is_(None),
            )
            .order_by(Intervention.intervention_id)
        )
    )


def test_coaching_task_after_seven_days_assigned_with_sla(market: Session) -> None:
    db = market
    run_days(db, START, 6, {"t1": 60})
    assert of_type(db, "H1") == []
    run_days(db, START + timedelta(days=6), 1, {"t1": 60})
    (task,) = of_type(db, "H1")
    assert task.status in ("pending", "holdout")
    if task.status == "pending":
        assert task.due_date == at(START + timedelta(days=6)) + timedelta(hours=48)
        assignee = db.get(User, task.assigned_to)
        assert assignee is not None and assignee.role == "ops_manager"
        notice = db.scalar(
            select(Notification).where(Notification.intervention_id == task.intervention_id)
        )
        assert notice is not None and "t1" in notice.subject


def test_rerunning_a_day_creates_no_duplicates(market: Session) -> None:
    db = market
    run_days(db, START, 7, {"t1": 60, "t2": 80})
    before = db.scalar(select(func.count()).select_from(Intervention))
    day = START + timedelta(days=6)
    run_engine(db, as_of=day, now=at(day, 12), seed=SEED)
    run_engine(db, as_of=day, now=at(day, 18), seed=SEED)
    assert db.scalar(select(func.count()).select_from(Intervention)) == before
    alerts = db.scalars(select(Alert).where(Alert.tutor_id == "t2")).all()
    assert [a.rule for a in alerts] == ["critical_risk"]


def test_task_closed_when_trigger_clears_before_anyone_acts(market: Session) -> None:
    db = market
    run_days(db, START, 7, {"t1": 60})
    (task,) = of_type(db, "H1")
    run_days(db, START + timedelta(days=7), 1, {"t1": 20})
    db.refresh(task)
    assert task.status == "cancelled" and task.closed_reason == "no_longer_needed"
    alert = db.scalar(select(Alert).where(Alert.tutor_id == "t1"))
    assert alert is not None and alert.resolved_at is not None


def test_acted_task_survives_and_cooldown_blocks_a_new_one(market: Session) -> None:
    db = market
    run_days(db, START, 7, {"t1": 60, "t3": 60, "t4": 60, "t5": 60})
    pending = [
        t
        for code in ("H1",)
        for tid in ("t1", "t3", "t4", "t5")
        for t in of_type(db, code, tid)
        if t.status == "pending"
    ]
    task = pending[0]
    now = at(START + timedelta(days=6), 9)
    service.start(db, intervention_id=task.intervention_id, actor=None, now=now)
    service.record_outcome(
        db,
        intervention_id=task.intervention_id,
        outcome="improved",
        notes="call went well",
        actor=None,
        now=now + timedelta(hours=1),
    )
    assert task.acted_at == now and task.status == "completed"
    # Still above 50 the next days: the 14-day cool-down prevents a second coaching task.
    run_days(db, START + timedelta(days=7), 5, {task.tutor_id: 60})
    assert len(of_type(db, "H1", task.tutor_id)) == 1


def test_weekly_cap_on_coaching_tips(market: Session) -> None:
    db = market
    for offset in range(10):
        day = START + timedelta(days=offset)
        set_day(db, day, {"t1": 40})
        if offset == 0:
            db.add(
                TutorFlag(
                    tutor_id="t1",
                    flag_type="low_rating",
                    category="threshold",
                    raised_on=day,
                    last_seen_on=day,
                    evidence={},
                )
            )
            db.flush()
        run_engine(db, as_of=day, now=at(day), seed=SEED)
    tips = of_type(db, "A1")
    assert [t.recommended_date.date() for t in tips] == [START, START + timedelta(days=7)]
    sent = [t for t in tips if t.status == "sent"]
    for tip in sent:
        message = db.scalar(
            select(Notification).where(Notification.intervention_id == tip.intervention_id)
        )
        assert message is not None and "risk" not in message.body.lower()


def test_rescheduling_escalates_to_review_after_fourteen_days(market: Session) -> None:
    db = market
    db.add(
        TutorFlag(
            tutor_id="t1",
            flag_type="high_rescheduling",
            category="pattern",
            raised_on=START,
            last_seen_on=START,
            evidence={},
        )
    )
    run_days(db, START, 14, {"t1": 55})
    assert of_type(db, "A4R") == []
    run_days(db, START + timedelta(days=14), 1, {"t1": 55})
    assert len(of_type(db, "A4R")) == 1


def test_sla_breach_escalates_once(market: Session) -> None:
    db = market
    run_days(db, START, 7, {"t1": 60, "t3": 60, "t4": 60, "t5": 60})
    open_tasks = db.scalars(select(Intervention).where(Intervention.status == "pending")).all()
    assert open_tasks
    late = at(START + timedelta(days=6)) + timedelta(hours=49)
    assert service.check_slas(db, now=late) == len(open_tasks)
    assert service.check_slas(db, now=late + timedelta(hours=1)) == 0
    breaches = db.scalars(select(Alert).where(Alert.rule == "sla_breach")).all()
    assert len(breaches) == len(open_tasks)
    escalations = db.scalars(
        select(Notification).where(Notification.subject.like("Overdue:%"))
    ).all()
    assert {n.recipient_role for n in escalations} == {"admin"}


def test_pip_has_weekly_checkins(market: Session) -> None:
    db = market
    run_days(db, START, 7, {"t1": 90, "t2": 90, "t3": 90, "t4": 90, "t5": 90})
    plans = db.scalars(
        select(Intervention).where(
            Intervention.intervention_type == "H3",
            Intervention.status == "pending",
            Intervention.parent_id.is_(None),
        )
    ).all()
    assert plans
    checkins = db.scalars(
        select(Intervention).where(Intervention.parent_id == plans[0].intervention_id)
    ).all()
    assert len(checkins) == 4
    assert plans[0].due_date is not None
    assert plans[0].due_date - plans[0].recommended_date == timedelta(hours=24)  # critical


def test_alert_lifecycle_and_dismiss_counts(market: Session) -> None:
    db = market
    run_days(db, START, 1, {"t1": 80, "t2": 60})
    alerts = {a.tutor_id: a for a in db.scalars(select(Alert))}
    now = at(START, 9)
    service.acknowledge_alert(db, alert_id=alerts["t1"].id, actor=None, now=now)
    service.snooze_alert(
        db, alert_id=alerts["t2"].id, until=now + timedelta(days=2), actor=None, now=now
    )
    with pytest.raises(TutorpulseError):
        service.dismiss_alert(db, alert_id=alerts["t1"].id, reason="meh", actor=None, now=now)
    service.dismiss_alert(db, alert_id=alerts["t1"].id, reason="wrong", actor=None, now=now)
    assert service.dismiss_reasons_by_rule(db) == {"critical_risk": {"wrong": 1}}
    # Every action tells the dashboards itself (one action function, its event).
    moved = db.execute(
        select(OutboxMessage.topic, OutboxMessage.payload)
        .where(OutboxMessage.topic.startswith("alert."))
        .order_by(OutboxMessage.id)
    ).all()
    assert [(topic, payload["id"]) for topic, payload in moved] == [
        ("alert.acknowledged", alerts["t1"].id),
        ("alert.snoozed", alerts["t2"].id),
        ("alert.dismissed", alerts["t1"].id),
    ]
    # The snooze ends: the alert is open again while the risk lasts.
    run_days(db, START + timedelta(days=3), 1, {"t1": 80, "t2": 60})
    db.refresh(alerts["t2"])
    assert alerts["t2"].status == "open"
    db.refresh(alerts["t1"])
    assert alerts["t1"].status == "dismissed"  # a dismissed alert is not raised again


def test_workflow_rejects_bad_transitions(market: Session) -> None:
    db = market
    run_days(db, START, 7, {"t1": 60, "t3": 60, "t4": 60, "t5": 60})
    task = db.scalars(select(Intervention).where(Intervention.status == "pending")).first()
    assert task is not None
    now = at(START + timedelta(days=7))
    tutor_user = User(email="tutor@example.org", role="tutor", tutor_id="t1", is_active=True)
    db.add(tutor_user)
    db.flush()
    with pytest.raises(TutorpulseError, match="not an active staff member"):
        service.assign(
            db,
            intervention_id=task.intervention_id,
            assignee_id=tutor_user.id,
            actor=None,
            now=now,
        )
    with pytest.raises(TutorpulseError, match="outcome must be one of"):
        service.record_outcome(
            db,
            intervention_id=task.intervention_id,
            outcome="great",
            notes=None,
            actor=None,
            now=now,
        )
    with pytest.raises(TutorpulseError, match="not found"):
        service.start(db, intervention_id=999_999, actor=None, now=now)
    service.cancel(
        db, intervention_id=task.intervention_id, reason="duplicate", actor=None, now=now
    )
    with pytest.raises(TutorpulseError, match="cannot cancel"):
        service.cancel(
            db, intervention_id=task.intervention_id, reason="again", actor=None, now=now
        )


def test_effectiveness_report_counts_rates_and_uplift(market: Session) -> None:
    from tutorpulse.interventions.effectiveness import effectiveness_report

    db = market
    decided = at(START)
    rows = []
    for i, (holdout, acted_hours, later_score) in enumerate(
        [(False, 2, 40), (False, 30, 70), (False, None, 50), (True, None, 65), (True, None, 60)]
    ):
        tutor_id = f"t{i + 1}"
        item = Intervention(
            tutor_id=tutor_id,
            intervention_type="H1",
            mode="human",
            trigger_reason="score",
            evidence={},
            recommended_date=decided,
            risk_level="Critical",
            churn_score=60,
            holdout=holdout,
            status="holdout" if holdout else "pending",
        )
        if acted_hours is not None:
            item.acted_at = decided + timedelta(hours=acted_hours)
            item.status, item.completed_date = "completed", item.acted_at
        rows.append(item)
        set_day(db, START + timedelta(days=14), {tutor_id: later_score})
    db.add_all(rows)
    db.flush()
    report = {
        (r["type"], r["risk_level"]): r
        for r in effectiveness_report(db, as_of=START + timedelta(days=20))
    }
    row = report[("H1", "Critical")]
    assert (row["treated"], row["holdout"]) == (3, 2)
    assert row["acceptance_rate"] == pytest.approx(2 / 3)
    assert row["completion_rate"] == pytest.approx(2 / 3)
    assert row["impact_rate"] == pytest.approx(2 / 3)  # 40 and 50 fell below 60
    assert row["critical_time_to_action_hours_median"] == pytest.approx(16)
    assert row["uplift"]["control_rate"] == 0.0 and row["uplift"]["treated_n"] == 3
    assert report[("H1", "all")]["decisions"] == 5


def test_holdout_is_drawn_once_per_tutor_and_rule(market: Session) -> None:
    """A holdout tutor stays in the holdout on every later decision of the same rule (else the
    control group would carry the treatment), and a share override applies to every rule."""
    db = market
    tutors = [f"t{i}" for i in range(1, 6)]
    for offset in range(21):
        day = START + timedelta(days=offset)
        set_day(db, day, dict.fromkeys(tutors, 40))
        if offset == 0:
            for tutor_id in tutors:
                db.add(
                    TutorFlag(
                        tutor_id=tutor_id,
                        flag_type="low_rating",
                        category="threshold",
                        raised_on=day,
                        last_seen_on=day,
                        evidence={},
                    )
                )
            db.flush()
        run_engine(db, as_of=day, now=at(day), seed=SEED, holdout_share=0.5)
    arms = {}
    for tutor_id in tutors:
        tips = of_type(db, "A1", tutor_id)
        arms[tutor_id] = tips[0].holdout
        if tips[0].holdout:
            # The open holdout decision is refreshed by each re-trigger, never replaced.
            (tip,) = tips
            assert tip.status == "holdout" and tip.last_triggered_at == at(START + timedelta(20))
        else:
            # Weekly tips for three weeks, every one sent: never drawn into the holdout later.
            assert [t.status for t in tips] == ["sent", "sent", "sent"]
    assert set(arms.values()) == {True, False}
