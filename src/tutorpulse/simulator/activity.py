"""A tutor's day on the platform outside sessions: logins, messages, training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tutorpulse.simulator import catalog
from tutorpulse.simulator.latent import ABRUPT
from tutorpulse.simulator.tables import TutorTable

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_ACTIVITY_P = catalog.ACTIVITY_HOUR_WEIGHTS / catalog.ACTIVITY_HOUR_WEIGHTS.sum()


@dataclass(frozen=True)
class DailyActivity:
    login_tutor: IntArray
    login_at: IntArray
    message_tutor: IntArray
    message_at: IntArray
    response_minutes: FloatArray
    training_tutor: IntArray
    training_at: IntArray
    training_module: list[str]


def _moments(rng: np.random.Generator, day_start: int, count: int) -> IntArray:
    hours = rng.choice(24, size=count, p=_ACTIVITY_P)
    seconds = rng.integers(0, 3600, count)
    return (day_start + hours * 3600 + seconds).astype(np.int64)


def simulate_activity(
    tutors: TutorTable,
    *,
    present: BoolArray,
    on_holiday: BoolArray,
    fade: FloatArray,
    load: FloatArray,
    day: int,
    day_start: int,
    rng: np.random.Generator,
) -> DailyActivity:
    n = len(tutors)
    e = tutors.engagement
    departing = tutors.leave_mode > ABRUPT
    away = np.where(on_holiday, 0.2, 1.0) * np.where(departing, 0.35 + 0.65 * fade, 1.0)

    login_rate = (0.25 + 1.7 * e**1.5) * tutors.login_trait * away
    logins = np.where(present, rng.poisson(login_rate), 0)
    login_tutor = np.repeat(np.arange(n, dtype=np.int64), logins)
    login_at = _moments(rng, day_start, len(login_tutor))

    message_rate = (0.2 + 0.9 * e) * np.clip((load + 2) / 12, 0.3, 2.0) * away
    messages = np.where(present, rng.poisson(message_rate), 0)
    message_tutor = np.repeat(np.arange(n, dtype=np.int64), messages)
    message_at = _moments(rng, day_start, len(message_tutor))
    typical = np.log(12 * tutors.response_trait) + 2.3 * (1 - e)
    response = np.exp(typical[message_tutor] + 0.75 * rng.standard_normal(len(message_tutor)))
    response_minutes = np.round(np.clip(response, 0.5, 4320), 1)

    tenure = day - tutors.onboarding_day.astype(np.int64)
    onboarding = (tutors.training_done < catalog.ONBOARDING_MODULES) & (tenure >= 0)
    chance = np.where(onboarding, 0.18, 0.004 + 0.014 * e) * away
    trains = present & (rng.random(n) < chance)
    training_tutor = np.flatnonzero(trains).astype(np.int64)
    training_at = _moments(rng, day_start, len(training_tutor))
    picks = rng.integers(
        catalog.ONBOARDING_MODULES, len(catalog.TRAINING_MODULES), len(training_tutor)
    )
    modules = []
    for t, pick in zip(training_tutor.tolist(), picks.tolist(), strict=True):
        done = int(tutors.training_done[t])
        modules.append(
            catalog.TRAINING_MODULES[done if done < catalog.ONBOARDING_MODULES else pick]
        )
    tutors.training_done[training_tutor] += 1
    return DailyActivity(
        login_tutor=login_tutor,
        login_at=login_at,
        message_tutor=message_tutor,
        message_at=message_at,
        response_minutes=response_minutes,
        training_tutor=training_tutor,
        training_at=training_at,
        training_module=modules,
    )
