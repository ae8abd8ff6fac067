"""The intervention rules as data (PRD 4.1-4.2): one table, versioned, no scattered ifs.

Each rule has a trigger (a pure function of a tutor's context as of a day), the risk levels
that allow it (PRD 4.2), cool-down and frequency cap, owner role and SLA for human tasks, and
the share of eligible tutors kept as a randomized holdout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

RULES_VERSION = "2025.1"
LOW, MEDIUM, HIGH, CRITICAL = "Low", "Medium", "High", "Critical"
ALL_LEVELS = frozenset({LOW, MEDIUM, HIGH, CRITICAL})
DEFAULT_HOLDOUT_SHARE = 0.10
SUSTAINED_DAYS = 7
A4_ESCALATION_DAYS = 14
CRITICAL_SLA_HOURS = 24
MENTOR_CAPACITY = 3
SKILL_GAP_RATING = 3.5
SKILL_GAP_MIN_RATINGS = 3


@dataclass(frozen=True)
class TutorContext:
    """What the engine knows of one active tutor as of a day."""

    tutor_id: str
    as_of: date
    score: int | None
    risk_level: str | None
    score_history: tuple[int | None, ...]  # the last SUSTAINED_DAYS days, oldest first
    open_flags: dict[str, dict[str, Any]]  # flag type -> {"raised_on": date, "evidence": {}}
    tier: str | None
    exemplary_since: date | None
    tenure_days: int
    sessions_trend: float | None
    availability_change_pct: float | None
    subjects: tuple[str, ...]
    subject_knowledge_avg: float | None = None
    subject_knowledge_n: int = 0
    first_session_rating: float | None = None


@dataclass(frozen=True)
class Trigger:
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    subject_key: str = ""


TriggerFn = Callable[[TutorContext], Trigger | None]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    mode: str  # "automated" or "human"
    levels: frozenset[str]
    trigger: TriggerFn | None  # None: per-session rules evaluated from session lists
    cooldown_days: int = 7
    max_per_week: int | None = None
    owner_role: str | None = None
    sla_hours: int | None = None
    duration_days: int | None = None
    holdout_share: float = DEFAULT_HOLDOUT_SHARE
    variants: tuple[str, ...] = ("standard",)


def _sustained_above(context: TutorContext, threshold: int) -> bool:
    history = context.score_history
    return len(history) >= SUSTAINED_DAYS and all(
        score is not None and score > threshold for score in history[-SUSTAINED_DAYS:]
    )


THRESHOLD_FLAG_GUIDES = {
    "low_first_session_success": "First Session Excellence Guide",
    "low_rating": "Five habits of highly rated sessions",
    "high_reschedule_rate": "Planning a reliable weekly schedule",
    "high_no_show_rate": "Never miss a session: reminders and buffers",
    "low_engagement": "Staying connected with your students",
    "low_objectives_met": "Setting and reaching session goals",
}


def coaching_tip(context: TutorContext) -> Trigger | None:
    flags = [code for code in THRESHOLD_FLAG_GUIDES if code in context.open_flags]
    if context.first_session_rating is not None and context.first_session_rating < 3.5:
        flags.insert(0, "low_first_session_success")
    if not flags:
        return None
    code = flags[0]
    return Trigger(
        f"metric below threshold: {code.replace('_', ' ')}",
        {"flag": code, "guide": THRESHOLD_FLAG_GUIDES[code]},
    )


def training_module(context: TutorContext) -> Trigger | None:
    if (
        context.subject_knowledge_avg is None
        or context.subject_knowledge_n < SKILL_GAP_MIN_RATINGS
        or context.subject_knowledge_avg >= SKILL_GAP_RATING
    ):
        return None
    subject = context.subjects[0] if context.subjects else "your subject"
    return Trigger(
        f"subject-knowledge ratings average {context.subject_knowledge_avg:.1f} "
        f"over {context.subject_knowledge_n} ratings",
        {"module_id": f"subject-mastery:{subject.lower().replace(' ', '-')}"},
    )


def rescheduling_alert(context: TutorContext) -> Trigger | None:
    flag = context.open_flags.get("high_rescheduling")
    if flag is None:
        return None
    return Trigger("more than 3 reschedules in 7 days", {"flag_raised_on": str(flag["raised_on"])})


def rescheduling_review(context: TutorContext) -> Trigger | None:
    flag = context.open_flags.get("high_rescheduling")
    if flag is None or (context.as_of - flag["raised_on"]).days < A4_ESCALATION_DAYS:
        return None
    return Trigger(
        f"rescheduling pattern has continued for {A4_ESCALATION_DAYS}+ days",
        {"flag_raised_on": str(flag["raised_on"])},
    )


def coaching_session(context: TutorContext) -> Trigger | None:
    if not _sustained_above(context, 50):
        return None
    return Trigger(f"churn score above 50 for {SUSTAINED_DAYS}+ days", {"score": context.score})


def peer_mentoring(context: TutorContext) -> Trigger | None:
    if context.tier != "Developing" or context.tenure_days >= 60:
        return None
    return Trigger(
        f"Developing tier with {context.tenure_days} days of tenure",
        {"subjects": list(context.subjects)},
    )


def improvement_plan(context: TutorContext) -> Trigger | None:
    if not _sustained_above(context, 75):
        return None
    return Trigger(f"churn score above 75 for {SUSTAINED_DAYS}+ days", {"score": context.score})


def reduced_activity(context: TutorContext) -> bool:
    trend = context.sessions_trend
    availability = context.availability_change_pct
    return (trend is not None and trend <= -0.3) or (
        availability is not None and availability <= -0.3
    )


def retention_interview(context: TutorContext) -> Trigger | None:
    if context.score is None or context.score <= 60 or not reduced_activity(context):
        return None
    return Trigger(
        "churn score above 60 with reduced activity",
        {
            "score": context.score,
            "sessions_trend": context.sessions_trend,
            "availability_change_pct": context.availability_change_pct,
            "urgent": context.risk_level == CRITICAL,
        },
    )


def recognition(context: TutorContext) -> Trigger | None:
    since = context.exemplary_since
    if context.tier != "Exemplary" or since is None or (context.as_of - since).days < 60:
        return None
    return Trigger("Exemplary tier for 60+ days", {"exemplary_since": str(since)})


RULES: tuple[Rule, ...] = (
    Rule("A1", "Automated coaching tips", "automated", frozenset({MEDIUM, HIGH, CRITICAL}),
         coaching_tip, cooldown_days=7, max_per_week=1, variants=("guide", "short_tips")),
    Rule("A2", "Training module suggestion", "automated", frozenset({MEDIUM, HIGH, CRITICAL}),
         training_module, cooldown_days=14, duration_days=7),
    Rule("A3", "First-session check-in", "automated", ALL_LEVELS, None, cooldown_days=0),
    Rule("A4", "Rescheduling pattern alert", "automated", frozenset({HIGH, CRITICAL}),
         rescheduling_alert, cooldown_days=7),
    Rule("A4R", "Rescheduling pattern review", "human", frozenset({HIGH, CRITICAL}),
         rescheduling_review, cooldown_days=14, owner_role="ops_manager", sla_hours=72),
    Rule("PREP", "First-session prep reminder", "automated", ALL_LEVELS, None, cooldown_days=0),
    Rule("H1", "Manager coaching session", "human", frozenset({HIGH, CRITICAL}),
         coaching_session, cooldown_days=14, owner_role="ops_manager", sla_hours=48),
    Rule("H2", "Peer mentoring match", "human", frozenset({MEDIUM}), peer_mentoring,
         cooldown_days=60, owner_role="people_ops", sla_hours=72, duration_days=28),
    Rule("H3", "Performance improvement plan", "human", frozenset({CRITICAL}),
         improvement_plan, cooldown_days=60, owner_role="people_ops", sla_hours=72,
         duration_days=30),
    Rule("H4", "Retention interview", "human", frozenset({HIGH, CRITICAL}), retention_interview,
         cooldown_days=30, owner_role="people_ops", sla_hours=72),
    Rule("H5", "Recognition", "human", frozenset({LOW}), recognition, cooldown_days=90,
         owner_role="people_ops", sla_hours=168),
)  # fmt: skip
RULES_BY_CODE = {rule.code: rule for rule in RULES}
ESCALATION_ROLE = {"people_ops": "ops_manager", "ops_manager": "admin"}


def sla_hours(rule: Rule, risk_level: str | None) -> int | None:
    """Critical tasks are due within 24 hours whatever the rule's own SLA."""
    if rule.sla_hours is None:
        return None
    if risk_level == CRITICAL:
        return min(rule.sla_hours, CRITICAL_SLA_HOURS)
    return rule.sla_hours
