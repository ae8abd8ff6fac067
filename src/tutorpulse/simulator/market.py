"""Students and tutors meeting: pairs form, book sessions and dissolve.

A tutor wants a weekly load (baseline x activity); students arrive while the tutor's pairs
carry less than that, pairs are trimmed when they carry clearly more. A pair meets on fixed
weekdays (``cadence`` of them, chosen along the weekly volume shape) and skips now and then.
Volume therefore follows the latent state with a realistic lag: a declining tutor first stops
taking new students, then declines sessions, then loses students.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tutorpulse.simulator import catalog
from tutorpulse.simulator.tables import PairTable

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

CADENCES = np.array([1.0, 2.0, 3.0])
CADENCE_WEIGHTS = np.array([0.45, 0.4, 0.15])
# Test prep is intense and short-lived: more sessions per week.
TEST_PREP_CADENCE_WEIGHTS = np.array([0.2, 0.5, 0.3])
MEAN_CADENCE = float(CADENCES @ CADENCE_WEIGHTS)
DURATIONS = np.array([30, 45, 60, 90])
DURATION_WEIGHTS = np.array([0.1, 0.2, 0.6, 0.1])
GROUP_SHARE = 0.08
MAX_NEW_PAIRS_PER_DAY = 4
ATTENDANCE = 0.93  # a regular slot is kept this often (exams, trips, illness)


def pair_load(pairs: PairTable, n_tutors: int) -> FloatArray:
    active = pairs.active
    load: FloatArray = np.bincount(
        pairs.tutor[active], weights=pairs.cadence[active], minlength=n_tutors
    ).astype(np.float64)
    return load


def trim(
    pairs: PairTable,
    *,
    load: FloatArray,
    desired: FloatArray,
    tolerance: float,
    rng: np.random.Generator,
) -> IntArray:
    """Pairs a tutor lets go of because they carry clearly more than the tutor wants."""
    u = rng.random(len(pairs))
    excess = load - desired * (1 + tolerance) - 1.0
    chance = np.where(
        excess > 0, np.clip(0.5 * (load - desired) / np.maximum(load, 1e-9), 0, 0.5), 0.0
    )
    ended = pairs.active & (u < chance[pairs.tutor])
    return np.flatnonzero(ended)


@dataclass(frozen=True)
class PairRequests:
    tutor: IntArray
    subject: npt.NDArray[np.int16]
    cadence: FloatArray
    duration: npt.NDArray[np.int16]
    group: BoolArray


def request_pairs(
    *,
    desired: FloatArray,
    load: FloatArray,
    eligible: BoolArray,
    family: npt.NDArray[np.int8],
    subjects: list[list[int]],
    fill_rate: FloatArray,
    rng: np.random.Generator,
) -> PairRequests:
    """New students for tutors whose pairs carry less than they want."""
    deficit = np.where(eligible, np.clip(desired - load, 0, None), 0.0)
    counts = np.minimum(rng.poisson(fill_rate * deficit / MEAN_CADENCE), MAX_NEW_PAIRS_PER_DAY)
    tutor = np.repeat(np.arange(len(desired), dtype=np.int64), counts)
    return pair_attributes(tutor, family=family, subjects=subjects, rng=rng)


def pair_attributes(
    tutor: IntArray,
    *,
    family: npt.NDArray[np.int8],
    subjects: list[list[int]],
    rng: np.random.Generator,
) -> PairRequests:
    """Subject (mostly the tutor's primary one), cadence, duration and format of new pairs."""
    m = len(tutor)
    u_subject, u_pick = rng.random(m), rng.random(m)
    chosen = np.empty(m, dtype=np.int16)
    for k, t in enumerate(tutor.tolist()):
        own = subjects[t]
        primary = u_subject[k] < 0.6 or len(own) == 1
        chosen[k] = own[0] if primary else own[1 + int(u_pick[k] * (len(own) - 1))]
    test_prep = family[tutor] == catalog.TEST_PREP
    cadence = np.where(
        test_prep,
        rng.choice(CADENCES, size=m, p=TEST_PREP_CADENCE_WEIGHTS),
        rng.choice(CADENCES, size=m, p=CADENCE_WEIGHTS),
    )
    group = rng.random(m) < GROUP_SHARE
    duration = rng.choice(DURATIONS, size=m, p=DURATION_WEIGHTS)
    duration = np.where(group, np.maximum(duration, 60), duration).astype(np.int16)
    return PairRequests(
        tutor=tutor, subject=chosen, cadence=cadence, duration=duration, group=group
    )


def weekday_masks(cadence: FloatArray, rng: np.random.Generator) -> npt.NDArray[np.int16]:
    """``cadence`` distinct meeting weekdays per pair, favouring the busy days of the week."""
    keys = np.log(catalog.WEEKDAY_VOLUME)[None, :] + rng.gumbel(size=(len(cadence), 7))
    ranking = np.argsort(-keys, axis=1)
    chosen = np.arange(7)[None, :] < cadence.astype(np.int64)[:, None]
    bits = np.where(chosen, 1 << ranking, 0)
    return bits.sum(axis=1).astype(np.int16)


def choose_bookings(
    pairs: PairTable,
    *,
    accept: FloatArray,
    weekday: int,
    rng: np.random.Generator,
) -> IntArray:
    """Pairs that book a session on the target day (at most one per pair and day)."""
    u = rng.random(len(pairs))
    meets = (pairs.weekdays.astype(np.int64) >> weekday) & 1 == 1
    chance = np.where(meets, ATTENDANCE, 0.0) * accept[pairs.tutor]
    return np.flatnonzero(pairs.active & (u < chance))


def assign_hours(
    tutor: IntArray, *, weekend: bool, rng: np.random.Generator
) -> tuple[IntArray, BoolArray]:
    """Distinct start hours per tutor and day (Gumbel top-k on the day's hour profile)."""
    weights = catalog.WEEKEND_HOUR_WEIGHTS if weekend else catalog.WEEKDAY_HOUR_WEIGHTS
    n_hours = len(catalog.SESSION_HOURS)
    order = np.argsort(tutor, kind="stable")
    sorted_tutor = tutor[order]
    unique, first, counts = np.unique(sorted_tutor, return_index=True, return_counts=True)
    rank_sorted = np.arange(len(tutor)) - np.repeat(first, counts)
    keys = np.log(weights)[None, :] + rng.gumbel(size=(len(unique), n_hours))
    ranking = np.argsort(-keys, axis=1)
    row = np.repeat(np.arange(len(unique)), counts)
    fits = rank_sorted < n_hours
    hour_sorted = np.full(len(tutor), -1, dtype=np.int64)
    hour_sorted[fits] = catalog.SESSION_HOURS[ranking[row[fits], rank_sorted[fits]]]
    hours = np.empty(len(tutor), dtype=np.int64)
    hours[order] = hour_sorted
    return hours, hours >= 0
