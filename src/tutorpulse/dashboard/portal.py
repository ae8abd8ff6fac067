"""The tutor's own portal: tier, weekly stats, rating trend, anonymous feedback, training,
badges, goals, percentile and the way to the next tier.

Nothing here reads churn predictions, risk levels, interventions' internal fields or manager
notes: the portal cannot leak what it never loads. Wording is growth-oriented (see
``interventions.messages.FORBIDDEN_FOR_TUTORS``; a test checks every text).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from tutorpulse.dashboard import notes
from tutorpulse.dashboard.common import feedback_ratings, newest_feedback, tutor_metric_day
from tutorpulse.dashboard.schemas import (
    Badge,
    Goal,
    NextTierStep,
    PortalFeedback,
    PortalResponse,
    Training,
    TrendPoint,
    WeeklyStats,
)
from tutorpulse.errors import NotFoundError
from tutorpulse.interventions.models import Intervention
from tutorpulse.marketplace.models import Tutor, TutoringSession
from tutorpulse.metrics.compute import LATE_MINUTES
from tutorpulse.metrics.data import day_end, day_start
from tutorpulse.metrics.models import TutorFlag, TutorPerformanceMetric

TIER_LADDER = ("At Risk", "Needs Attention", "Developing", "Strong", "Exemplary")
TIER_MESSAGES = {
    "Exemplary": "Outstanding work: you are among our very best tutors. Keep inspiring!",
    "Strong": "Great work: your students are learning and coming back. Exemplary is within reach.",
    "Developing": "You are building solid habits. A few focused steps will take you to Strong.",
    "Needs Attention": "Every great tutor has a growth season. The steps below are the "
    "quickest wins, and our team is here to help.",
    "At Risk": "Let's turn things around together: start with the first step below, and "
    "reach out to our team whenever you want support.",
}
NO_TIER_MESSAGE = "Your tier appears after your first few sessions. Welcome aboard!"
# How each threshold flag reads as a step forward (value from the 30-day figures).
GROWTH_STEPS: dict[str, tuple[str, str, float]] = {
    "low_rating": ("Lift your average rating to 3.5 or more", "avg_rating", 3.5),
    "low_first_session_success": (
        "Win over new students: 70% or more of first sessions rated 4+",
        "first_session_success_rate",
        0.70,
    ),
    "high_reschedule_rate": (
        "Keep the sessions you book: reschedule 15% or fewer",
        "reschedule_rate",
        0.15,
    ),
    "high_no_show_rate": ("Attend every booked session (at most 5% missed)", "no_show_rate", 0.05),
    "low_engagement": (
        "Stay connected: log in, prepare and reply to students regularly",
        "engagement",
        60.0,
    ),
    "low_objectives_met": (
        "Reach the session goals with your students in 80% of sessions",
        "learning_objectives_met_pct",
        0.80,
    ),
}
PATTERN_STEPS = {
    "high_rescheduling": "Keep your weekly schedule steady (3 or fewer changes a week)",
    "no_show_risk": "Show up for every session, every time",
    "poor_first_session": "Make first sessions shine: arrive early and plan a warm welcome",
    "engagement_decline": "Keep your routine: regular logins and preparation",
}
GUIDE_WHY = "Picked for you to grow your skills"


def _weekly(db: Session, tutor_id: str, as_of: date) -> WeeklyStats:
    start, end = day_start(as_of - timedelta(days=6)), day_end(as_of)
    completed = TutoringSession.status == "completed"
    row = db.execute(
        select(
            func.sum(case((completed, 1), else_=0)),
            func.avg(case((completed, TutoringSession.student_rating), else_=None)),
            func.sum(case((completed & TutoringSession.student_rating.is_not(None), 1), else_=0)),
            func.sum(
                case(
                    (
                        completed
                        & (func.coalesce(TutoringSession.late_start_minutes, 0) <= LATE_MINUTES),
                        1,
                    ),
                    else_=0,
                )
            ),
            func.sum(case((TutoringSession.status.in_(("completed", "no_show")), 1), else_=0)),
        ).where(
            TutoringSession.tutor_id == tutor_id,
            TutoringSession.scheduled_start >= start,
            TutoringSession.scheduled_start < end,
        )
    ).one()
    sessions, avg, rated, on_time, due = row
    held = int(sessions or 0)
    return WeeklyStats(
        sessions=held,
        avg_rating=round(float(avg), 2) if avg is not None else None,
        rated=int(rated or 0),
        on_time_ratio=(int(on_time or 0) / int(due)) if due else None,
        held=held,
    )


def _rating_trend(db: Session, tutor_id: str, as_of: date, days: int = 30) -> list[TrendPoint]:
    start = as_of - timedelta(days=days - 1)
    rows = db.execute(
        select(TutoringSession.scheduled_start, TutoringSession.student_rating).where(
            TutoringSession.tutor_id == tutor_id,
            TutoringSession.student_rating.is_not(None),
            TutoringSession.scheduled_start >= day_start(start),
            TutoringSession.scheduled_start < day_end(as_of),
        )
    ).all()
    by_day: dict[date, list[float]] = {}
    for moment, rating in rows:
        by_day.setdefault(moment.date(), []).append(float(rating or 0.0))
    points = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        values = by_day.get(day, [])
        points.append(
            TrendPoint(
                day=day,
                value=round(sum(values) / len(values), 2) if values else None,
                count=len(values),
            )
        )
    return points


def _feedback(db: Session, tutor_id: str, limit: int = 10) -> list[PortalFeedback]:
    return [
        PortalFeedback(
            submitted_on=fb.submitted_at.date(),
            overall_rating=fb.overall_rating,
            first_session=fb.is_first_session,
            ratings=feedback_ratings(fb),
            text=fb.free_text_feedback,
        )
        for fb in newest_feedback(db, tutor_id=tutor_id, limit=limit)
    ]


def _training(db: Session, tutor_id: str, as_of: date) -> list[Training]:
    items = db.scalars(
        select(Intervention)
        .where(
            Intervention.tutor_id == tutor_id,
            Intervention.intervention_type.in_(("A1", "A2", "A3")),
            Intervention.holdout.is_(False),
            Intervention.status.in_(("sent", "pending", "in_progress")),
            Intervention.recommended_date >= day_start(as_of - timedelta(days=30)),
        )
        .order_by(Intervention.recommended_date.desc())
        .limit(20)
    )
    result: list[Training] = []
    seen: set[str] = set()
    for item in items:
        evidence = item.evidence or {}
        if item.intervention_type == "A1" and evidence.get("guide"):
            title = str(evidence["guide"])
            entry = Training(title=title, why=GUIDE_WHY, kind="guide", reference=title)
        elif item.intervention_type == "A2" and evidence.get("module_id"):
            module = str(evidence["module_id"])
            name = module.split(":", 1)[-1].replace("-", " ").title()
            entry = Training(
                title=f"Subject mastery: {name}",
                why="Deepen your expertise and explain tricky topics with confidence",
                kind="module",
                reference=module,
            )
        elif item.intervention_type == "A3" and item.recommended_date.date() >= as_of - timedelta(
            days=2
        ):
            entry = Training(
                title="How did your first session go?",
                why="Two quick questions after meeting a new student help us support you both",
                kind="check_in",
                reference=str(evidence.get("session_id") or ""),
            )
        else:
            continue
        if entry.title not in seen:
            seen.add(entry.title)
            result.append(entry)
    if not result:
        result.append(
            Training(
                title="First Session Excellence Guide",
                why="A favourite of our top tutors: ten minutes, practical ideas",
                kind="guide",
                reference="First Session Excellence Guide",
            )
        )
    return result[:6]


def _badges(db: Session, tutor: Tutor, as_of: date, w30: dict[str, Any]) -> list[Badge]:
    end = day_end(as_of)
    total, five_star = db.execute(
        select(
            func.count(),
            func.sum(case((TutoringSession.student_rating >= 5, 1), else_=0)),
        ).where(
            TutoringSession.tutor_id == tutor.tutor_id,
            TutoringSession.status == "completed",
            TutoringSession.scheduled_start < end,
        )
    ).one()
    total, five_star = int(total or 0), int(five_star or 0)
    tenure = max(0, (as_of - tutor.onboarding_date).days)
    first_success = (w30.get("raw") or {}).get("first_session_success_rate")
    first_n = (w30.get("sample") or {}).get("first_rated") or 0

    def badge(key: str, title: str, description: str, current: float, target: float) -> Badge:
        return Badge(
            key=key,
            title=title,
            description=description,
            earned=current >= target,
            progress=max(0.0, min(1.0, current / target if target else 1.0)),
        )

    return [
        badge("sessions_10", "Getting started", "10 sessions completed", total, 10),
        badge("sessions_100", "Century", "100 sessions completed", total, 100),
        badge("sessions_500", "Seasoned tutor", "500 sessions completed", total, 500),
        badge("five_star_25", "Five-star favourite", "25 five-star ratings", five_star, 25),
        badge(
            "first_impressions",
            "Great first impressions",
            "90% of first sessions rated 4+ (30 days, 5 or more first sessions)",
            (first_success or 0.0) if first_n >= 5 else 0.0,
            0.9,
        ),
        badge("one_year", "One year with us", "365 days of tutoring", tenure, 365),
    ]


DEFAULT_GOALS = {"avg_rating": 4.5, "on_time": 0.95, "first_sessions": 0.80}


def _goals(weekly: WeeklyStats, w30: dict[str, Any], own: dict[str, float]) -> list[Goal]:
    """Suggested goals, or the tutor's own targets where they set one."""
    raw = w30.get("raw") or {}
    target = DEFAULT_GOALS | own

    def goal(key: str, title: str, current: float | None, target: float, unit: str) -> Goal:
        progress = 0.0 if current is None else max(0.0, min(1.0, current / target))
        return Goal(
            key=key, title=title, target=target, current=current, progress=progress, unit=unit
        )

    return [
        goal(
            "avg_rating",
            f"Average rating of {target['avg_rating']:.1f}",
            raw.get("avg_rating"),
            target["avg_rating"],
            "stars",
        ),
        goal(
            "on_time",
            f"Start {target['on_time']:.0%} of sessions on time",
            weekly.on_time_ratio,
            target["on_time"],
            "ratio",
        ),
        goal(
            "first_sessions",
            f"{target['first_sessions']:.0%} of first sessions rated 4+",
            raw.get("first_session_success_rate"),
            target["first_sessions"],
            "ratio",
        ),
    ]


def _next_tier(
    tier: str | None, percentile: float | None, flags: list[TutorFlag], w30: dict[str, Any]
) -> tuple[str | None, list[NextTierStep]]:
    if tier is None:
        return None, [NextTierStep(text="Complete 5 sessions in 30 days to receive your tier")]
    index = TIER_LADDER.index(tier) if tier in TIER_LADDER else 2
    if index == len(TIER_LADDER) - 1:
        return None, [NextTierStep(text="Keep every measure green to stay Exemplary")]
    target = TIER_LADDER[index + 1]
    needed = {"Needs Attention": 0.04, "Developing": 0.16, "Strong": 0.50, "Exemplary": 0.90}
    steps: list[NextTierStep] = []
    if percentile is not None and percentile < needed[target]:
        steps.append(
            NextTierStep(
                text=f"Grow past {needed[target]:.0%} of tutors on the six quality measures "
                f"(you are ahead of {percentile:.0%} today)",
                current=round(percentile, 3),
                target=needed[target],
            )
        )
    raw = w30.get("raw") or {}
    for flag in flags:
        if flag.category == "threshold" and flag.flag_type in GROWTH_STEPS:
            text, key, goal = GROWTH_STEPS[flag.flag_type]
            current = raw.get(key) if key in raw else (flag.evidence or {}).get("value")
            steps.append(
                NextTierStep(
                    text=text,
                    current=float(current) if isinstance(current, (int, float)) else None,
                    target=goal,
                )
            )
        elif target == "Exemplary" and flag.flag_type in PATTERN_STEPS:
            steps.append(NextTierStep(text=PATTERN_STEPS[flag.flag_type]))
    if not steps:
        steps.append(
            NextTierStep(text=f"Keep up your consistency: {target} follows at the monthly review")
        )
    return target, steps


def portal(db: Session, *, tutor_id: str, now: datetime) -> PortalResponse:
    tutor = db.get(Tutor, tutor_id)
    if tutor is None:
        raise NotFoundError("tutor", tutor_id)
    day = tutor_metric_day(db, tutor_id=tutor_id)
    as_of = day or now.date()
    row = (
        db.scalar(
            select(TutorPerformanceMetric).where(
                TutorPerformanceMetric.tutor_id == tutor_id,
                TutorPerformanceMetric.calculation_date == day,
                TutorPerformanceMetric.window_days == 30,
            )
        )
        if day
        else None
    )
    w30 = (row.details or {}) if row else {}
    tier = row.performance_tier if row else None
    percentile = (w30.get("overall") or {}).get("composite_percentile")
    flags = list(
        db.scalars(
            select(TutorFlag).where(TutorFlag.tutor_id == tutor_id, TutorFlag.cleared_on.is_(None))
        )
    )
    weekly = _weekly(db, tutor_id, as_of)
    next_tier, steps = _next_tier(tier, percentile, flags, w30)
    return PortalResponse(
        tutor_id=tutor_id,
        name=tutor.name,
        as_of=day,
        tier=tier,
        tier_message=TIER_MESSAGES.get(tier or "", NO_TIER_MESSAGE),
        weekly=weekly,
        rating_trend=_rating_trend(db, tutor_id, as_of),
        feedback=_feedback(db, tutor_id),
        training=_training(db, tutor_id, as_of),
        badges=_badges(db, tutor, as_of, w30),
        goals=_goals(weekly, w30, notes.goals(db, tutor_id=tutor_id)),
        percentile_rank=round(percentile * 100) if isinstance(percentile, float) else None,
        next_tier=next_tier,
        next_tier_steps=steps,
    )
