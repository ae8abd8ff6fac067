"""Read helpers shared by the dashboard services: the current day, preferred predictions,
pseudonyms, intervention rows. Read-only; keyword-only; never commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.auth.models import User
from tutorpulse.dashboard.schemas import InterventionRow
from tutorpulse.interventions.models import Intervention
from tutorpulse.interventions.rules import RULES_BY_CODE
from tutorpulse.marketplace.models import StudentFeedback, TutorEvent
from tutorpulse.metrics.data import day_end, day_start
from tutorpulse.metrics.models import TutorPerformanceMetric
from tutorpulse.metrics.service import chunked
from tutorpulse.risk.models import ChurnPrediction

MODEL_SOURCE = "model"
RULES_SOURCE = "rules"
OPEN_TASK_STATUSES = ("pending", "in_progress")
# Which human task an alert recommends first: the heaviest that applies.
TASK_PRIORITY = ("H3", "H1", "H4", "A4R", "H2", "H5")

Pseudonymizer = Callable[[str], str]


FULL_RUN_SHARE = 0.5
RECENT_DAYS = 8


def latest_metric_day(db: Session, *, on_or_before: date | None = None) -> date | None:
    """The latest day of a full pipeline run (as of ``on_or_before``).

    Incremental runs (dirty tutors, a feedback answer) write a day's rows for a few tutors
    only; such a day is not a snapshot of the marketplace, so lists and KPIs stay on the last
    day that holds at least half as many tutors as the fullest recent day. A tutor's own
    profile reads that tutor's newest rows (``tutor_metric_day``).
    """
    query = select(func.max(TutorPerformanceMetric.calculation_date)).where(
        TutorPerformanceMetric.window_days == 30
    )
    if on_or_before is not None:
        query = query.where(TutorPerformanceMetric.calculation_date <= on_or_before)
    latest: date | None = db.scalar(query)
    if latest is None:
        return None
    counts = db.execute(
        select(TutorPerformanceMetric.calculation_date, func.count())
        .where(
            TutorPerformanceMetric.window_days == 30,
            TutorPerformanceMetric.calculation_date > latest - timedelta(days=RECENT_DAYS),
            TutorPerformanceMetric.calculation_date <= latest,
        )
        .group_by(TutorPerformanceMetric.calculation_date)
    ).all()
    fullest = max(int(n) for _, n in counts)
    full = [day for day, n in counts if int(n) >= FULL_RUN_SHARE * fullest]
    return max(full)


def tutor_metric_day(db: Session, *, tutor_id: str) -> date | None:
    day: date | None = db.scalar(
        select(func.max(TutorPerformanceMetric.calculation_date)).where(
            TutorPerformanceMetric.tutor_id == tutor_id, TutorPerformanceMetric.window_days == 30
        )
    )
    return day


def latest_prediction_day(db: Session, *, on_or_before: date | None = None) -> date | None:
    query = select(func.max(ChurnPrediction.prediction_date))
    if on_or_before is not None:
        query = query.where(ChurnPrediction.prediction_date <= on_or_before)
    day: date | None = db.scalar(query)
    return day


@dataclass(frozen=True)
class Prediction:
    tutor_id: str
    prediction_date: date
    churn_score: int
    risk_level: str
    score_source: str
    probabilities: dict[str, float | None] | None
    contributing_factors: dict[str, Any]
    model_version: str | None
    rules_score: int | None


def _probabilities(row: ChurnPrediction) -> dict[str, float | None] | None:
    values = {
        "1d": row.window_1day_probability,
        "7d": row.window_7day_probability,
        "30d": row.window_30day_probability,
        "90d": row.window_90day_probability,
    }
    if all(value is None for value in values.values()):
        return None
    return values


def preferred_predictions(
    db: Session, *, day: date, tutor_ids: Iterable[str] | None = None
) -> dict[str, Prediction]:
    """Per tutor on ``day``: the model's prediction when there is one, else the rule score."""
    query = select(ChurnPrediction).where(ChurnPrediction.prediction_date == day)
    rows: list[ChurnPrediction] = []
    if tutor_ids is None:
        rows = list(db.scalars(query))
    else:
        for part in chunked(sorted(set(tutor_ids))):
            rows.extend(db.scalars(query.where(ChurnPrediction.tutor_id.in_(part))))
    by_tutor: dict[str, dict[str, ChurnPrediction]] = {}
    for row in rows:
        by_tutor.setdefault(row.tutor_id, {})[row.score_source] = row
    result: dict[str, Prediction] = {}
    for tutor_id, sources in by_tutor.items():
        chosen = sources.get(MODEL_SOURCE) or sources.get(RULES_SOURCE)
        if chosen is None:
            chosen = next(iter(sources.values()))
        rules = sources.get(RULES_SOURCE)
        result[tutor_id] = Prediction(
            tutor_id=tutor_id,
            prediction_date=chosen.prediction_date,
            churn_score=chosen.churn_score,
            risk_level=chosen.risk_level,
            score_source=chosen.score_source,
            probabilities=_probabilities(chosen),
            contributing_factors=chosen.contributing_factors or {},
            model_version=chosen.model_version,
            rules_score=rules.churn_score if rules is not None else None,
        )
    return result


def newest_predictions(
    db: Session, *, tutor_ids: Iterable[str], since: date | None = None
) -> dict[str, Prediction]:
    """Per tutor: the preferred prediction of the tutor's newest prediction day."""
    wanted = sorted(set(tutor_ids))
    newest: dict[str, date] = {}
    for part in chunked(wanted):
        query = (
            select(ChurnPrediction.tutor_id, func.max(ChurnPrediction.prediction_date))
            .where(ChurnPrediction.tutor_id.in_(part))
            .group_by(ChurnPrediction.tutor_id)
        )
        if since is not None:
            query = query.where(ChurnPrediction.prediction_date >= since)
        newest.update({tid: day for tid, day in db.execute(query)})
    by_day: dict[date, list[str]] = {}
    for tutor_id, day in newest.items():
        by_day.setdefault(day, []).append(tutor_id)
    result: dict[str, Prediction] = {}
    for day, ids in by_day.items():
        result.update(preferred_predictions(db, day=day, tutor_ids=ids))
    return result


def resignation_days(db: Session, *, first: date, last: date) -> dict[str, date]:
    """Tutor id -> day (UTC) of their first resignation event within [first, last]."""
    found: dict[str, date] = {}
    for tutor_id, moment in db.execute(
        select(TutorEvent.tutor_id, func.min(TutorEvent.event_timestamp))
        .where(
            TutorEvent.event_type == "resignation",
            TutorEvent.event_timestamp >= day_start(first),
            TutorEvent.event_timestamp < day_end(last),
        )
        .group_by(TutorEvent.tutor_id)
    ):
        found[tutor_id] = moment.date() if isinstance(moment, datetime) else moment
    return found


def newest_feedback(db: Session, *, tutor_id: str, limit: int) -> list[StudentFeedback]:
    return list(
        db.scalars(
            select(StudentFeedback)
            .where(StudentFeedback.tutor_id == tutor_id)
            .order_by(StudentFeedback.submitted_at.desc())
            .limit(limit)
        )
    )


def feedback_ratings(fb: StudentFeedback) -> dict[str, int]:
    """The five 1-5 ratings of a feedback row under their wire names (DESIGN.md §3)."""
    return {
        "subject_knowledge": fb.subject_knowledge_rating,
        "communication": fb.communication_rating,
        "patience": fb.patience_rating,
        "engagement": fb.engagement_rating,
        "helpfulness": fb.helpfulness_rating,
    }


def user_names(db: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({uid for uid in user_ids if uid is not None})
    if not wanted:
        return {}
    rows = db.execute(
        select(User.id, User.display_name, User.email).where(User.id.in_(wanted))
    ).all()
    return {uid: name or email for uid, name, email in rows}


def intervention_row(
    item: Intervention,
    *,
    now: datetime,
    tutor_name: str | None = None,
    assignee_name: str | None = None,
    staff: bool = True,
) -> InterventionRow:
    rule = RULES_BY_CODE.get(item.intervention_type)
    open_task = item.status in OPEN_TASK_STATUSES
    seconds = None
    overdue = False
    if item.due_date is not None and open_task:
        seconds = int((item.due_date - now).total_seconds())
        overdue = seconds < 0
    return InterventionRow(
        intervention_id=item.intervention_id,
        tutor_id=item.tutor_id,
        tutor_name=tutor_name,
        intervention_type=item.intervention_type,
        name=rule.name if rule else item.intervention_type,
        mode=item.mode,
        status=item.status,
        trigger_reason=item.trigger_reason,
        recommended_date=item.recommended_date,
        due_date=item.due_date,
        assigned_to=item.assigned_to,
        assignee_name=assignee_name,
        owner_role=item.owner_role,
        outcome=item.outcome,
        completed_date=item.completed_date,
        overdue=overdue,
        seconds_to_due=seconds,
        churn_score=item.churn_score if staff else None,
        risk_level=item.risk_level if staff else None,
    )


def task_priority(code: str) -> int:
    return TASK_PRIORITY.index(code) if code in TASK_PRIORITY else len(TASK_PRIORITY)


def recommended_tasks(db: Session, *, tutor_ids: Iterable[str]) -> dict[str, Intervention]:
    """Per tutor: the open human task (not a holdout) an alert should point at."""
    best: dict[str, Intervention] = {}
    for part in chunked(sorted(set(tutor_ids))):
        for item in db.scalars(
            select(Intervention).where(
                Intervention.tutor_id.in_(part),
                Intervention.mode == "human",
                Intervention.holdout.is_(False),
                Intervention.status.in_(OPEN_TASK_STATUSES),
                Intervention.parent_id.is_(None),
            )
        ):
            current = best.get(item.tutor_id)
            if current is None or (
                task_priority(item.intervention_type),
                item.recommended_date,
            ) < (task_priority(current.intervention_type), current.recommended_date):
                best[item.tutor_id] = item
    return best
