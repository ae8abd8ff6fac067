"""Red-flag thresholds (PRD 2.1) and retention patterns (PRD 3.3), from the metric frame.

A threshold flag needs its minimum sample size: "not enough data" never raises a red flag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from tutorpulse.metrics.compute import (
    MIN_DUE_SESSIONS,
    MIN_FIRST_SESSIONS,
    MIN_NO_SHOW_BASE,
    MIN_RATED,
)
from tutorpulse.metrics.data import MarketData, day_end

HIGH_RESCHEDULES_PER_WEEK = 3
LOGIN_DECLINE = 0.30
NO_SHOW_MISSED_SESSIONS = 2
POOR_FIRST_SESSIONS = 2


class Columns:
    """A metric frame's columns as float arrays, converted once and on first use.

    Flags and scores read a few dozen columns; on the one-row frame of an incremental run the
    per-operation overhead of pandas Series costs far more than the arithmetic.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None:
            array = self.frame[name].to_numpy(dtype=float, na_value=np.nan)
            self._arrays[name] = array
        return array


@dataclass(frozen=True)
class ThresholdRule:
    """``value`` and ``enough`` read float columns (``Columns``); NaN: no value."""

    code: str
    label: str
    value: Callable[[Columns], np.ndarray]
    enough: Callable[[Columns], np.ndarray]
    breached: Callable[[np.ndarray], np.ndarray]
    threshold: str


def _rate(numerator: str, denominator: str) -> Callable[[Columns], np.ndarray]:
    return lambda f: f[numerator] / np.where(f[denominator] > 0, f[denominator], np.nan)


def _at_least(column: str, minimum: int) -> Callable[[Columns], np.ndarray]:
    return lambda f: f[column] >= minimum


THRESHOLD_RULES: tuple[ThresholdRule, ...] = (
    ThresholdRule(
        "low_rating",
        "Session rating average below 3.5",
        lambda f: f["rating_last30"],
        _at_least("rating_last30_n", MIN_RATED),
        lambda v: v < 3.5,
        "< 3.5",
    ),
    ThresholdRule(
        "low_first_session_success",
        "First-session success below 70%",
        _rate("w30_first_success_count", "w30_first_rated_n"),
        _at_least("w30_first_rated_n", MIN_FIRST_SESSIONS),
        lambda v: v < 0.70,
        "< 70%",
    ),
    ThresholdRule(
        "high_reschedule_rate",
        "Reschedule rate above 15%",
        _rate("w30_reschedule_count", "w30_due_count"),
        _at_least("w30_due_count", MIN_DUE_SESSIONS),
        lambda v: v > 0.15,
        "> 15%",
    ),
    ThresholdRule(
        "high_no_show_rate",
        "No-show rate above 5%",
        _rate("w30_no_show_count", "w30_due_count"),
        _at_least("w30_due_count", MIN_NO_SHOW_BASE),
        lambda v: v > 0.05,
        "> 5%",
    ),
    ThresholdRule(
        "low_engagement",
        "Engagement below 60%",
        lambda f: f["w30_engagement_score"],
        lambda f: ~np.isnan(f["w30_engagement_score"]),
        lambda v: v < 60,
        "< 60%",
    ),
    ThresholdRule(
        "low_objectives_met",
        "Learning objectives met below 80%",
        _rate("w30_objectives_met_count", "w30_held_n"),
        _at_least("w30_held_n", MIN_DUE_SESSIONS),
        lambda v: v < 0.80,
        "< 80%",
    ),
)

PATTERN_LABELS = {
    "poor_first_session": "Poor first-session experience",
    "high_rescheduling": "High rescheduling",
    "no_show_risk": "No-show risk",
    "engagement_decline": "Engagement decline",
}
PATTERN_BONUS = {"poor_first_session": 15, "high_rescheduling": 20, "no_show_risk": 25}


def threshold_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Boolean column per threshold rule (False when there is not enough data)."""
    columns = Columns(frame)
    # NaN compares False: an unknown value never breaches a threshold.
    return pd.DataFrame(
        {
            rule.code: rule.enough(columns) & rule.breached(rule.value(columns))
            for rule in THRESHOLD_RULES
        },
        index=frame.index,
        columns=[rule.code for rule in THRESHOLD_RULES],
        dtype=bool,
    )


def reschedules_last_week(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(_reschedules_last_week(Columns(frame)), index=frame.index)


def _reschedules_last_week(columns: Columns) -> np.ndarray:
    # Reschedule events and flagged sessions each undercount when a feed lacks the other.
    return np.fmax(columns["w7_reschedule_request_count"], columns["w7_reschedule_count"])


def pattern_flags(frame: pd.DataFrame) -> pd.DataFrame:
    f = Columns(frame)
    login_decline = np.nan_to_num(f["login_decline"], nan=0.0)
    # One poor first session can be noise (a quarter of all first sessions go badly); a
    # student's explicit negative answer, or a repeated pattern, is a signal.
    return pd.DataFrame(
        {
            "poor_first_session": (f["first_session_negative_feedback_30d_count"] > 0)
            | (f["first_session_poor_30d_count"] >= POOR_FIRST_SESSIONS)
            | (f["first_session_no_follow_up_30d_count"] >= POOR_FIRST_SESSIONS),
            "high_rescheduling": _reschedules_last_week(f) > HIGH_RESCHEDULES_PER_WEEK,
            "no_show_risk": (f["no_show_14d_count"] > 0)
            | (
                (login_decline > LOGIN_DECLINE) & (f["w30_no_show_count"] > NO_SHOW_MISSED_SESSIONS)
            ),
            "engagement_decline": login_decline >= LOGIN_DECLINE,
        },
        index=frame.index,
        dtype=bool,
    )


PATTERN_EVIDENCE_KEYS: dict[str, tuple[str, ...]] = {
    "poor_first_session": (
        "first_session_poor_30d_count",
        "first_session_negative_feedback_30d_count",
        "first_session_no_follow_up_30d_count",
        "first_sessions_30d_n",
    ),
    "high_rescheduling": (
        "w7_reschedule_request_count",
        "w7_reschedule_count",
        "w7_short_notice_reschedule_count",
    ),
    "no_show_risk": ("no_show_14d_count", "w30_no_show_count", "login_decline"),
    "engagement_decline": ("login_decline", "w7_login_count", "w30_login_count"),
}


def pattern_evidence(frame: pd.DataFrame, tutor_id: str, code: str) -> dict[str, float | int]:
    row = frame.loc[tutor_id]
    keys = PATTERN_EVIDENCE_KEYS.get(code, PATTERN_EVIDENCE_KEYS["engagement_decline"])
    return {key: _plain(row[key]) for key in keys}


def _plain(value: object) -> float | int:
    if isinstance(value, (np.integer, int)):
        return int(value)
    number = float(value)  # type: ignore[arg-type]
    return round(number, 4) if not np.isnan(number) else float("nan")


EVIDENCE_LIMIT = 10


def evidence_sessions(
    data: MarketData, *, as_of: date, patterns: pd.DataFrame
) -> dict[tuple[str, str], list[str]]:
    """The sessions behind the poor-first-session and no-show patterns of flagged tutors."""
    end = pd.Timestamp(day_end(as_of))
    sessions = data.sessions
    found: dict[tuple[str, str], list[str]] = {}
    checks = {
        "poor_first_session": (
            30,
            lambda s: (
                (s["session_number"] == 1)
                & ((s["student_rating"] < 3) | (s["late_start_minutes"] > 10))
            ),
        ),
        "no_show_risk": (14, lambda s: s["no_show"].fillna(False).astype(bool)),
    }
    for code, (days, condition) in checks.items():
        flagged = set(patterns.index[patterns[code].to_numpy(dtype=bool)])
        if not flagged:
            continue
        recent = sessions[
            sessions["tutor_id"].isin(flagged)
            & (sessions["scheduled_start"] >= end - pd.Timedelta(days=days))
            & (sessions["scheduled_start"] < end)
        ]
        hits = recent[condition(recent)].sort_values("scheduled_start", ascending=False)
        for tutor_id, group in hits.groupby("tutor_id"):
            found[(str(tutor_id), code)] = list(group["session_id"].head(EVIDENCE_LIMIT))
    return found
