"""The analytic true effect of the uplift validation, checked on the simulator alone.

Half of the tutors (seeded draw) receive an intervention on one day, the other half are the
holdout; the simulator applies its configured hazard reduction. The departures it really
enacts must agree with the analytic probabilities that ``validation`` derives from the
hazards, and the uplift interval must cover the analytic effect.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache

import numpy as np
import pytest

from tutorpulse.interventions.effectiveness import uplift
from tutorpulse.interventions.validation import (
    ClosedLoop,
    RecordingSource,
    Unit,
    ValidationPlan,
    day_hazards,
    departure_probability,
    measure_units,
)
from tutorpulse.simulator.engine import InterventionRecord, MarketplaceSimulator
from tutorpulse.simulator.records import to_datetime, tutor_id

DECIDED = 5
KIND = "H4"


def _plan(reduction: float) -> ValidationPlan:
    return ValidationPlan(
        seed=5,
        days=DECIDED + 61,
        warmup_days=DECIDED,
        horizon_days=60,
        sessions_per_day=1200,
        churn_multiplier=4.0,
        reductions={KIND: reduction},
        max_total_reduction=1.0,
    )


@cache
def _experiment(reduction: float) -> tuple[ClosedLoop, tuple[Unit, ...]]:
    """One intervention for every tutor on day ``DECIDED``; a seeded half is the holdout."""
    plan = _plan(reduction)
    simulator = MarketplaceSimulator(plan.config())
    rng = np.random.default_rng(11)
    units: list[Unit] = []
    records: list[InterventionRecord] = []

    def source(day_start: datetime) -> Sequence[InterventionRecord]:
        return records

    recording = RecordingSource(source)
    hazards = []
    for day in range(plan.days):
        simulator.advance_to(simulator.day_start(day + 1) - 1, interventions=recording)
        hazards.append(day_hazards(simulator, day))
        if day == DECIDED:
            reached = to_datetime(simulator.day_start(day + 1) - 1)
            alive = np.flatnonzero(~simulator.tutors.churned)
            for index, holdout in zip(alive, rng.random(len(alive)) < 0.5, strict=True):
                units.append(Unit(int(index), DECIDED, bool(holdout)))
                status = "holdout" if holdout else "completed"
                records.append(
                    InterventionRecord(tutor_id(int(index)), KIND, status, reached, bool(holdout))
                )
    return ClosedLoop(plan, simulator, recording, hazards, rejected=0), tuple(units)


def test_a_large_effect_is_detected_and_its_true_size_recovered() -> None:
    loop, units = _experiment(1.0)
    result = measure_units(loop, {KIND: units}).result(KIND)
    assert result.treated_n > 250 and result.holdout_n > 250
    assert result.true_effect is not None and result.true_effect < -0.05
    assert result.recovered
    assert result.excludes_zero
    # The treated hardly start leaving: only in the days before the effect sets in.
    assert result.treated_rate is not None and result.holdout_rate is not None
    assert result.treated_rate < 0.5 * result.holdout_rate


def test_without_an_effect_the_truth_is_zero_and_the_interval_covers_it() -> None:
    loop, units = _experiment(0.0)
    result = measure_units(loop, {KIND: units}).result(KIND)
    assert result.true_effect == 0.0
    assert result.recovered
    assert result.excludes_zero is False


def test_the_analytic_departure_probability_matches_the_enacted_departures() -> None:
    """The hazards read at the end of each day predict what the simulator then does."""
    loop, units = _experiment(0.0)
    tutors = loop.simulator.tutors
    staying = [u for u in units if tutors.leave_start[u.tutor] > DECIDED]
    window = range(DECIDED + 1, DECIDED + 61)
    predicted = [
        float(
            departure_probability(
                np.array([loop.hazards[day][0][u.tutor] for day in window]),
                np.array([loop.hazards[day][1][u.tutor] for day in window]),
                np.zeros(len(window)),
            )
        )
        for u in staying
    ]
    observed = [DECIDED < tutors.leave_start[u.tutor] <= DECIDED + 60 for u in staying]
    expected = sum(predicted) / len(predicted)
    rate = sum(observed) / len(observed)
    standard_error = (expected * (1 - expected) / len(observed)) ** 0.5
    assert len(observed) > 500 and 0.05 < expected < 0.5
    assert abs(rate - expected) < 2.5 * standard_error


def test_departure_probability_combines_days_and_reductions() -> None:
    hazard = np.array([0.1, 0.2])
    life = np.array([0.0, 0.1])
    assert float(departure_probability(hazard, life, np.zeros(2))) == pytest.approx(
        1 - 0.9 * 0.8 * 0.9
    )
    assert float(departure_probability(hazard, life, np.ones(2))) == 0.0
    half = float(departure_probability(hazard, life, np.full(2, 0.5)))
    assert half == pytest.approx(1 - 0.95 * 0.9 * 0.95)


def test_uplift_keeps_its_coverage_when_an_arm_has_no_events() -> None:
    """Synthetic ground truth: 0% vs 5% in arms of 60 (the plain Wald interval covers ~80%)."""
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(2000):
        treated = list(rng.random(60) < 0.0)
        control = list(rng.random(60) < 0.05)
        result = uplift(treated, control)
        assert result.low is not None and result.high is not None
        covered += result.low <= -0.05 <= result.high
    assert covered / 2000 >= 0.93


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"holdout_share": 1.0}, "holdout share must be between 0 and 1"),
        ({"days": 20, "warmup_days": 28}, "warm-up (28) must be shorter than the run"),
        ({"days": 80, "warmup_days": 28, "horizon_days": 60}, "must exceed warm-up + horizon"),
        ({"reductions": {"A1": 1.5}}, "reduction for A1 must be between 0 and 1"),
        ({"sessions_per_day": 0}, "sessions per day must be >= 1"),
        ({"churn_multiplier": 0}, "churn multiplier must be > 0"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_bad_plans_are_refused_with_the_field_named(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ValidationPlan(**changes)  # type: ignore[arg-type]


def test_the_plan_scales_and_overrides_the_configured_effects() -> None:
    effects = ValidationPlan(reductions={"a1": 0.0}, effect_scale=2.0).effects()
    assert effects.reduction_for("A1") == 0.0
    assert effects.reduction_for("H4") == pytest.approx(0.6)
    assert effects.reduction_for("PREP") == pytest.approx(0.2)  # the default, scaled
    assert ValidationPlan(effect_scale=10).effects().reduction_for("H4") == 1.0
