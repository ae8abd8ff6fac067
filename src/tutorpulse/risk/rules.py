"""The PRD §3.1 rule-based churn score: seven weighted components plus pattern bonuses.

Each component is normalised to 0..1: 0 at a healthy level, 1 at a level that on its own
should worry an operations manager (the PRD thresholds sit in between):
- engagement_decline: login decline over 14 days vs the 14 before, from 10% (0) to 60% (1);
  without a login baseline, engagement below 60% (0 at 60%, 1 at 0%);
- performance_trend: the larger of the 7-day rating drop below the 30-session mean (1 star =
  1) and the 30-session rating below 3.8 (2.5 or lower = 1);
- reschedule_pattern: the larger of the 30-day reschedule rate from 5% (0) to 30% (1) and
  last week's tutor-initiated reschedules from 1 (0) to 5 (1);
- first_session_quality: first-session success below 70% (30% or lower = 1);
- no_show_risk: 30-day no-show rate from 2% (0) to 12% (1);
- tenure_risk: 60 / (60 + tenure days): new tutors leave more often;
- availability_reduction: the larger of the 4-week availability cut (50% = 1) and last
  week's sessions falling more than 20% below the previous four weeks' average (70% = 1).
Score = 100 * sum(weight * component), + 15 / 20 / 25 for the poor-first-session, high-
rescheduling and no-show-risk patterns, capped at 100.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tutorpulse.metrics.compute import MIN_DUE_SESSIONS, MIN_FIRST_SESSIONS, MIN_RATED
from tutorpulse.metrics.flags import PATTERN_BONUS

COMPONENT_WEIGHTS = {
    "engagement_decline": 0.25,
    "performance_trend": 0.20,
    "reschedule_pattern": 0.15,
    "first_session_quality": 0.15,
    "no_show_risk": 0.10,
    "tenure_risk": 0.10,
    "availability_reduction": 0.05,
}
RISK_BANDS = ((76, "Critical"), (51, "High"), (26, "Medium"), (0, "Low"))


def risk_level(score: float) -> str:
    for floor, level in RISK_BANDS:
        if score >= floor:
            return level
    return "Low"


def _clip(values: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.clip(values, 0, 1), nan=0.0)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=float, na_value=np.nan)


def _masked(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, values, np.nan)


def rule_components(frame: pd.DataFrame) -> pd.DataFrame:
    # Plain float arrays, not Series: an incremental run scores a one-row frame, where the
    # per-operation overhead of pandas (dozens of aligned Series) costs more than the maths.
    def col(name: str) -> np.ndarray:
        return _column(frame, name)

    with np.errstate(invalid="ignore", divide="ignore"):
        login_decline = col("login_decline")
        decline = _clip((login_decline - 0.1) / 0.5)
        low_engagement = _clip((60 - col("w30_engagement_score")) / 60)
        engagement = np.where(~np.isnan(login_decline), decline, low_engagement)

        rated7 = _masked(col("w7_avg_rating"), col("w7_rated_n") >= 2)
        rated30 = _masked(col("rating_last30"), col("rating_last30_n") >= MIN_RATED)
        performance = np.maximum(_clip(rated30 - rated7), _clip((3.8 - rated30) / 1.3))

        due30 = col("w30_due_count")
        enough_due = _masked(due30, due30 >= MIN_DUE_SESSIONS)
        reschedule_rate = col("w30_reschedule_count") / enough_due
        last_week = np.fmax(col("w7_reschedule_request_count"), col("w7_reschedule_count"))
        reschedule = np.maximum(_clip((reschedule_rate - 0.05) / 0.25), _clip((last_week - 1) / 4))

        first_n = col("w30_first_rated_n")
        success = col("w30_first_success_count") / _masked(first_n, first_n >= MIN_FIRST_SESSIONS)
        first_quality = _clip((0.70 - success) / 0.40)

        no_show_rate = col("w30_no_show_count") / enough_due
        no_show = _clip((no_show_rate - 0.02) / 0.10)

        tenure_days = col("tenure_days")
        tenure = 60 / (60 + np.where(tenure_days < 0, 0.0, tenure_days))
        availability = np.maximum(
            _clip(-col("availability_change_pct") / 0.5),
            _clip((-col("sessions_trend") - 0.2) / 0.5),
        )
    return pd.DataFrame(
        {
            "engagement_decline": engagement,
            "performance_trend": performance,
            "reschedule_pattern": reschedule,
            "first_session_quality": first_quality,
            "no_show_risk": no_show,
            "tenure_risk": np.nan_to_num(tenure, nan=1.0),
            "availability_reduction": availability,
        },
        index=frame.index,
    )


def rule_scores(frame: pd.DataFrame, patterns: pd.DataFrame) -> pd.DataFrame:
    """Score, risk level and weighted contributions (in score points) per tutor."""
    components = rule_components(frame)
    points = {
        f"points_{name}": components[name].to_numpy() * weight * 100
        for name, weight in COMPONENT_WEIGHTS.items()
    }
    # Summed column by column, left to right: the same order (and float result) as a
    # row-wise sum of the contributions frame.
    total = np.zeros(len(frame))
    for values in points.values():
        total = total + values
    bonus = np.zeros(len(frame), dtype=np.int64)
    for code, bonus_points in PATTERN_BONUS.items():
        bonus = bonus + patterns[code].to_numpy(dtype=np.int64) * bonus_points
    score = np.round(np.minimum(total + bonus, 100)).astype(int)
    result = pd.DataFrame(points, index=frame.index)
    result["pattern_bonus"] = bonus
    result["score"] = score
    result["risk_level"] = [risk_level(value) for value in score.tolist()]
    return result
