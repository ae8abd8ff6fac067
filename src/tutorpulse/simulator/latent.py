"""The latent side of a tutor: commitment drifts, engagement follows, departures begin.

Commitment is an Ornstein-Uhlenbeck walk around a level that itself drifts (downwards for
at-risk and churner priors). Engagement = sigmoid(commitment - temporary dips - departure
depression) drives everything observable. A departure starts with a daily hazard that rises
as commitment falls (plus rare life events that strike anyone) and then unfolds in one of four
ways: abrupt resignation, decline then resignation, fade to nothing, partial fade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tutorpulse.simulator.config import BehaviourParams
from tutorpulse.simulator.tables import NEVER, TutorTable

NO_LEAVE, ABRUPT, DECLINE_RESIGN, FADE_OUT, PARTIAL_FADE = 0, 1, 2, 3, 4
# Days a departure typically takes from its start to churn; sizes the departures already under
# way when a simulation starts, so that churn does not all begin on day 0.
TYPICAL_DEPARTURE_DAYS = 16

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class AvailabilityChanges:
    tutor: IntArray
    before: FloatArray
    after: FloatArray


def sigmoid(x: FloatArray) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return result


def fade_factor(tutors: TutorTable, day: int) -> FloatArray:
    """Share of a departing tutor's usual volume that is left on ``day`` (1 when staying)."""
    mode = tutors.leave_mode
    elapsed = np.maximum(day - tutors.leave_start.astype(np.int64), 0)
    decay = np.exp(-elapsed / tutors.fade_tau)
    fade = np.ones(len(tutors))
    fading = (mode == DECLINE_RESIGN) | (mode == FADE_OUT)
    fade[fading] = decay[fading]
    partial = mode == PARTIAL_FADE
    floor = tutors.fade_floor[partial]
    fade[partial] = floor + (1 - floor) * decay[partial]
    return fade


def activity_level(engagement: FloatArray) -> FloatArray:
    """Share of the baseline a tutor wants to teach at a given engagement."""
    return np.clip(0.6 + 0.55 * engagement, 0.0, 1.15)


def ramp_up(tutors: TutorTable, day: int) -> FloatArray:
    """New tutors take a few weeks to fill their schedule."""
    tenure = day - tutors.onboarding_day.astype(np.int64)
    return np.clip(0.7 + tenure / 40.0, 0.7, 1.0)


def weekly_hours(tutors: TutorTable) -> FloatArray:
    return np.round(tutors.baseline * tutors.availability * 1.15 + 2.0, 1)


def on_holiday(tutors: TutorTable, day: int) -> BoolArray:
    return (tutors.holiday_start <= day) & (day <= tutors.holiday_end)


def _effective_commitment(tutors: TutorTable, day: int) -> FloatArray:
    dip = np.where(tutors.dip_left > 0, tutors.dip_depth, 0.0)
    fade = fade_factor(tutors, day)
    depression = np.where(tutors.leave_mode > ABRUPT, 2.4 * (1 - fade) + 0.5, 0.0)
    result: FloatArray = tutors.commitment - dip - depression
    return result


def departure_hazard(
    tutors: TutorTable,
    day: int,
    params: BehaviourParams,
    reduction: FloatArray,
    *,
    as_if_staying: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """Daily hazards of starting to leave: (commitment-driven, life event).

    ``as_if_staying``: without the depression of a departure under way, i.e. the hazard a
    tutor who already began leaving would face had they stayed (for the validation of the
    intervention uplift, which needs the hazard over a whole window); for staying tutors it
    changes nothing.
    """
    family_factor = np.asarray(params.family_hazard)[tutors.family.astype(np.int64)]
    relief = 1.0 - reduction
    if as_if_staying:
        commitment = tutors.commitment - np.where(tutors.dip_left > 0, tutors.dip_depth, 0.0)
    else:
        commitment = _effective_commitment(tutors, day)
    gap = commitment - params.leave_ref
    hazard = params.leave_base * family_factor * np.exp(-params.leave_beta * gap)
    return np.minimum(
        hazard, params.leave_max
    ) * relief, params.life_event_rate * family_factor * relief


def refresh(tutors: TutorTable, *, day: int, alive: BoolArray, params: BehaviourParams) -> None:
    """Engagement and wanted weekly load from the latent state."""
    engagement = sigmoid(params.engagement_slope * _effective_commitment(tutors, day))
    tutors.engagement = np.where(alive, engagement, tutors.engagement)
    desired = (
        tutors.baseline
        * activity_level(engagement)
        * tutors.availability
        * fade_factor(tutors, day)
        * ramp_up(tutors, day)
    )
    tutors.desired_load = np.where(alive, desired, 0.0)


def _start_departures(
    tutors: TutorTable,
    starting: BoolArray,
    mode: IntArray,
    start_day: IntArray,
    u_tau: FloatArray,
    u_end: FloatArray,
) -> None:
    tutors.leave_mode = np.where(starting, mode, tutors.leave_mode).astype(np.int8)
    tutors.leave_start = np.where(starting, start_day, tutors.leave_start).astype(np.int32)
    tau = np.where(mode == FADE_OUT, 3 + 5 * u_tau, 4 + 8 * u_tau)
    tutors.fade_tau = np.where(starting, tau, tutors.fade_tau)
    partial = starting & (mode == PARTIAL_FADE)
    tutors.fade_floor = np.where(partial, 0.12 + 0.3 * u_end, tutors.fade_floor)
    resign_in = np.where(
        mode == ABRUPT, (u_end * 5).astype(np.int64), 7 + (u_end * 22).astype(np.int64)
    )
    resigns = starting & ((mode == ABRUPT) | (mode == DECLINE_RESIGN))
    tutors.resign_day = np.where(resigns, start_day + resign_in, tutors.resign_day).astype(np.int32)
    tutors.dip_left = np.where(starting, 0, tutors.dip_left).astype(np.int32)


def _modes(params: BehaviourParams, u: FloatArray) -> IntArray:
    weights = np.asarray(params.leave_mode_weights) / np.sum(params.leave_mode_weights)
    index = np.searchsorted(np.cumsum(weights), u * 0.999999, side="right")
    return (1 + index).astype(np.int64)


def seed_departures(
    tutors: TutorTable, *, params: BehaviourParams, rng: np.random.Generator
) -> None:
    """Put the initial population in a steady state: some departures are already under way."""
    n = len(tutors)
    u = rng.random((4, n))
    hazard, life = departure_hazard(tutors, 0, params, np.zeros(n))
    already = u[0] < np.minimum((hazard + life) * TYPICAL_DEPARTURE_DAYS, 0.9)
    started = -1 - (u[1] * TYPICAL_DEPARTURE_DAYS).astype(np.int64)
    mode = _modes(params, u[2])
    _start_departures(tutors, already, mode, started, u[3], u[2])
    # A resignation planned before the start happens on the first days instead.
    overdue = already & (tutors.resign_day < 0)
    tutors.resign_day = np.where(overdue, (u[3] * 3).astype(np.int64), tutors.resign_day).astype(
        np.int32
    )


def advance(
    tutors: TutorTable,
    *,
    day: int,
    alive: BoolArray,
    rng: np.random.Generator,
    params: BehaviourParams,
    hazard_reduction: FloatArray,
) -> AvailabilityChanges:
    """One day of latent dynamics for the ``alive`` tutors; returns availability changes."""
    n = len(tutors)
    eps = rng.standard_normal(n)
    u = rng.random((8, n))
    horizon = params.booking_horizon_days
    hours_before = weekly_hours(tutors)

    since = np.maximum(day - np.maximum(tutors.onboarding_day.astype(np.int64), 0), 0)
    level = tutors.level0 + tutors.drift * since
    c = tutors.commitment
    tutors.commitment = np.where(
        alive, c + params.reversion * (level - c) + params.volatility * eps, c
    )

    # Temporary dips: bad weeks of otherwise healthy tutors.
    staying = alive & (tutors.leave_mode == NO_LEAVE)
    in_dip = tutors.dip_left > 0
    tutors.dip_left = np.where(in_dip, tutors.dip_left - 1, 0).astype(np.int32)
    start_dip = staying & ~in_dip & (u[0] < params.dip_rate)
    low, high = params.dip_depth
    tutors.dip_depth = np.where(start_dip, low + (high - low) * u[1], tutors.dip_depth)
    shortest, longest = params.dip_days
    dip_days = shortest + (u[2] * (longest - shortest)).astype(np.int32)
    tutors.dip_left = np.where(start_dip, dip_days, tutors.dip_left).astype(np.int32)

    # Departures (interventions lower the hazard).
    hazard, life = departure_hazard(tutors, day, params, hazard_reduction)
    enter = staying & (u[3] < hazard)
    abrupt = staying & ~enter & (u[4] < life)
    mode = np.where(abrupt, ABRUPT, _modes(params, u[5]))
    starting = enter | abrupt
    _start_departures(tutors, starting, mode, np.full(n, day, dtype=np.int64), u[6], u[7])

    # Holidays, announced a booking horizon ahead so that no booked session needs cancelling.
    planned_or_on = (tutors.holiday_end >= day) & (tutors.holiday_end != NEVER)
    free = staying & ~starting & ~planned_or_on
    go = free & (u[1] < params.holiday_rate) & (u[0] >= params.dip_rate)
    shortest, longest = params.holiday_days
    length = shortest + (u[2] * (longest - shortest + 1)).astype(np.int64)
    tutors.holiday_start = np.where(go, day + horizon, tutors.holiday_start).astype(np.int32)
    tutors.holiday_end = np.where(go, day + horizon + length - 1, tutors.holiday_end).astype(
        np.int32
    )
    back = alive & (tutors.holiday_end == day - 1)

    # Small changes of availability now and then.
    tweak = staying & ~starting & ~go & ~back & (u[6] < 1 / 80)
    tutors.availability = np.where(
        tweak, np.clip(tutors.availability * (0.8 + 0.4 * u[4]), 0.7, 1.25), tutors.availability
    )

    refresh(tutors, day=day, alive=alive, params=params)

    hours_after = weekly_hours(tutors)
    cut_back = starting & (tutors.leave_mode > ABRUPT)
    index = np.flatnonzero(go | back | tweak | cut_back)
    before = np.where(back[index], 0.0, hours_before[index])
    after = np.where(go[index], 0.0, hours_after[index])
    reduced_hours = np.round(hours_before[index] * tutors.fade_floor[index].clip(0.1, 0.5), 1)
    after = np.where(cut_back[index], reduced_hours, after)
    return AvailabilityChanges(tutor=index.astype(np.int64), before=before, after=after)
