"""The tutor profile: metrics with sample sizes, tier and history, flags with evidence, the
churn prediction explained in plain words (staff only), interventions, feedback, timeline.

``audience="tutor"`` builds the tutor's own view: no churn prediction, no interventions (they
are internal decisions), no manager notes. The auth field filter strips such fields again.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.dashboard.common import (
    Prediction,
    Pseudonymizer,
    feedback_ratings,
    intervention_row,
    newest_feedback,
    newest_predictions,
    tutor_metric_day,
    user_names,
)
from tutorpulse.dashboard.schemas import (
    ChurnRisk,
    Factor,
    FeedbackRow,
    FlagRow,
    MetricFigure,
    NoteRow,
    TierChangeRow,
    TierInfo,
    TimelineEntry,
    TutorProfile,
    TutorSummary,
    WindowMetrics,
)
from tutorpulse.errors import NotFoundError
from tutorpulse.interventions.models import Intervention
from tutorpulse.marketplace.models import Tutor, TutorEvent, TutoringSession
from tutorpulse.metrics.data import day_end
from tutorpulse.metrics.flags import PATTERN_LABELS, THRESHOLD_RULES
from tutorpulse.metrics.models import TierChange, TutorFlag, TutorPerformanceMetric
from tutorpulse.risk.overrides import active_override, override_view
from tutorpulse.risk.rules import COMPONENT_WEIGHTS

Audience = Literal["staff", "tutor"]
FLAG_LABELS = {rule.code: rule.label for rule in THRESHOLD_RULES} | PATTERN_LABELS
TIMELINE_DAYS = 30
TIMELINE_LIMIT = 60
FEEDBACK_LIMIT = 10
COMPONENT_LABELS = {
    "engagement_decline": "Engagement decline",
    "performance_trend": "Performance trend",
    "reschedule_pattern": "Rescheduling",
    "first_session_quality": "First-session quality",
    "no_show_risk": "No-shows",
    "tenure_risk": "Tenure",
    "availability_reduction": "Availability reduction",
}
EVENT_TITLES = {
    "login": "Logged in",
    "reschedule_request": "Reschedule request",
    "availability_change": "Availability changed",
    "training_completed": "Training completed",
    "message_response": "Replied to a message",
    "session_prep": "Prepared a session",
    "resignation": "Resigned",
}


# ------------------------------------------------------------------------------ metrics
def _figure(
    key: str,
    label: str,
    value: Any,
    n: Any,
    enough: bool,
    unit: Any,
    interval: Any = None,
) -> MetricFigure:
    return MetricFigure(
        key=key,
        label=label,
        value=float(value) if value is not None else None,
        n=int(n) if n is not None else None,
        enough_data=bool(enough) and value is not None,
        interval95=[float(x) for x in interval] if interval else None,
        unit=unit,
    )


def window_metrics(row: TutorPerformanceMetric) -> WindowMetrics:
    details = row.details or {}
    sample = details.get("sample", {})
    enough = details.get("enough_data", {})
    raw = details.get("raw", {})
    interval = details.get("interval95", {})

    def rate(key: str, label: str, n_key: str) -> MetricFigure:
        return _figure(
            key,
            label,
            raw.get(key),
            sample.get(n_key),
            enough.get(key, False),
            "ratio",
            interval.get(key),
        )

    figures = [
        _figure(
            "avg_rating",
            "Average rating",
            raw.get("avg_rating"),
            sample.get("rated"),
            enough.get("avg_rating", False),
            "rating",
        ),
        rate("first_session_success_rate", "First-session success", "first_rated"),
        rate("reschedule_rate", "Reschedule rate", "due"),
        rate("no_show_rate", "No-show rate", "due"),
        rate("learning_objectives_met_pct", "Learning objectives met", "held"),
        _figure(
            "engagement_score",
            "Engagement",
            row.engagement_score,
            details.get("logins"),
            row.engagement_score is not None,
            "score",
        ),
        _figure(
            "response_time_avg_minutes",
            "Average reply time",
            row.response_time_avg_minutes,
            details.get("response_n"),
            row.response_time_avg_minutes is not None,
            "minutes",
        ),
    ]
    return WindowMetrics(
        window_days=row.window_days,
        sessions_completed=row.sessions_completed or 0,
        figures=figures,
    )


# ------------------------------------------------------------------------------ factors
def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def factor_text(component: str, windows: dict[int, dict[str, Any]]) -> str:
    """One contributing factor in plain words, with the tutor's own figures."""
    w7, w30 = windows.get(7, {}), windows.get(30, {})
    overall = w30.get("overall", {})
    sample30 = w30.get("sample", {})
    if component == "reschedule_pattern":
        this_week = _num(w7.get("reschedule_requests")) or 0.0
        per_week = (_num(w30.get("reschedule_requests")) or 0.0) / (30 / 7)
        if this_week >= 2 and this_week > per_week:
            return f"Rescheduled {this_week:.0f} sessions this week (usual: {per_week:.0f})"
        rate = _num(w30.get("raw", {}).get("reschedule_rate"))
        if rate is not None:
            return f"Rescheduled {rate:.0%} of sessions in 30 days (target: 15% or less)"
        return f"Rescheduled {this_week:.0f} sessions this week (usual: {per_week:.0f})"
    if component == "engagement_decline":
        decline = _num(overall.get("login_decline"))
        if decline is not None and decline > 0:
            return f"Logins down {decline:.0%} over the last two weeks"
        return "Engagement (logins, preparation, replies) below the usual level"
    if component == "performance_trend":
        week = _num(w7.get("raw", {}).get("avg_rating"))
        usual = _num(overall.get("rating_last30"))
        if week is not None and usual is not None:
            return f"Average rating {week:.1f} this week (usual: {usual:.1f})"
        if usual is not None:
            return f"Average rating {usual:.1f} over the last 30 rated sessions"
        return "Ratings trending down"
    if component == "first_session_quality":
        success = _num(w30.get("raw", {}).get("first_session_success_rate"))
        n = sample30.get("first_rated") or 0
        if success is not None:
            return f"{success:.0%} of {n} first sessions rated 4+ in 30 days (target: 70%)"
        return "Few first sessions rated well"
    if component == "no_show_risk":
        count = _num(overall.get("no_show_14d_count")) or 0
        rate = _num(w30.get("raw", {}).get("no_show_rate"))
        suffix = f"; {rate:.0%} of sessions in 30 days" if rate is not None else ""
        return f"{count:.0f} no-shows in the last 14 days{suffix}"
    if component == "tenure_risk":
        tenure = _num(overall.get("tenure_days"))
        return f"New on the platform ({tenure:.0f} days)" if tenure is not None else "New tutor"
    if component == "availability_reduction":
        change = _num(overall.get("availability_change_pct"))
        trend = _num(overall.get("sessions_trend"))
        if change is not None and change < 0:
            return f"Availability cut by {-change:.0%} over the last 4 weeks"
        if trend is not None and trend < 0:
            return f"Sessions this week down {-trend:.0%} vs the previous four weeks"
        return "Less availability than before"
    return component.replace("_", " ").capitalize()


def top_factors(prediction: Prediction, windows: dict[int, dict[str, Any]]) -> list[Factor]:
    factors = prediction.contributing_factors or {}
    components = factors.get("components") or {}
    top = factors.get("top") or []
    result: list[Factor] = []
    for entry in top[:3]:
        if isinstance(entry, dict):
            name = str(entry.get("component") or entry.get("name") or "")
            points = _num(entry.get("points", entry.get("value", entry.get("contribution"))))
        else:
            name = str(entry)
            points = _num(components.get(name))
        if not name:
            continue
        text = factor_text(name, windows) if name in COMPONENT_WEIGHTS else name
        result.append(Factor(component=name, text=text, points=points))
    return result


# -------------------------------------------------------------------------------- parts
def _tier(db: Session, tutor_id: str, row: TutorPerformanceMetric | None) -> TierInfo:
    history = [
        TierChangeRow(
            changed_on=change.changed_on,
            kind=change.kind,
            from_tier=change.from_tier,
            to_tier=change.to_tier,
            reason=change.reason,
        )
        for change in db.scalars(
            select(TierChange)
            .where(TierChange.tutor_id == tutor_id)
            .order_by(TierChange.changed_on.desc(), TierChange.id.desc())
            .limit(24)
        )
    ]
    overall = (row.details or {}).get("overall", {}) if row else {}
    return TierInfo(
        tier=row.performance_tier if row else None,
        reason=overall.get("tier_reason"),
        history=history,
    )


def _flags(db: Session, tutor_id: str) -> list[FlagRow]:
    return [
        FlagRow(
            flag_type=flag.flag_type,
            label=FLAG_LABELS.get(flag.flag_type, flag.flag_type.replace("_", " ")),
            category=flag.category,
            raised_on=flag.raised_on,
            last_seen_on=flag.last_seen_on,
            evidence=flag.evidence or {},
        )
        for flag in db.scalars(
            select(TutorFlag)
            .where(TutorFlag.tutor_id == tutor_id, TutorFlag.cleared_on.is_(None))
            .order_by(TutorFlag.raised_on.desc(), TutorFlag.id)
        )
    ]


def feedback_rows(
    db: Session, *, tutor_id: str, pseudonym: Pseudonymizer, limit: int = FEEDBACK_LIMIT
) -> list[FeedbackRow]:
    return [
        FeedbackRow(
            feedback_id=fb.feedback_id,
            session_id=fb.session_id,
            student=pseudonym(fb.student_id),
            submitted_at=fb.submitted_at,
            overall_rating=fb.overall_rating,
            first_session=fb.is_first_session,
            ratings=feedback_ratings(fb),
            would_work_again=fb.would_work_again,
            improvement_areas=list(fb.improvement_areas or []),
            text=fb.free_text_feedback,
        )
        for fb in newest_feedback(db, tutor_id=tutor_id, limit=limit)
    ]


def _session_entry(s: TutoringSession, pseudonym: Pseudonymizer) -> TimelineEntry:
    who = pseudonym(s.student_id)
    first = " (first session)" if s.session_number == 1 else ""
    if s.status == "no_show":
        return TimelineEntry(
            at=s.scheduled_start, kind="no_show", title=f"No-show: {s.subject}{first}", detail=who
        )
    if s.status == "scheduled":
        return TimelineEntry(
            at=s.scheduled_start, kind="scheduled", title=f"Booked: {s.subject}{first}", detail=who
        )
    if s.status == "cancelled":
        return TimelineEntry(
            at=s.scheduled_start, kind="cancelled", title=f"Cancelled: {s.subject}", detail=who
        )
    parts = [who]
    if s.student_rating is not None:
        parts.append(f"rated {s.student_rating:.0f}/5")
    if s.late_start_minutes:
        parts.append(f"started {s.late_start_minutes} min late")
    if s.tutor_initiated_reschedule:
        parts.append("rescheduled by the tutor")
    return TimelineEntry(
        at=s.scheduled_start,
        kind="session",
        title=f"Session: {s.subject}{first}",
        detail=", ".join(parts),
    )


def _event_entry(event: TutorEvent) -> TimelineEntry:
    meta = event.event_metadata or {}
    detail = None
    if event.event_type == "reschedule_request":
        detail = f"{meta.get('hours_notice', '?')} h notice, by {meta.get('initiated_by', '?')}"
    elif event.event_type == "availability_change":
        detail = f"{meta.get('weekly_hours_before')} → {meta.get('weekly_hours_after')} h/week"
    elif event.event_type == "training_completed":
        detail = str(meta.get("module_id", ""))
    return TimelineEntry(
        at=event.event_timestamp,
        kind=event.event_type,
        title=EVENT_TITLES.get(event.event_type, event.event_type),
        detail=detail,
    )


def timeline(
    db: Session, *, tutor_id: str, as_of: date, pseudonym: Pseudonymizer
) -> list[TimelineEntry]:
    """Sessions and behaviour events of the 30 days up to ``as_of`` and the bookings of the
    week after, newest first (routine logins, replies and preparation left out)."""
    since = day_end(as_of) - timedelta(days=TIMELINE_DAYS)
    until = day_end(as_of) + timedelta(days=7)
    sessions = db.scalars(
        select(TutoringSession)
        .where(
            TutoringSession.tutor_id == tutor_id,
            TutoringSession.scheduled_start >= since,
            TutoringSession.scheduled_start < until,
        )
        .order_by(TutoringSession.scheduled_start.desc())
        .limit(TIMELINE_LIMIT)
    )
    events = db.scalars(
        select(TutorEvent)
        .where(
            TutorEvent.tutor_id == tutor_id,
            TutorEvent.event_type.not_in(("login", "message_response", "session_prep")),
            TutorEvent.event_timestamp >= since,
            TutorEvent.event_timestamp < until,
        )
        .order_by(TutorEvent.event_timestamp.desc())
        .limit(TIMELINE_LIMIT)
    )
    entries = [_session_entry(s, pseudonym) for s in sessions]
    entries += [_event_entry(e) for e in events]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:TIMELINE_LIMIT]


def summary(tutor: Tutor, as_of: date) -> TutorSummary:
    return TutorSummary(
        tutor_id=tutor.tutor_id,
        name=tutor.name,
        subjects=list(tutor.subjects or []),
        onboarding_date=tutor.onboarding_date,
        tenure_days=max(0, (as_of - tutor.onboarding_date).days),
        location=tutor.location,
        education_level=tutor.education_level,
        status=tutor.status,
    )


def tutor_profile(
    db: Session,
    *,
    tutor_id: str,
    now: datetime,
    pseudonym: Pseudonymizer,
    audience: Audience = "staff",
    notes: list[NoteRow] | None = None,
    override_url: str | None = None,
) -> TutorProfile:
    tutor = db.get(Tutor, tutor_id)
    if tutor is None:
        raise NotFoundError("tutor", tutor_id)
    day = tutor_metric_day(db, tutor_id=tutor_id)
    rows = (
        {
            row.window_days: row
            for row in db.scalars(
                select(TutorPerformanceMetric).where(
                    TutorPerformanceMetric.tutor_id == tutor_id,
                    TutorPerformanceMetric.calculation_date == day,
                )
            )
        }
        if day
        else {}
    )
    windows = {w: (row.details or {}) for w, row in rows.items()}
    as_of = day or now.date()
    profile = TutorProfile(
        as_of=day,
        tutor=summary(tutor, as_of),
        metrics=[window_metrics(rows[w]) for w in sorted(rows)],
        tier=_tier(db, tutor_id, rows.get(30)),
        flags=_flags(db, tutor_id),
        feedback=feedback_rows(db, tutor_id=tutor_id, pseudonym=pseudonym),
        timeline=timeline(db, tutor_id=tutor_id, as_of=as_of, pseudonym=pseudonym),
    )
    if audience != "staff":
        return profile
    prediction = newest_predictions(db, tutor_ids=[tutor_id]).get(tutor_id)
    active = active_override(db, tutor_id=tutor_id, now=now)
    if prediction is not None:
        profile.churn_risk = ChurnRisk(
            prediction_date=prediction.prediction_date,
            churn_score=prediction.churn_score,
            risk_level=prediction.risk_level,
            score_source=prediction.score_source,
            model_version=prediction.model_version,
            probabilities=prediction.probabilities,
            top_factors=top_factors(prediction, windows),
            rules_score=prediction.rules_score,
            override_url=override_url,
            override=override_view(active) if active is not None else None,
        )
    items = list(
        db.scalars(
            select(Intervention)
            .where(Intervention.tutor_id == tutor_id, Intervention.parent_id.is_(None))
            .order_by(Intervention.recommended_date.desc(), Intervention.intervention_id.desc())
            .limit(50)
        )
    )
    assignees = user_names(db, (i.assigned_to for i in items))
    profile.interventions = [
        intervention_row(
            item,
            now=now,
            tutor_name=tutor.name,
            assignee_name=assignees.get(item.assigned_to or -1),
        )
        for item in items
    ]
    profile.manager_notes = notes if notes is not None else []
    return profile


def record_view(
    db: Session, *, tutor_id: str, audience: Audience, actor: audit.Actor, now: datetime
) -> None:
    """Audit one read of a tutor's profile (staff views include the churn prediction); the
    caller commits. Shown to the tutor in "who viewed my data" when somebody else read it."""
    audit.record(
        db,
        actor=actor,
        action="tutor.read",
        target_type="tutor",
        target_id=tutor_id,
        details={"view": audience, "prediction": audience == "staff"},
        now=now,
    )
