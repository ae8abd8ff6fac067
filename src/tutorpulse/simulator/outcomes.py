"""What happens in a session: attendance, punctuality, quality, ratings and feedback.

Everything is drawn per session from the tutor's engagement on the day, the tutor's skills,
the slot (mornings and Mondays see more no-shows), the subject family and, for first sessions,
the tutor's tenure. Noise is large on purpose: a good tutor has bad sessions too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tutorpulse.simulator.config import BehaviourParams
from tutorpulse.simulator.latent import ABRUPT, sigmoid
from tutorpulse.simulator.tables import BookingTable, TutorTable

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

WOULD_WORK_AGAIN = ("yes", "maybe", "probably_not", "no")
# P(would_work_again answer | overall rating), rows for ratings 1..5.
WOULD_WORK_AGAIN_GIVEN_RATING = np.array(
    [
        [0.0, 0.04, 0.36, 0.6],
        [0.02, 0.08, 0.45, 0.45],
        [0.12, 0.48, 0.32, 0.08],
        [0.66, 0.29, 0.05, 0.0],
        [0.92, 0.08, 0.0, 0.0],
    ]
)
CATEGORY_NAMES = ("subject_knowledge", "communication", "patience", "engagement", "helpfulness")


@dataclass(frozen=True)
class SessionOutcomes:
    no_show: BoolArray
    late_minutes: IntArray
    technical_issues: BoolArray
    engagement_score: FloatArray
    objectives_met: BoolArray
    rating_latent: FloatArray
    rating: IntArray
    prepped: BoolArray
    prep_minutes: IntArray
    prep_at: IntArray
    has_feedback: BoolArray
    has_text: BoolArray
    feedback_at: IntArray
    categories: IntArray  # (n, 5) sub-ratings
    would_recommend: BoolArray
    would_work_again: IntArray  # index into WOULD_WORK_AGAIN, -1 when not a first session
    pair_ends: BoolArray
    student_moves_on: BoolArray  # looks for another tutor after the pair ends


def simulate_sessions(
    sessions: BookingTable,
    tutors: TutorTable,
    *,
    day: int,
    day_start: int,
    weekday: int,
    params: BehaviourParams,
    rng: np.random.Generator,
) -> SessionOutcomes:
    n = len(sessions)
    tutor = sessions.tutor.astype(np.int64)
    u = rng.random((14, n))
    z = rng.standard_normal((8, n))
    e = tutors.engagement[tutor]
    quality = tutors.quality[tutor]
    departing = tutors.leave_mode[tutor] > ABRUPT
    family = tutors.family[tutor].astype(np.int64)
    hour = (sessions.start - day_start) // 3600
    first = sessions.number == 1
    tenure = np.maximum(day - tutors.onboarding_day[tutor].astype(np.int64), 0)

    no_show_chance = params.no_show_base * np.exp(params.no_show_engagement * (1 - e))
    no_show_chance *= np.where(hour < 12, params.no_show_morning, 1.0)
    no_show_chance *= params.no_show_monday if weekday == 0 else 1.0
    no_show_chance *= np.where(departing, 1.6, 1.0)
    no_show = u[0] < np.minimum(no_show_chance, 0.6)

    late_chance = 0.18 + 0.35 * (1 - e)
    late_size = 1 + rng.geometric(1.0 / (2.5 + 9 * (1 - e)))
    late_minutes = np.where(~no_show & (u[1] < late_chance), np.minimum(late_size, 45), 0)
    technical = ~no_show & (u[2] < tutors.tech_rate[tutor] * (1 + 0.6 * (1 - e)))

    prepped = ~no_show & (u[3] < np.clip((0.2 + 0.7 * e) * tutors.prep_trait[tutor], 0.05, 0.97))
    prep_minutes = np.clip(np.round(np.exp(np.log(6 + 16 * e) + 0.45 * z[0])), 2, 90).astype(
        np.int64
    )
    lead = (5 + 85 * u[4]).astype(np.int64)
    prep_at = np.maximum(sessions.start - 60 * (prep_minutes + lead), day_start)

    engagement_score = np.clip(
        0.36 + 0.4 * e + 0.1 * quality + 0.08 * z[1] - 0.08 * technical - 0.004 * late_minutes,
        0.02,
        0.99,
    )
    objectives = u[5] < sigmoid(-2.4 + 4.6 * engagement_score + 0.5 * quality - 0.3 * ~prepped)

    skill = np.where(first, tutors.first_skill[tutor], quality)
    latent = (
        params.rating_level
        + 0.55 * skill
        + 1.1 * (engagement_score - 0.72)
        - 0.5 * technical
        - 0.04 * late_minutes
        - 0.25 * ~prepped
        + 0.25 * objectives
        + params.rating_noise * z[2]
    )
    tenure_bonus = params.tenure_first_bonus * np.minimum(tenure / 180.0, 1.0)
    first_shift = -params.first_session_penalty - np.asarray(params.family_first_penalty)[family]
    latent = np.where(first, latent + first_shift + tenure_bonus + 0.35 * z[3], latent)
    rating = np.clip(np.round(latent), 1, 5).astype(np.int64)

    held = ~no_show
    feedback_rate = np.where(first, params.feedback_rate_first, params.feedback_rate_other)
    has_feedback = held & (u[6] < feedback_rate)
    has_text = has_feedback & (u[7] < params.free_text_rate + 0.15 * (rating <= 2))
    end = sessions.start + 60 * (late_minutes + sessions.duration.astype(np.int64))
    delay_minutes = np.minimum(np.exp(3.6 + 1.1 * z[4]), 36 * 60).astype(np.int64) + 1
    feedback_at = end + 60 * delay_minutes

    offsets = np.array([0.2, 0.0, 0.05, -0.05, 0.0])
    categories = np.clip(
        np.round(
            latent[:, None]
            + offsets[None, :]
            + 0.55 * rng.standard_normal((n, 5))
            + np.column_stack(
                [
                    0.25 * quality,
                    np.zeros(n),
                    np.zeros(n),
                    1.2 * (engagement_score - 0.7),
                    np.zeros(n),
                ]
            )
        ),
        1,
        5,
    ).astype(np.int64)
    would_recommend = u[8] < sigmoid(2.6 * (rating - 3.4))
    cumulative = np.cumsum(WOULD_WORK_AGAIN_GIVEN_RATING[rating - 1], axis=1)
    answer = (u[9][:, None] > cumulative).sum(axis=1)
    would_work_again = np.where(first, np.minimum(answer, 3), -1)

    end_chance = np.where(
        first,
        np.select([latent >= 4.5, latent >= 3.5, latent >= 2.5], [0.08, 0.17, 0.42], 0.72),
        0.07 + 0.12 * (latent < 3.0),
    )
    end_chance = np.where(no_show, 0.35, end_chance)
    pair_ends = u[10] < end_chance
    unhappy = no_show | (latent < 3.0)
    moves_on = pair_ends & (u[11] < np.where(unhappy, 0.65, 0.15))
    return SessionOutcomes(
        no_show=no_show,
        late_minutes=late_minutes.astype(np.int64),
        technical_issues=technical,
        engagement_score=np.round(engagement_score, 2),
        objectives_met=objectives,
        rating_latent=latent,
        rating=rating,
        prepped=prepped,
        prep_minutes=prep_minutes,
        prep_at=prep_at.astype(np.int64),
        has_feedback=has_feedback,
        has_text=has_text,
        feedback_at=feedback_at.astype(np.int64),
        categories=categories,
        would_recommend=would_recommend,
        would_work_again=would_work_again.astype(np.int64),
        pair_ends=pair_ends,
        student_moves_on=moves_on,
    )


def improvement_areas(outcomes: SessionOutcomes, index: int, rng_values: FloatArray) -> list[str]:
    """Areas a student names after a disappointing first session (never empty)."""
    areas: list[str] = []
    if outcomes.late_minutes[index] >= 5:
        areas.append("late")
    if not outcomes.prepped[index] and rng_values[0] < 0.7:
        areas.append("unprepared")
    if (not outcomes.objectives_met[index] or outcomes.categories[index, 1] <= 2) and rng_values[
        1
    ] < 0.8:
        areas.append("unclear")
    if outcomes.categories[index, 2] <= 2 and rng_values[2] < 0.8:
        areas.append("not_patient")
    if outcomes.technical_issues[index]:
        areas.append("technical_issues")
    if not areas:
        areas.append(("unclear", "unprepared", "not_patient")[int(rng_values[3] * 3)])
    return areas
