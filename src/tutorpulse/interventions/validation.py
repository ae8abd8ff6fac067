"""Does the holdout uplift recover the effects the simulator was told to apply?

The closed loop (``run_closed_loop``): a seeded simulator, one simulated day at a time —
the simulator emits the day's records, they go through ingestion (``IngestSink``, the same
path as real input), the pipeline computes metrics, scores and interventions (holdout drawn
per tutor and rule, share raised for the experiment), simulated staff start the human tasks
the same day, and on the next day the simulator reads the interventions back
(``DatabaseInterventions``) and lowers the departure hazard of the tutors they reached.

The measurement (``measure``), per intervention type:

* Unit: a tutor's *first* decision of that type, if the tutor was not already leaving then.
  One unit per tutor keeps the units independent (the interval assumes it), and the
  holdout is drawn per tutor and rule, so a holdout tutor never receives that type later.
* Outcome: the tutor begins to leave within ``horizon_days`` after the decision — the event
  whose hazard the simulator's effect lowers (``config.InterventionEffects``).
* Estimate: ``effectiveness.uplift`` of treated units against holdout units (a negative
  uplift = fewer departures), with its 95% interval.
* Truth: the effect on the treated implied by the configuration, computed analytically. The
  simulator starts a departure on day t with probability h_t (1 - R_t) for the commitment
  hazard and l_t (1 - R_t) for life events, where R_t is the combined reduction of every
  intervention that reached the tutor (``MarketplaceSimulator.hazard_reduction``). So for a
  treated unit, P(outcome) = 1 - prod_t (1 - h_t (1 - R_t)) (1 - l_t (1 - R_t)) over the
  window, once with the reductions the simulator really applied and once with that type's
  interventions removed; the truth is the mean difference over the treated units.

Why analytic rather than a second, counterfactual simulation with the effect set to zero:
a second run does not share the first one's random draws for long (a departure changes
hiring, the number of tutors, and with it every later draw of the day's random stream), so
its difference would be as noisy as the estimate it is meant to check. The hazards do not
depend on interventions (commitment drifts on its own; only the hazard is scaled), so the
analytic expectation along the realised hazard path is exact up to two approximations:
hazards are read at the end of each day (a first session with a new student nudges
commitment after the day's draw), and after a tutor began leaving, the hazard "had they
stayed" is their commitment without the departure's depression — but also without the dips
and the first-session nudges a staying tutor would have had. Checked against the enacted
departures (tests/unit/test_intervention_validation.py): calibrated overall; among the
tutors with the highest hazards (predicted > 50% in 60 days) the prediction runs a few
points high. Types whose treated tutors mostly stay (a large effect) are hardly affected.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.interventions import service
from tutorpulse.interventions.assignment import HoldoutPolicy
from tutorpulse.interventions.effectiveness import uplift
from tutorpulse.interventions.models import Intervention
from tutorpulse.simulator import latent
from tutorpulse.simulator.config import (
    DEFAULT_START,
    InterventionEffects,
    SimulationConfig,
)
from tutorpulse.simulator.engine import DAY, InterventionRecord, MarketplaceSimulator
from tutorpulse.simulator.live import DatabaseInterventions, IngestSink
from tutorpulse.simulator.records import to_datetime, tutor_index

FloatArray = npt.NDArray[np.float64]
MIN_UNITS_PER_ARM = 30  # fewer: the row is reported but not judged
LARGE_EFFECT = 0.5  # a configured hazard reduction at least this large must be detected
SYSTEM_ACTOR = None  # simulated staff act without a user account


@dataclass(frozen=True)
class ValidationPlan:
    """What to simulate and measure. ``reductions`` overrides the simulator's effect sizes
    per type (e.g. ``{"A1": 0.0}``); ``effect_scale`` multiplies all of them (capped at 1)."""

    seed: int = 7
    days: int = 180
    sessions_per_day: int = 200
    holdout_share: float = 0.5
    horizon_days: int = 60
    warmup_days: int = 28  # simulated and ingested before the pipeline starts deciding
    start: date = DEFAULT_START
    reductions: Mapping[str, float] = field(default_factory=dict)
    effect_scale: float = 1.0
    max_total_reduction: float | None = None  # None: the simulator's cap
    churn_multiplier: float = 1.0  # scales the departure hazard (more events, more power)

    def __post_init__(self) -> None:
        problems = []
        if self.seed < 0:
            problems.append(f"seed must be >= 0, not {self.seed}")
        if self.sessions_per_day < 1:
            problems.append(f"sessions per day must be >= 1, not {self.sessions_per_day}")
        if not 0.0 < self.holdout_share < 1.0:
            problems.append(f"holdout share must be between 0 and 1, not {self.holdout_share}")
        if self.horizon_days < 1:
            problems.append(f"horizon must be >= 1 day, not {self.horizon_days}")
        if not 0 <= self.warmup_days < self.days:
            problems.append(f"warm-up ({self.warmup_days}) must be shorter than the run")
        elif self.days - self.warmup_days <= self.horizon_days:
            problems.append(
                f"days ({self.days}) must exceed warm-up + horizon "
                f"({self.warmup_days} + {self.horizon_days}): no decision could be followed up"
            )
        if self.max_total_reduction is not None and not 0 <= self.max_total_reduction <= 1:
            problems.append(
                f"maximum total reduction must be between 0 and 1, not {self.max_total_reduction}"
            )
        if self.churn_multiplier <= 0:
            problems.append(f"churn multiplier must be > 0, not {self.churn_multiplier}")
        if self.effect_scale < 0:
            problems.append(f"effect scale must be >= 0, not {self.effect_scale}")
        for kind, value in self.reductions.items():
            if not 0.0 <= value <= 1.0:
                problems.append(f"reduction for {kind} must be between 0 and 1, not {value}")
        if problems:
            raise ValueError("; ".join(problems))

    def effects(self) -> InterventionEffects:
        base = InterventionEffects()
        sizes = dict(base.reductions) | {k.upper(): v for k, v in self.reductions.items()}
        scaled = {k: min(1.0, v * self.effect_scale) for k, v in sizes.items()}
        default = min(1.0, base.default_reduction * self.effect_scale)
        cap = (
            base.max_total_reduction
            if self.max_total_reduction is None
            else self.max_total_reduction
        )
        return replace(base, reductions=scaled, default_reduction=default, max_total_reduction=cap)

    def config(self) -> SimulationConfig:
        built = SimulationConfig.build(
            seed=self.seed, start=self.start, sessions_per_day=self.sessions_per_day
        )
        behaviour = built.behaviour
        built = built.with_behaviour(
            leave_base=behaviour.leave_base * self.churn_multiplier,
            life_event_rate=behaviour.life_event_rate * self.churn_multiplier,
        )
        return replace(built, interventions=self.effects())

    @property
    def last_decision_day(self) -> int:
        """Decisions after this day could not be followed up for a whole horizon."""
        return self.days - 1 - self.horizon_days

    def holdout(self) -> HoldoutPolicy:
        return HoldoutPolicy(seed=f"validation-{self.seed}", share=self.holdout_share)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "days": self.days,
            "sessions_per_day": self.sessions_per_day,
            "holdout_share": self.holdout_share,
            "horizon_days": self.horizon_days,
            "warmup_days": self.warmup_days,
            "start": self.start.isoformat(),
            "effects": self.effects().reductions,
            "default_effect": self.effects().default_reduction,
            "max_total_reduction": self.effects().max_total_reduction,
            "churn_multiplier": self.churn_multiplier,
        }


class RecordingSource:
    """Reads the interventions as the live simulator does, and keeps what it was given."""

    def __init__(self, inner: Callable[[datetime], Sequence[InterventionRecord]]) -> None:
        self.inner = inner
        self.by_day: dict[datetime, list[InterventionRecord]] = {}

    def __call__(self, day_start: datetime) -> Sequence[InterventionRecord]:
        records = list(self.inner(day_start))
        self.by_day[day_start] = records
        return records

    def without(self, kind: str) -> Callable[[datetime], Sequence[InterventionRecord]]:
        """The same records minus one intervention type (that type had no effect)."""

        def source(day_start: datetime) -> Sequence[InterventionRecord]:
            return [r for r in self.by_day.get(day_start, []) if r.intervention_type != kind]

        return source

    def replay(self) -> Callable[[datetime], Sequence[InterventionRecord]]:
        return lambda day_start: self.by_day.get(day_start, [])


@dataclass
class ClosedLoop:
    plan: ValidationPlan
    simulator: MarketplaceSimulator
    source: RecordingSource
    hazards: list[tuple[FloatArray, FloatArray]]  # per simulated day: (commitment, life event)
    rejected: int


def run_closed_loop(
    session_factory: sessionmaker[Session],
    *,
    plan: ValidationPlan,
    on_day: Callable[[int], None] | None = None,
) -> ClosedLoop:
    """Simulate ``plan.days`` days, one day at a time, in three phases.

    Warm-up: records are ingested (the metrics need history). Decisions: ingestion, the
    pipeline and simulated staff every day, each day's interventions read back by the
    simulator the next day. Follow-up (the last ``horizon_days``): decisions made now could not
    be followed up, so only the simulator runs on, still applying the stored interventions.
    The database should be empty of synthetic data (the simulator's ids are counters).
    """
    from tutorpulse.pipeline.service import run_pipeline

    config = plan.config()
    simulator = MarketplaceSimulator(config)
    sink = IngestSink(session_factory)
    source = RecordingSource(DatabaseInterventions(session_factory))
    holdout = plan.holdout()
    hazards: list[tuple[FloatArray, FloatArray]] = []
    for day in range(plan.days):
        end = simulator.day_start(day) + DAY - 1
        released = simulator.advance_to(end, interventions=source)
        now = to_datetime(end)
        deciding = plan.warmup_days <= day <= plan.last_decision_day
        if day <= plan.last_decision_day:
            sink.deliver(released, now=now)
        hazards.append(day_hazards(simulator, day))
        if deciding:
            with session_factory() as db:
                run_pipeline(db, as_of=config.start + timedelta(days=day), now=now, holdout=holdout)
                start_open_tasks(db, now=now)
                db.commit()
        if on_day is not None:
            on_day(day + 1)
    return ClosedLoop(plan, simulator, source, hazards, sink.rejected)


def day_hazards(simulator: MarketplaceSimulator, day: int) -> tuple[FloatArray, FloatArray]:
    """Every tutor's unreduced departure hazards of ``day``, read at the end of that day.

    A tutor counted as churned without having begun to leave (a long holiday, too few
    students: inactivity or reduced activity) is no longer simulated, so can no longer begin
    to leave: hazard zero from then on.
    """
    tutors = simulator.tutors
    hazard, life = latent.departure_hazard(
        tutors, day, simulator.params, np.zeros(len(tutors)), as_if_staying=True
    )
    gone = tutors.churned & (tutors.leave_mode == latent.NO_LEAVE)
    return np.where(gone, 0.0, hazard), np.where(gone, 0.0, life)


def start_open_tasks(db: Session, *, now: datetime) -> int:
    """Simulated staff: every new human task (not a holdout, not a check-in) is started today.

    Goes through the workflow service, as a manager's click would; never commits.
    """
    pending = db.scalars(
        select(Intervention.intervention_id).where(
            Intervention.status == "pending",
            Intervention.mode == "human",
            Intervention.parent_id.is_(None),
            Intervention.holdout.is_(False),
        )
    ).all()
    for intervention_id in pending:
        service.start(db, intervention_id=intervention_id, actor=SYSTEM_ACTOR, now=now)
    return len(pending)


# ----------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Unit:
    tutor: int  # the simulator's index
    decided_day: int
    holdout: bool


def first_decisions(
    db: Session, *, start: date, last_day: int, horizon_days: int
) -> dict[str, list[Unit]]:
    """Per type, each synthetic tutor's first decision whose window ends by ``last_day``."""
    rows = db.execute(
        select(
            Intervention.intervention_type,
            Intervention.tutor_id,
            Intervention.recommended_date,
            Intervention.holdout,
        )
        .where(
            Intervention.parent_id.is_(None),
            Intervention.tutor_id.like("syn\\_t%", escape="\\"),
        )
        .order_by(Intervention.recommended_date, Intervention.intervention_id)
    ).all()
    seen: set[tuple[str, str]] = set()
    units: dict[str, list[Unit]] = defaultdict(list)
    for kind, tutor_id, decided, holdout in rows:
        if (kind, tutor_id) in seen:
            continue
        seen.add((kind, tutor_id))
        day = (decided.date() - start).days
        if day + horizon_days <= last_day:
            units[kind].append(Unit(tutor_index(tutor_id), day, bool(holdout)))
    return dict(units)


@dataclass(frozen=True)
class TypeResult:
    intervention_type: str
    configured_reduction: float
    treated_n: int
    holdout_n: int
    treated_rate: float | None
    holdout_rate: float | None
    estimate: float | None
    low: float | None
    high: float | None
    true_effect: float | None
    judged: bool  # enough units in both arms
    # The analytic departure rate of each arm (a calibration check of the truth: it should
    # match the observed rate within sampling error).
    treated_expected: float | None = None
    holdout_expected: float | None = None

    @property
    def recovered(self) -> bool | None:
        if not self.judged or self.low is None or self.high is None or self.true_effect is None:
            return None
        return self.low <= self.true_effect <= self.high

    @property
    def excludes_zero(self) -> bool | None:
        if not self.judged or self.low is None or self.high is None:
            return None
        return self.high < 0 or self.low > 0

    def as_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 5)

        return {
            "type": self.intervention_type,
            "configured_reduction": self.configured_reduction,
            "treated_n": self.treated_n,
            "holdout_n": self.holdout_n,
            "treated_rate": rounded(self.treated_rate),
            "holdout_rate": rounded(self.holdout_rate),
            "estimate": rounded(self.estimate),
            "ci95": [rounded(self.low), rounded(self.high)],
            "true_effect": rounded(self.true_effect),
            "treated_expected_rate": rounded(self.treated_expected),
            "holdout_expected_rate": rounded(self.holdout_expected),
            "judged": self.judged,
            "recovered": self.recovered,
            "excludes_zero": self.excludes_zero,
        }


@dataclass
class ValidationReport:
    plan: ValidationPlan
    results: list[TypeResult]
    tutors: int
    interventions: int
    rejected: int

    def result(self, kind: str) -> TypeResult:
        return next(r for r in self.results if r.intervention_type == kind)

    def as_dict(self) -> dict[str, Any]:
        judged = [r for r in self.results if r.judged]
        return {
            "plan": self.plan.as_dict(),
            "outcome": f"departure begins within {self.plan.horizon_days} days of the decision",
            "tutors_simulated": self.tutors,
            "interventions": self.interventions,
            "rejected_records": self.rejected,
            "types": [r.as_dict() for r in self.results],
            "judged": len(judged),
            "recovered": sum(1 for r in judged if r.recovered),
        }


def departure_probability(
    hazard: FloatArray, life: FloatArray, reduction: FloatArray
) -> FloatArray:
    """P(a departure begins on some day) given the days' hazards and reductions (per row)."""
    relief = 1.0 - reduction
    stay = (1.0 - hazard * relief) * (1.0 - life * relief)
    result: FloatArray = 1.0 - np.prod(stay, axis=-1)
    return result


def measure(loop: ClosedLoop, db: Session) -> ValidationReport:
    """Per intervention type: estimated uplift with its interval against the true effect."""
    units_by_type = first_decisions(
        db,
        start=loop.plan.start,
        last_day=loop.simulator.days_simulated - 1,
        horizon_days=loop.plan.horizon_days,
    )
    return measure_units(loop, units_by_type)


def measure_units(
    loop: ClosedLoop, units_by_type: Mapping[str, Sequence[Unit]]
) -> ValidationReport:
    """``measure`` for given units (per intervention type)."""
    plan, simulator = loop.plan, loop.simulator
    tutors = simulator.tutors
    last_day = simulator.days_simulated - 1
    n = len(tutors)
    # Per day, the hazards of every tutor (padded for tutors hired later).
    hazard = np.zeros((len(loop.hazards), n))
    life = np.zeros((len(loop.hazards), n))
    for day, (h, lf) in enumerate(loop.hazards):
        hazard[day, : len(h)], life[day, : len(lf)] = h, lf
    applied = _reductions(simulator, loop.source.replay(), last_day)
    effects = simulator.config.interventions
    results = []
    for kind, units in sorted(units_by_type.items()):
        # Only tutors still staying when decided: a departure under way cannot be prevented.
        units = [u for u in units if tutors.leave_start[u.tutor] > u.decided_day]
        outcome = [
            bool(u.decided_day < tutors.leave_start[u.tutor] <= u.decided_day + plan.horizon_days)
            for u in units
        ]
        treated = [y for u, y in zip(units, outcome, strict=True) if not u.holdout]
        control = [y for u, y in zip(units, outcome, strict=True) if u.holdout]
        lift = uplift(treated, control)
        treated_units = [u for u in units if not u.holdout]
        holdout_units = [u for u in units if u.holdout]
        truth = None
        if treated_units:
            without = _reductions(simulator, loop.source.without(kind), last_day)
            truth = _true_effect(treated_units, hazard, life, applied, without, plan.horizon_days)
        expected = [
            _expected_rate(arm, hazard, life, applied, plan.horizon_days) if arm else None
            for arm in (treated_units, holdout_units)
        ]
        results.append(
            TypeResult(
                intervention_type=kind,
                configured_reduction=effects.reduction_for(kind),
                treated_n=lift.treated_n,
                holdout_n=lift.control_n,
                treated_rate=lift.treated_rate,
                holdout_rate=lift.control_rate,
                estimate=lift.difference,
                low=lift.low,
                high=lift.high,
                true_effect=truth,
                judged=min(lift.treated_n, lift.control_n) >= MIN_UNITS_PER_ARM,
                treated_expected=expected[0],
                holdout_expected=expected[1],
            )
        )
    return ValidationReport(
        plan=plan,
        results=results,
        tutors=n,
        interventions=sum(len(u) for u in units_by_type.values()),
        rejected=loop.rejected,
    )


def _reductions(
    simulator: MarketplaceSimulator,
    source: Callable[[datetime], Sequence[InterventionRecord]],
    last_day: int,
) -> FloatArray:
    """Per day and tutor, the hazard reduction the simulator applies for these records."""
    n = len(simulator.tutors)
    rows = np.zeros((last_day + 1, n))
    for day in range(last_day + 1):
        if source(to_datetime(simulator.day_start(day))):
            rows[day] = simulator.hazard_reduction(day, source)
    return rows


def _expected_rate(
    units: Sequence[Unit], hazard: FloatArray, life: FloatArray, applied: FloatArray, horizon: int
) -> float:
    """The analytic departure rate of these units under the reductions really applied."""
    total = 0.0
    for unit in units:
        window = slice(unit.decided_day + 1, unit.decided_day + horizon + 1)
        total += float(
            departure_probability(
                hazard[window, unit.tutor], life[window, unit.tutor], applied[window, unit.tutor]
            )
        )
    return total / len(units)


def _true_effect(
    units: Sequence[Unit],
    hazard: FloatArray,
    life: FloatArray,
    with_type: FloatArray,
    without_type: FloatArray,
    horizon: int,
) -> float:
    differences = []
    for unit in units:
        window = slice(unit.decided_day + 1, unit.decided_day + horizon + 1)
        h, lf = hazard[window, unit.tutor], life[window, unit.tutor]
        treated = departure_probability(h, lf, with_type[window, unit.tutor])
        untreated = departure_probability(h, lf, without_type[window, unit.tutor])
        differences.append(float(treated - untreated))
    return math.fsum(differences) / len(differences)


def validate(
    session_factory: sessionmaker[Session],
    *,
    plan: ValidationPlan,
    on_day: Callable[[int], None] | None = None,
) -> ValidationReport:
    """Run the closed loop and measure it (the database should hold no synthetic data)."""
    loop = run_closed_loop(session_factory, plan=plan, on_day=on_day)
    with session_factory() as db:
        return measure(loop, db)
