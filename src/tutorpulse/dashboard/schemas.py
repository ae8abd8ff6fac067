"""Response (and request) models of the dashboard, portal and feedback routes.

Staff-only figures (churn score, probabilities, risk level, factors, notes) live in models that
the tutor-facing responses never use: ``PortalResponse`` and ``TutorProfile`` built for a
tutor carry none of them (and the auth field filter strips them again, as a second line).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Kpi(BaseModel):
    key: str
    label: str
    value: float | None
    previous: float | None
    change: float | None = Field(description="value - previous (None without a previous figure)")
    unit: Literal["count", "ratio"]
    better: Literal["up", "down"]
    sample: int | None = Field(default=None, description="the denominator behind a ratio")
    note: str | None = None


class KpiResponse(BaseModel):
    as_of: date | None
    period_days: int
    kpis: list[Kpi]


class TrendPoint(BaseModel):
    day: date
    value: float | None
    count: int | None = None


class TutorRow(BaseModel):
    tutor_id: str
    name: str
    subjects: list[str]
    tier: str | None
    churn_score: int | None
    risk_level: str | None
    score_source: str | None
    avg_rating: float | None
    sessions_30d: int
    open_flags: int


class TutorPage(BaseModel):
    as_of: date | None
    items: list[TutorRow]
    total: int
    page: int
    page_size: int


class MetricFigure(BaseModel):
    key: str
    label: str
    value: float | None
    n: int | None
    enough_data: bool
    interval95: list[float] | None = None
    unit: Literal["rating", "ratio", "count", "score", "minutes"]


class WindowMetrics(BaseModel):
    window_days: int
    sessions_completed: int
    figures: list[MetricFigure]


class TierChangeRow(BaseModel):
    changed_on: date
    kind: str
    from_tier: str | None
    to_tier: str | None
    reason: str


class TierInfo(BaseModel):
    tier: str | None
    reason: str | None
    history: list[TierChangeRow]


class FlagRow(BaseModel):
    flag_type: str
    label: str
    category: str
    raised_on: date
    last_seen_on: date
    evidence: dict[str, Any]


class Factor(BaseModel):
    component: str
    text: str
    points: float | None = None


class ChurnRisk(BaseModel):
    """Staff only: the preferred prediction ("model" when there is one, else "rules")."""

    prediction_date: date
    churn_score: int
    risk_level: str
    score_source: str
    model_version: str | None
    probabilities: dict[str, float | None] | None
    top_factors: list[Factor]
    rules_score: int | None = Field(default=None, description="the rule score, side by side")
    override_url: str | None = None
    override: dict[str, Any] | None = Field(
        default=None, description="an ops manager's active override, shown beside the figures"
    )


class InterventionRow(BaseModel):
    intervention_id: int
    tutor_id: str
    tutor_name: str | None = None
    intervention_type: str
    name: str
    mode: str
    status: str
    trigger_reason: str
    recommended_date: datetime
    due_date: datetime | None
    assigned_to: int | None
    assignee_name: str | None = None
    owner_role: str | None
    outcome: str | None
    completed_date: datetime | None
    overdue: bool
    seconds_to_due: int | None
    churn_score: int | None = None
    risk_level: str | None = None


class InterventionPage(BaseModel):
    items: list[InterventionRow]
    total: int
    page: int
    page_size: int


class AssignRequest(BaseModel):
    assignee_id: int | None = Field(default=None, description="default: the caller")


class OutcomeRequest(BaseModel):
    outcome: Literal["improved", "no_change", "declined", "churned"]
    notes: str | None = Field(default=None, max_length=4000)


class AlertRow(BaseModel):
    alert_id: int
    tutor_id: str
    tutor_name: str | None
    rule: str
    severity: str
    status: str
    raised_at: datetime
    snoozed_until: datetime | None
    churn_score: int | None
    risk_level: str | None
    recommended: InterventionRow | None


class AlertPage(BaseModel):
    items: list[AlertRow]
    total: int
    page: int
    page_size: int


class SnoozeRequest(BaseModel):
    hours: int = Field(default=24, ge=1, le=24 * 30)


class DismissRequest(BaseModel):
    reason: Literal["not_useful", "wrong", "already_handled"]


class FeedbackRow(BaseModel):
    feedback_id: str
    session_id: str
    student: str = Field(description="a stable pseudonym, never the student's name")
    submitted_at: datetime
    overall_rating: int
    first_session: bool
    ratings: dict[str, int]
    would_work_again: str | None
    improvement_areas: list[str]
    text: str | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    title: str
    detail: str | None = None


class TutorSummary(BaseModel):
    tutor_id: str
    name: str
    subjects: list[str]
    onboarding_date: date
    tenure_days: int
    location: str | None
    education_level: str | None
    status: str


class NoteRow(BaseModel):
    id: int
    author: str | None
    created_at: datetime
    body: str


class NoteCreate(BaseModel):
    body: str = Field(min_length=1, max_length=4000)


class TutorProfile(BaseModel):
    as_of: date | None
    tutor: TutorSummary
    metrics: list[WindowMetrics]
    tier: TierInfo
    flags: list[FlagRow]
    churn_risk: ChurnRisk | None = None
    interventions: list[InterventionRow] | None = None
    feedback: list[FeedbackRow]
    timeline: list[TimelineEntry]
    manager_notes: list[NoteRow] | None = None


class UpdateEvent(BaseModel):
    id: int
    topic: str
    created_at: datetime
    payload: dict[str, Any]


class UpdatesResponse(BaseModel):
    latest_id: int
    events: list[UpdateEvent]


# ------------------------------------------------------------------------------- portal
class WeeklyStats(BaseModel):
    sessions: int
    avg_rating: float | None
    rated: int
    on_time_ratio: float | None
    held: int


class Badge(BaseModel):
    key: str
    title: str
    description: str
    earned: bool
    progress: float = Field(ge=0, le=1)


class Goal(BaseModel):
    key: str
    title: str
    target: float
    current: float | None
    progress: float = Field(ge=0, le=1)
    unit: str


class GoalUpdate(BaseModel):
    target: float = Field(description="stars (1-5) for avg_rating, a share (0-1) otherwise")


class Training(BaseModel):
    title: str
    why: str
    kind: Literal["guide", "module", "check_in"]
    reference: str | None = None


class NextTierStep(BaseModel):
    text: str
    current: float | None = None
    target: float | None = None


class PortalFeedback(BaseModel):
    """Feedback as a tutor sees it: ratings and words, no student, no session id."""

    submitted_on: date
    overall_rating: int
    first_session: bool
    ratings: dict[str, int]
    text: str | None


class PortalResponse(BaseModel):
    tutor_id: str
    name: str
    as_of: date | None
    tier: str | None
    tier_message: str
    weekly: WeeklyStats
    rating_trend: list[TrendPoint]
    feedback: list[PortalFeedback]
    training: list[Training]
    badges: list[Badge]
    goals: list[Goal]
    percentile_rank: int | None = Field(
        default=None, description="share of tutors (percent) this tutor does better than"
    )
    next_tier: str | None
    next_tier_steps: list[NextTierStep]


# ----------------------------------------------------------------------------- feedback
class FeedbackForm(BaseModel):
    session_id: str
    tutor_first_name: str
    subject: str
    session_date: date
    first_session: bool
    already_submitted: bool
    expires_at: datetime


class FeedbackSubmission(BaseModel):
    overall_rating: int = Field(ge=1, le=5)
    subject_knowledge: int = Field(ge=1, le=5)
    communication: int = Field(ge=1, le=5)
    patience: int = Field(ge=1, le=5)
    engagement: int = Field(ge=1, le=5)
    helpfulness: int = Field(ge=1, le=5)
    would_recommend: bool | None = None
    free_text_feedback: str | None = Field(default=None, max_length=500)
    would_work_again: Literal["yes", "maybe", "probably_not", "no"] | None = None
    improvement_areas: list[
        Literal["late", "unprepared", "unclear", "not_patient", "technical_issues"]
    ] = Field(default_factory=list)


class FeedbackReceipt(BaseModel):
    status: Literal["received"]
    feedback_id: str
