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
from tutorpulse.metrics.flags import PATTERN_BONUS, reschedules_last_week

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


def _clip(values: pd.Series) -> pd.Series:
    return values.clip(lower=0, upper=1).fillna(0)


def rule_components(frame: pd.DataFrame) -> pd.DataFrame:
    decline = _clip((frame["login_decline"] - 0.1) / 0.5)
    low_engagement = _clip((60 - frame["w30_engagement_score"]) / 60)
    engagement = decline.where(frame["login_decline"].notna(), low_engagement)

    rated7 = frame["w7_avg_rating"].where(frame["w7_rated_n"] >= 2)
    rated30 = frame["rating_last30"].where(frame["rating_last30_n"] >= MIN_RATED)
    performance = np.maximum(_clip(rated30 - rated7), _clip((3.8 - rated30) / 1.3))

    due30 = frame["w30_due_count"]
    reschedule_rate = frame["w30_reschedule_count"] / due30.where(due30 >= MIN_DUE_SESSIONS)
    reschedule = np.maximum(
        _clip((reschedule_rate - 0.05) / 0.25), _clip((reschedules_last_week(frame) - 1) / 4)
    )

    first_n = frame["w30_first_rated_n"]
    success = frame["w30_first_success_count"] / first_n.where(first_n >= MIN_FIRST_SESSIONS)
    first_quality = _clip((0.70 - success) / 0.40)

    no_show_rate = frame["w30_no_show_count"] / due30.where(due30 >= MIN_DUE_SESSIONS)
    no_show = _clip((no_show_rate - 0.02) / 0.10)

    tenure = 60 / (60 + frame["tenure_days"].clip(lower=0))
    availability = np.maximum(
        _clip(-frame["availability_change_pct"] / 0.5),
        _clip((-frame["sessions_trend"] - 0.2) / 0.5),
    )
    return pd.DataFrame(
        {
            "engagement_decline": engagement,
            "performance_trend": performance,
            "reschedule_pattern": reschedule,
            "first_session_quality": first_quality,
            "no_show_risk": no_show,
            "tenure_risk": tenure.fillna(1.0),
            "availability_reduction": availability,
        },
        index=frame.index,
    )


def rule_scores(frame: pd.DataFrame, patterns: pd.DataFrame) -> pd.DataFrame:
    """Score, risk level and weighted contributions (in score points) per tutor."""
    components = rule_components(frame)
    contributions = components * pd.Series(COMPONENT_WEIGHTS) * 100
    bonus = sum(patterns[code].astype(int) * points for code, points in PATTERN_BONUS.items())
    score = (contributions.sum(axis=1) + bonus).clip(upper=100).round().astype(int)
    result = contributions.add_prefix("points_")
    result["pattern_bonus"] = bonus
    result["score"] = score
    result["risk_level"] = score.map(risk_level)
    return result
