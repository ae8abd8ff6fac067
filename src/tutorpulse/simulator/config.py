"""Every knob of the simulator in one place: scale, behaviour and intervention effects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

DEFAULT_START = date(2025, 1, 6)  # a Monday; fixed so that output never depends on today
DEFAULT_SESSIONS_PER_DAY = 3000
MEAN_BASELINE = 15.0
# Sessions an average tutor really has per unit of stated baseline: engagement, holidays, the
# lag between losing a student and finding the next one. Sizes the initial population.
EXPECTED_ACTIVITY = 0.9
MIN_BASELINE, MAX_BASELINE = 5, 30


@dataclass(frozen=True)
class BehaviourParams:
    """Parameters of the latent model (see the package docstring for the story they tell).

    The archetype priors overlap on purpose: an archetype shifts where a tutor's commitment
    starts and how it drifts, it never fixes behaviour.
    """

    # Archetype priors, indexed like catalog.ARCHETYPES: commitment level (mean, sd) and daily
    # drift of that level (mean, sd).
    level_mean: tuple[float, ...] = (2.0, 0.8, 1.25, 1.35, 0.45)
    level_sd: tuple[float, ...] = (0.5, 0.55, 0.85, 0.5, 0.55)
    drift_mean: tuple[float, ...] = (0.0, -0.006, 0.0, 0.0, -0.028)
    drift_sd: tuple[float, ...] = (0.002, 0.009, 0.004, 0.002, 0.012)
    archetype_mix: tuple[float, ...] = (0.30, 0.20, 0.25, 0.20, 0.05)
    # Ornstein-Uhlenbeck day step of commitment around the drifting level.
    reversion: float = 0.08
    volatility: float = 0.2
    engagement_slope: float = 1.3  # engagement = sigmoid(slope * effective commitment)
    # Daily hazard of starting to leave: base * family multiplier * exp(-beta * (c - ref)).
    leave_base: float = 0.00042
    leave_beta: float = 1.6
    leave_ref: float = 1.0
    leave_max: float = 0.08
    # Life events (move, new job): a small commitment-independent hazard of abrupt resignation.
    life_event_rate: float = 0.0001
    family_hazard: tuple[float, ...] = (0.42, 1.1, 1.6)  # STEM, Language/Writing, Test Prep
    # How a departure unfolds: abrupt resignation, decline then resignation, fade to nothing,
    # partial fade (reduced activity).
    leave_mode_weights: tuple[float, ...] = (0.23, 0.31, 0.29, 0.17)
    # Temporary dips of healthy tutors (bad weeks) and holidays.
    dip_rate: float = 1 / 150
    dip_depth: tuple[float, float] = (0.5, 1.4)
    dip_days: tuple[int, int] = (5, 15)
    holiday_rate: float = 1 / 240
    holiday_days: tuple[int, int] = (3, 10)
    # New tutors: first-session outcomes feed back into commitment.
    first_session_feedback: float = 0.045
    # Sessions.
    booking_horizon_days: int = 3
    fill_rate: float = 0.5
    # Share of a staying tutor's wanted load that turns into sessions (holidays, the lag until
    # a new student starts); hiring plans with it.
    utilisation: float = 0.92
    hiring_slack: float = 0.04
    trim_tolerance: float = 0.2
    no_show_base: float = 0.0032
    no_show_engagement: float = 5.0
    no_show_morning: float = 2.0
    no_show_monday: float = 1.65
    reschedule_base: float = 0.02
    reschedule_engagement: float = 3.2
    family_reschedule: tuple[float, ...] = (1.45, 0.85, 0.95)
    student_reschedule_share: float = 0.018
    rating_level: float = 4.4
    first_session_penalty: float = 1.45
    family_first_penalty: tuple[float, ...] = (0.0, 0.4, 0.0)
    tenure_first_bonus: float = 0.7
    family_quality_sd: tuple[float, ...] = (0.42, 0.45, 1.0)
    rating_noise: float = 0.72
    feedback_rate_first: float = 0.8
    feedback_rate_other: float = 0.36
    free_text_rate: float = 0.6


@dataclass(frozen=True)
class InterventionEffects:
    """How much an intervention lowers a tutor's churn hazard, and when.

    Keys are intervention types as the intervention engine stores them; both the PRD codes
    (``A1``..``H5``) and descriptive names are understood. An effect starts ``delay_days``
    after the intervention reached the tutor, lasts ``duration_days``, and effects combine
    multiplicatively (capped at ``max_total_reduction``).
    """

    reductions: dict[str, float] = field(
        default_factory=lambda: {
            "A1": 0.10,  # automated coaching tips
            "A2": 0.12,  # training module suggestion
            "A3": 0.10,  # first-session check-in
            "A4": 0.15,  # rescheduling pattern alert
            "H1": 0.25,  # manager coaching session
            "H2": 0.20,  # peer mentoring
            "H3": 0.20,  # performance improvement plan
            "H4": 0.30,  # retention interview
            "H5": 0.15,  # incentive / recognition
        }
    )
    aliases: dict[str, str] = field(
        default_factory=lambda: {
            "coaching_tips": "A1",
            "training_module": "A2",
            "first_session_checkin": "A3",
            "reschedule_alert": "A4",
            "coaching_session": "H1",
            "peer_mentoring": "H2",
            "pip": "H3",
            "performance_improvement_plan": "H3",
            "retention_interview": "H4",
            "recognition": "H5",
            "incentive": "H5",
        }
    )
    default_reduction: float = 0.10
    delay_days: int = 3
    duration_days: int = 60
    max_total_reduction: float = 0.6
    # Interventions that reached the tutor: sent (automated), being acted on or done (human).
    # Holdouts (the control group), pending and cancelled ones change nothing.
    effective_statuses: frozenset[str] = frozenset({"sent", "in_progress", "completed"})

    def reaches_tutor(self, status: str, *, holdout: bool) -> bool:
        return not holdout and status.lower() in self.effective_statuses

    def reduction_for(self, intervention_type: str) -> float:
        key = intervention_type.strip()
        key = self.aliases.get(key.lower(), key.upper() if len(key) == 2 else key)
        return self.reductions.get(key, self.default_reduction)


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 0
    start: date = DEFAULT_START
    initial_tutors: int = 0  # 0: derived from sessions_per_day
    sessions_per_day: int = 0  # 0: derived from initial_tutors (or the default 3,000)
    mean_baseline: float = MEAN_BASELINE
    behaviour: BehaviourParams = field(default_factory=BehaviourParams)
    interventions: InterventionEffects = field(default_factory=InterventionEffects)

    @classmethod
    def build(
        cls,
        *,
        seed: int,
        start: date = DEFAULT_START,
        tutors: int | None = None,
        sessions_per_day: int | None = None,
        behaviour: BehaviourParams | None = None,
    ) -> SimulationConfig:
        """Fill in whichever of tutors / sessions-per-day is missing from the other.

        With both given, the tutors' mean baseline is adapted (within 5..30 per week) so that
        the initial population can carry the volume; hiring makes up any remaining gap.
        """
        if seed < 0:
            raise ValueError("seed must be >= 0")
        if tutors is not None and tutors < 1:
            raise ValueError("tutors must be >= 1")
        if sessions_per_day is not None and sessions_per_day < 1:
            raise ValueError("sessions per day must be >= 1")
        mean_baseline = MEAN_BASELINE
        if tutors is None and sessions_per_day is None:
            sessions_per_day = DEFAULT_SESSIONS_PER_DAY
        if tutors is None:
            assert sessions_per_day is not None
            tutors = max(1, round(7 * sessions_per_day / (MEAN_BASELINE * EXPECTED_ACTIVITY)))
        elif sessions_per_day is None:
            sessions_per_day = max(1, round(tutors * MEAN_BASELINE * EXPECTED_ACTIVITY / 7))
        else:
            wanted = 7 * sessions_per_day / (tutors * EXPECTED_ACTIVITY)
            mean_baseline = min(22.0, max(8.0, wanted))
        return cls(
            seed=seed,
            start=start,
            initial_tutors=tutors,
            sessions_per_day=sessions_per_day,
            mean_baseline=mean_baseline,
            behaviour=behaviour or BehaviourParams(),
        )

    def with_behaviour(self, **changes: Any) -> SimulationConfig:
        return replace(self, behaviour=replace(self.behaviour, **changes))

    def describe(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "tutors": self.initial_tutors,
            "sessions_per_day": self.sessions_per_day,
            "mean_baseline_sessions_per_week": round(self.mean_baseline, 3),
        }

    def behaviour_dict(self) -> dict[str, Any]:
        return asdict(self.behaviour)
