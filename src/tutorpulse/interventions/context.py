"""What the engine knows of each active tutor as of a day, read in a few set-based queries."""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.orm import Session

from tutorpulse.interventions.rules import SUSTAINED_DAYS, TutorContext
from tutorpulse.marketplace.models import StudentFeedback, Tutor, TutoringSession
from tutorpulse.metrics.data import day_end, day_start
from tutorpulse.metrics.models import TierChange, TutorFlag, TutorPerformanceMetric
from tutorpulse.metrics.service import chunked
from tutorpulse.risk.models import ChurnPrediction

SMALL_BATCH = 500
SelectT = TypeVar("SelectT", bound="Select[*tuple[Any, ...]]")


def load_contexts(
    db: Session, *, as_of: date, tutor_ids: list[str] | None = None
) -> dict[str, TutorContext]:
    query = select(
        TutorPerformanceMetric.tutor_id,
        TutorPerformanceMetric.performance_tier,
        TutorPerformanceMetric.details,
    ).where(
        TutorPerformanceMetric.calculation_date == as_of,
        TutorPerformanceMetric.window_days == 30,
    )
    if tutor_ids is not None:
        query = query.where(TutorPerformanceMetric.tutor_id.in_(tutor_ids))
    metrics = db.execute(query).all()
    tutor_ids = [row.tutor_id for row in metrics]
    scores = _score_history(db, tutor_ids=tutor_ids, as_of=as_of)
    flags = _open_flags(db, tutor_ids=tutor_ids, as_of=as_of)
    exemplary = _exemplary_since(db, tutor_ids=tutor_ids, as_of=as_of)
    subjects = tutor_subjects(db, tutor_ids=tutor_ids)
    knowledge = _subject_knowledge(db, tutor_ids=tutor_ids, as_of=as_of)
    first_ratings = _first_session_ratings(db, tutor_ids=tutor_ids, as_of=as_of)
    contexts = {}
    for tutor_id, tier, details in metrics:
        overall = details.get("overall", {})
        history = scores.get(tutor_id, {})
        days = [as_of - timedelta(days=offset) for offset in range(SUSTAINED_DAYS - 1, -1, -1)]
        today = history.get(as_of)
        avg, n = knowledge.get(tutor_id, (None, 0))
        contexts[tutor_id] = TutorContext(
            tutor_id=tutor_id,
            as_of=as_of,
            score=today[0] if today else None,
            risk_level=today[1] if today else None,
            score_history=tuple(history[d][0] if d in history else None for d in days),
            open_flags=flags.get(tutor_id, {}),
            tier=tier,
            exemplary_since=exemplary.get(tutor_id),
            tenure_days=int(overall.get("tenure_days") or 0),
            sessions_trend=overall.get("sessions_trend"),
            availability_change_pct=overall.get("availability_change_pct"),
            subjects=tuple(subjects.get(tutor_id, ())),
            subject_knowledge_avg=avg,
            subject_knowledge_n=n,
            first_session_rating=first_ratings.get(tutor_id),
        )
    return contexts


def _score_history(
    db: Session, *, tutor_ids: list[str], as_of: date
) -> dict[str, dict[date, tuple[int, str]]]:
    """Per tutor and day: the model's score where there is one, else the rule score."""
    history: dict[str, dict[date, tuple[int, str]]] = defaultdict(dict)
    sources: dict[tuple[str, date], str] = {}
    for part in chunked(tutor_ids):
        rows = db.execute(
            select(
                ChurnPrediction.tutor_id,
                ChurnPrediction.prediction_date,
                ChurnPrediction.score_source,
                ChurnPrediction.churn_score,
                ChurnPrediction.risk_level,
            ).where(
                ChurnPrediction.tutor_id.in_(part),
                ChurnPrediction.prediction_date > as_of - timedelta(days=SUSTAINED_DAYS),
                ChurnPrediction.prediction_date <= as_of,
            )
        )
        for tutor_id, day, source, score, level in rows:
            if sources.get((tutor_id, day)) == "model" and source != "model":
                continue
            sources[(tutor_id, day)] = source
            history[tutor_id][day] = (score, level)
    return history


FACTOR_DAYS = 7  # a prediction older than this is not "the latest" evidence any more
TOP_FACTORS = 3


def latest_factors(db: Session, *, tutor_ids: list[str], as_of: date) -> dict[str, dict[str, Any]]:
    """Per tutor, the top factors of the latest prediction up to ``as_of`` (the model's where
    that day has one, else the rule score's): what a human task shows as its evidence."""
    best: dict[str, tuple[date, bool, dict[str, Any], str | None]] = {}
    for part in chunked(sorted(set(tutor_ids))):
        rows = db.execute(
            select(
                ChurnPrediction.tutor_id,
                ChurnPrediction.prediction_date,
                ChurnPrediction.score_source,
                ChurnPrediction.contributing_factors,
                ChurnPrediction.model_version,
            ).where(
                ChurnPrediction.tutor_id.in_(part),
                ChurnPrediction.prediction_date > as_of - timedelta(days=FACTOR_DAYS),
                ChurnPrediction.prediction_date <= as_of,
            )
        )
        for tutor_id, day, source, factors, version in rows:
            key = (day, source == "model")
            if tutor_id not in best or key > best[tutor_id][:2]:
                best[tutor_id] = (day, source == "model", factors or {}, version)
    found = {}
    for tutor_id, (day, is_model, factors, version) in best.items():
        features = [
            {k: f.get(k) for k in ("feature", "component", "text")}
            for f in (factors.get("top_features") or [])[:TOP_FACTORS]
        ]
        found[tutor_id] = {
            "source": "model" if is_model else "rules",
            "prediction_date": day.isoformat(),
            "model_version": version,
            "top_components": list(factors.get("top") or [])[:TOP_FACTORS],
            "top_features": features,
        }
    return found


def _open_flags(
    db: Session, *, tutor_ids: list[str], as_of: date
) -> dict[str, dict[str, dict[str, Any]]]:
    flags: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for part in chunked(tutor_ids):
        for flag in db.scalars(
            select(TutorFlag).where(
                TutorFlag.tutor_id.in_(part),
                TutorFlag.cleared_on.is_(None),
                TutorFlag.raised_on <= as_of,
            )
        ):
            flags[flag.tutor_id][flag.flag_type] = {
                "raised_on": flag.raised_on,
                "evidence": flag.evidence,
            }
    return flags


def _exemplary_since(db: Session, *, tutor_ids: list[str], as_of: date) -> dict[str, date]:
    few = len(tutor_ids) <= SMALL_BATCH
    params: dict[str, Any] = {"as_of": as_of} | ({"tutor_ids": tutor_ids} if few else {})
    wanted = set(tutor_ids)
    return {tid: day for tid, day in db.execute(_exemplary_query(few), params) if tid in wanted}


@functools.cache
def _exemplary_query(few: bool) -> Select[str, date]:
    """Built once with bound parameters: the statement costs more to build than to run."""
    latest_query = (
        select(TierChange.tutor_id, func.max(TierChange.changed_on).label("day"))
        .where(TierChange.kind == "change", TierChange.changed_on <= bindparam("as_of"))
        .group_by(TierChange.tutor_id)
    )
    if few:
        latest_query = latest_query.where(
            TierChange.tutor_id.in_(bindparam("tutor_ids", expanding=True))
        )
    latest = latest_query.subquery()
    query = select(TierChange.tutor_id, TierChange.changed_on).join(
        latest,
        and_(
            TierChange.tutor_id == latest.c.tutor_id,
            TierChange.changed_on == latest.c.day,
            TierChange.kind == "change",
        ),
    )
    return query.where(TierChange.to_tier == "Exemplary")


def tutor_subjects(db: Session, *, tutor_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in chunked(tutor_ids):
        for tutor_id, subjects in db.execute(
            select(Tutor.tutor_id, Tutor.subjects).where(Tutor.tutor_id.in_(part))
        ):
            found[tutor_id] = list(subjects or [])
    return found


def _subject_knowledge(
    db: Session, *, tutor_ids: list[str], as_of: date
) -> dict[str, tuple[float, int]]:
    query = (
        select(
            StudentFeedback.tutor_id,
            func.avg(StudentFeedback.subject_knowledge_rating),
            func.count(),
        )
        .where(
            StudentFeedback.submitted_at >= day_start(as_of - timedelta(days=29)),
            StudentFeedback.submitted_at < day_end(as_of),
        )
        .group_by(StudentFeedback.tutor_id)
    )
    query = _restrict(query, StudentFeedback.tutor_id, tutor_ids)
    wanted = set(tutor_ids)
    return {tid: (float(avg), int(n)) for tid, avg, n in db.execute(query) if tid in wanted}


def _first_session_ratings(db: Session, *, tutor_ids: list[str], as_of: date) -> dict[str, float]:
    query = (
        select(TutoringSession.tutor_id, func.avg(TutoringSession.student_rating), func.count())
        .where(
            TutoringSession.session_number == 1,
            TutoringSession.student_rating.is_not(None),
            TutoringSession.scheduled_start >= day_start(as_of - timedelta(days=29)),
            TutoringSession.scheduled_start < day_end(as_of),
        )
        .group_by(TutoringSession.tutor_id)
    )
    query = _restrict(query, TutoringSession.tutor_id, tutor_ids)
    wanted = set(tutor_ids)
    return {tid: float(avg) for tid, avg, n in db.execute(query) if tid in wanted and n >= 3}


def _restrict(query: SelectT, column: Any, tutor_ids: list[str]) -> SelectT:
    """A few tutors (an incremental run): filter in SQL; many: aggregate all and pick."""
    if len(tutor_ids) <= SMALL_BATCH:
        return query.where(column.in_(tutor_ids))
    return query
