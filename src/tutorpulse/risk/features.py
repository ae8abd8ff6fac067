"""Point-in-time churn features: one row per tutor and day, from the metrics engine's frame.

A day's features are ``compute_metrics`` on exactly what the pipeline loads for that day
(sessions of the last 120 days, events of 91, feedback of 31, all before the day's end), plus
a few figures derived from the same slice: calendar weeks against the tutor's baseline (the
churn definition counts Monday-Sunday weeks), recent pace against the tutor's own usual one,
the interventions received by then (``intervention_features``), and the date itself. Training
loads the whole range once and slices it per day, so a training row and a live score of the
same tutor-day are the same numbers. Never used: the archetype, ``source``, or any simulator state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from tutorpulse.metrics.compute import compute_metrics
from tutorpulse.metrics.data import (
    EVENT_LOOKBACK_DAYS,
    FEEDBACK_LOOKBACK_DAYS,
    LOOKBACK_DAYS,
    MarketData,
    day_end,
    day_start,
)
from tutorpulse.metrics.flags import pattern_flags
from tutorpulse.risk.intervention_features import INTERVENTION_FEATURES, intervention_features
from tutorpulse.risk.rules import rule_scores

NEW_TUTOR_DAYS = 30
REDUCED_SHARE = 0.5
# An availability change to under this share of the previous weekly hours (but not to zero,
# which is a pause such as a holiday) is a cut: ordinary adjustments move hours by ±20%.
CUT_SHARE = 0.6
DAY_NS = 86_400 * 10**9

# Feature -> the PRD §3.1 component it belongs to (explanations are grouped this way);
# "calendar" features describe the date, not the tutor, and are never a top factor.
FEATURE_COMPONENTS: dict[str, str] = {
    "tenure_days": "tenure_risk",
    "is_new": "tenure_risk",
    "baseline_sessions_per_week": "tenure_risk",
    "subjects_taught": "tenure_risk",
    "training_completed_90d": "engagement_decline",
    "sessions_7d": "availability_reduction",
    "sessions_30d": "availability_reduction",
    "sessions_90d": "availability_reduction",
    "sessions_trend": "availability_reduction",
    "sessions_7d_vs_baseline": "availability_reduction",
    "sessions_30d_vs_baseline": "availability_reduction",
    "days_since_last_session": "availability_reduction",
    "low_weeks_streak": "availability_reduction",
    "last_week_vs_baseline": "availability_reduction",
    "this_week_pace": "availability_reduction",
    "sessions_3d_vs_baseline": "availability_reduction",
    "sessions_14d_vs_baseline": "availability_reduction",
    "active_days_14d": "availability_reduction",
    "pace_fast_vs_baseline": "availability_reduction",
    "pace_slow_vs_baseline": "availability_reduction",
    "pace_fast_vs_slow": "availability_reduction",
    "sessions_7d_vs_30d": "availability_reduction",
    "sessions_30d_vs_90d": "availability_reduction",
    "bookings_7d_vs_30d": "availability_reduction",
    "sessions_missed_since_last": "availability_reduction",
    "availability_vs_baseline": "availability_reduction",
    "availability_hours_current": "availability_reduction",
    "availability_change_pct": "availability_reduction",
    "availability_changes_30d": "availability_reduction",
    "days_since_availability_cut": "availability_reduction",
    "availability_cut_ratio": "availability_reduction",
    "rating_7d": "performance_trend",
    "rating_30d": "performance_trend",
    "rating_last30": "performance_trend",
    "rating_trend": "performance_trend",
    "objectives_met_rate_30d": "performance_trend",
    "technical_issues_rate_30d": "performance_trend",
    "in_session_engagement_7d": "performance_trend",
    "in_session_engagement_30d": "performance_trend",
    "in_session_engagement_trend": "performance_trend",
    "objectives_met_trend": "performance_trend",
    "first_session_success_rate": "first_session_quality",
    "first_sessions_30d": "first_session_quality",
    "first_session_poor_30d": "first_session_quality",
    "first_session_negative_feedback_30d": "first_session_quality",
    "first_session_no_follow_up_30d": "first_session_quality",
    "logins_7d": "engagement_decline",
    "logins_30d": "engagement_decline",
    "login_decline": "engagement_decline",
    "days_since_last_login": "engagement_decline",
    "engagement_score": "engagement_decline",
    "engagement_7d": "engagement_decline",
    "prep_minutes_7d": "engagement_decline",
    "response_p50": "engagement_decline",
    "response_p95": "engagement_decline",
    "engagement_trend": "engagement_decline",
    "logins_7d_vs_30d": "engagement_decline",
    "prep_minutes_30d": "engagement_decline",
    "prep_trend": "engagement_decline",
    "response_trend": "engagement_decline",
    "responses_7d_vs_30d": "engagement_decline",
    "prep_count_7d_vs_30d": "engagement_decline",
    "logins_30d_vs_90d": "engagement_decline",
    "engagement_7d_vs_90d": "engagement_decline",
    "reschedule_rate_7d": "reschedule_pattern",
    "reschedule_rate_30d": "reschedule_pattern",
    "reschedules_7d": "reschedule_pattern",
    "reschedules_30d": "reschedule_pattern",
    "short_notice_reschedules_30d": "reschedule_pattern",
    "no_show_14d": "no_show_risk",
    "no_show_30d": "no_show_risk",
    "late_starts_30d": "no_show_risk",
    "no_show_rate_30d": "no_show_risk",
    "day_of_week": "calendar",
    "month": "calendar",
    "is_holiday_season": "calendar",
    # What we did, not how the tutor behaves: a feature so that scores reflect the effect of
    # interventions (issue 7), never a top factor (see ``explain``).
    **{name: "interventions" for name in INTERVENTION_FEATURES},
}
FEATURES: tuple[str, ...] = tuple(FEATURE_COMPONENTS)
# Components that describe the date or our own actions rather than the tutor.
NOT_TUTOR_COMPONENTS = frozenset({"calendar", "interventions"})
# Not features: carried along for baselines and explanations.
SIDE_COLUMNS = ("rule_score", "reschedules_30d_weekly", "logins_30d_weekly", "rating_last30_n")

# An extension point: extra columns per tutor for a day, computed from data up to that day
# only (the interventions received are built in, see ``intervention_features``).
FeatureHook = Callable[[MarketData, date, pd.Index], pd.DataFrame]


def is_holiday_season(day: date) -> bool:
    """School breaks: mid-December to early January, and July-August."""
    return (
        (day.month == 12 and day.day >= 15)
        or (day.month == 1 and day.day <= 6)
        or (day.month in (7, 8))
    )


def compact(data: MarketData) -> MarketData:
    """The same frames with repeated strings as categories and rows in time order.

    Equal values, much cheaper comparisons: ``compute_metrics`` runs several times faster on
    it, which is what makes a feature per tutor-day affordable.
    """

    def prepare(frame: pd.DataFrame, time_column: str, columns: Iterable[str]) -> pd.DataFrame:
        frame = frame.sort_values(time_column, kind="stable", ignore_index=True)
        for column in columns:
            if column in frame:
                frame[column] = frame[column].astype("category")
        return frame

    return MarketData(
        tutors=data.tutors,
        sessions=prepare(
            data.sessions, "scheduled_start", ("tutor_id", "student_id", "status", "subject")
        ),
        feedback=prepare(data.feedback, "submitted_at", ("tutor_id", "would_work_again")),
        events=prepare(data.events, "event_timestamp", ("tutor_id", "event_type", "initiated_by")),
    )


def day_slice(data: MarketData, day: date) -> MarketData:
    """What ``load_market_data(as_of=day)`` would read, cut from time-ordered frames."""

    def cut(frame: pd.DataFrame, column: str, lookback: int) -> pd.DataFrame:
        times = frame[column].to_numpy(dtype="datetime64[ns]")
        lo = np.searchsorted(times, _naive(day_start(day - timedelta(days=lookback))))
        hi = np.searchsorted(times, _naive(day_end(day)))
        return frame.iloc[lo:hi]

    end = pd.Timestamp(day_end(day))
    return MarketData(
        tutors=data.tutors[data.tutors["onboarding_date"] < end],
        sessions=cut(data.sessions, "scheduled_start", LOOKBACK_DAYS),
        feedback=cut(data.feedback, "submitted_at", FEEDBACK_LOOKBACK_DAYS),
        events=cut(data.events, "event_timestamp", EVENT_LOOKBACK_DAYS),
    )


def _naive(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.replace(tzinfo=None), "ns")


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator > 0)


def features_from_metrics(
    metrics: pd.DataFrame,
    data: MarketData,
    *,
    as_of: date,
    hooks: Sequence[FeatureHook] = (),
    interventions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Feature columns (``FEATURES`` then ``SIDE_COLUMNS``) for the tutors of ``metrics``.

    ``interventions``: the history of ``intervention_features.load_intervention_history``
    (any range; only what reached a tutor by the end of ``as_of`` counts); None = none.
    """
    m = metrics
    baseline = m["baseline_sessions_per_week"].where(m["baseline_sessions_per_week"] > 0)
    f = pd.DataFrame(index=m.index)
    f["tenure_days"] = m["tenure_days"].astype(float)
    f["is_new"] = (m["tenure_days"] < NEW_TUTOR_DAYS).astype(float)
    f["baseline_sessions_per_week"] = m["baseline_sessions_per_week"]
    subjects = data.tutors.drop_duplicates("tutor_id").set_index("tutor_id")["subjects"]
    f["subjects_taught"] = subjects.reindex(m.index).map(
        lambda s: float(len(s)) if isinstance(s, list) else np.nan
    )
    f["training_completed_90d"] = m["w90_training_count"]
    for window in (7, 30, 90):
        f[f"sessions_{window}d"] = m[f"w{window}_completed_count"]
    f["sessions_trend"] = m["sessions_trend"]
    f["sessions_7d_vs_baseline"] = m["w7_completed_count"] / baseline
    f["sessions_30d_vs_baseline"] = m["w30_completed_count"] / (baseline * 30 / 7)
    f["days_since_last_session"] = m["days_since_last_session"]
    weeks = _calendar_weeks(data, as_of=as_of, index=m.index, baseline=baseline)
    f = f.join(weeks)
    f["availability_hours_current"] = m["availability_hours_current"]
    f["availability_change_pct"] = m["availability_change_pct"]
    f["availability_changes_30d"] = m["w30_availability_change_count"]
    f = f.join(_availability_cut(data, as_of=as_of, index=m.index))
    f["rating_7d"] = m["w7_avg_rating"]
    f["rating_30d"] = m["w30_avg_rating"]
    f["rating_last30"] = m["rating_last30"]
    f["rating_trend"] = m["w7_avg_rating"] - m["rating_last30"]
    f["objectives_met_rate_30d"] = _rate(m["w30_objectives_met_count"], m["w30_held_n"])
    f["technical_issues_rate_30d"] = _rate(m["w30_technical_issue_count"], m["w30_held_n"])
    f["in_session_engagement_7d"] = m["w7_avg_engagement_in_session"]
    f["in_session_engagement_30d"] = m["w30_avg_engagement_in_session"]
    # Trends compare a tutor with themself: levels differ a lot between tutors, a fall
    # from one's own usual is the early sign of leaving.
    f["in_session_engagement_trend"] = (
        m["w7_avg_engagement_in_session"] - m["w30_avg_engagement_in_session"]
    )
    f["objectives_met_trend"] = (
        _rate(m["w7_objectives_met_count"], m["w7_held_n"]) - f["objectives_met_rate_30d"]
    )
    f["first_session_success_rate"] = _rate(m["w90_first_success_count"], m["w90_first_rated_n"])
    f["first_sessions_30d"] = m["first_sessions_30d_n"]
    f["first_session_poor_30d"] = m["first_session_poor_30d_count"]
    f["first_session_negative_feedback_30d"] = m["first_session_negative_feedback_30d_count"]
    f["first_session_no_follow_up_30d"] = m["first_session_no_follow_up_30d_count"]
    f["logins_7d"] = m["w7_login_count"]
    f["logins_30d"] = m["w30_login_count"]
    f["login_decline"] = m["login_decline"]
    f["days_since_last_login"] = m["days_since_last_login"]
    f["engagement_score"] = m["w30_engagement_score"]
    f["engagement_7d"] = m["w7_engagement_score"]
    f["prep_minutes_7d"] = m["w7_prep_avg_minutes"]
    f["response_p50"] = m["w30_response_p50_minutes"]
    f["response_p95"] = m["w30_response_p95_minutes"]
    f["engagement_trend"] = m["w7_engagement_score"] - m["w30_engagement_score"]
    f["logins_7d_vs_30d"] = _rate(m["w7_login_count"], m["w30_login_count"] * 7 / 30)
    f["prep_minutes_30d"] = m["w30_prep_avg_minutes"]
    f["prep_trend"] = m["w7_prep_avg_minutes"] - m["w30_prep_avg_minutes"]
    f["response_trend"] = m["w7_response_avg_minutes"] - m["w30_response_avg_minutes"]
    f["reschedule_rate_7d"] = _rate(m["w7_reschedule_count"], m["w7_due_count"])
    f["reschedule_rate_30d"] = _rate(m["w30_reschedule_count"], m["w30_due_count"])
    # Reschedule events and flagged sessions each undercount when a feed lacks the other.
    f["reschedules_7d"] = m[["w7_reschedule_request_count", "w7_reschedule_count"]].max(axis=1)
    f["reschedules_30d"] = m[["w30_reschedule_request_count", "w30_reschedule_count"]].max(axis=1)
    f["short_notice_reschedules_30d"] = m["w30_short_notice_reschedule_count"]
    f["no_show_14d"] = m["no_show_14d_count"]
    f["no_show_30d"] = m["w30_no_show_count"]
    f["late_starts_30d"] = m["w30_late_start_count"]
    f["no_show_rate_30d"] = _rate(m["w30_no_show_count"], m["w30_due_count"])
    # Each tutor against their own longer history: the fade before leaving shows as recent
    # counts falling below the tutor's usual pace, whatever that pace is.
    f["sessions_7d_vs_30d"] = _rate(m["w7_completed_count"], m["w30_completed_count"] * 7 / 30)
    f["sessions_30d_vs_90d"] = _rate(m["w30_completed_count"], m["w90_completed_count"] / 3)
    f["bookings_7d_vs_30d"] = _rate(m["w7_due_count"], m["w30_due_count"] * 7 / 30)
    f["responses_7d_vs_30d"] = _rate(m["w7_response_n"], m["w30_response_n"] * 7 / 30)
    f["prep_count_7d_vs_30d"] = _rate(m["w7_prep_n"], m["w30_prep_n"] * 7 / 30)
    f["logins_30d_vs_90d"] = _rate(m["w30_login_count"], m["w90_login_count"] / 3)
    f["engagement_7d_vs_90d"] = m["w7_engagement_score"] - m["w90_engagement_score"]
    # Sessions the usual pace would have held since the last one: a 5-day gap means
    # little for a twice-a-week tutor and a lot for a twenty-a-week one.
    f["sessions_missed_since_last"] = m["days_since_last_session"] * baseline / 7
    f["availability_vs_baseline"] = m["availability_hours_current"] / baseline
    f["day_of_week"] = float(as_of.weekday())
    f["month"] = float(as_of.month)
    f["is_holiday_season"] = float(is_holiday_season(as_of))
    f = f.join(intervention_features(interventions, as_of=as_of, index=m.index))
    f = f[list(FEATURES)].astype(float)
    f["rule_score"] = rule_scores(m, pattern_flags(m))["score"].astype(float)
    f["reschedules_30d_weekly"] = f["reschedules_30d"] * 7 / 30
    f["logins_30d_weekly"] = f["logins_30d"] * 7 / 30
    f["rating_last30_n"] = m["rating_last30_n"].astype(float)
    for hook in hooks:
        f = f.join(hook(data, as_of, f.index))
    return f


def _calendar_weeks(
    data: MarketData, *, as_of: date, index: pd.Index, baseline: pd.Series
) -> pd.DataFrame:
    """Held sessions in full Monday-Sunday weeks (the churn definition's unit) vs baseline.

    - ``low_weeks_streak``: consecutive full weeks, up to the last Sunday on or before the
      day, with fewer held sessions than half the baseline (0-3; weeks before onboarding do
      not count);
    - ``last_week_vs_baseline``: held sessions in the last full week / baseline;
    - ``this_week_pace``: held sessions since Monday / the baseline's share of those days.
    """
    end = pd.Timestamp(day_end(as_of)).value
    sessions = data.sessions
    held = (sessions["status"] == "completed").to_numpy()
    times = sessions["scheduled_start"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    codes = index.get_indexer(pd.Index(sessions["tutor_id"]))
    keep = held & (codes >= 0) & (times < end)
    age = (end - 1 - times[keep]) // DAY_NS  # 0 = on as_of
    codes = codes[keep]
    # Days back to the last complete week's Sunday (0 when as_of is a Sunday).
    to_sunday = (as_of.weekday() + 1) % 7
    size = len(index)
    this_week = np.bincount(codes[age < to_sunday], minlength=size).astype(float)
    last_3d = np.bincount(codes[age < 3], minlength=size).astype(float)
    last_14d = np.bincount(codes[age < 14], minlength=size).astype(float)
    recent = age < 14
    active_days_14d = np.bincount(
        np.unique(codes[recent] * 14 + age[recent]) // 14, minlength=size
    ).astype(float)
    # Exponentially weighted pace (sessions a week): a smooth reading of the recent trend
    # that hard windows cut into steps.
    ewm = {}
    for tau in (5.0, 20.0):
        weights = np.exp(-age / tau)
        norm = np.exp(-np.arange(LOOKBACK_DAYS) / tau).sum() / 7
        ewm[tau] = np.bincount(codes, weights=weights, minlength=size) / norm
    weekly = []
    for week in range(3):
        inside = (age >= to_sunday + 7 * week) & (age < to_sunday + 7 * week + 7)
        weekly.append(np.bincount(codes[inside], minlength=size).astype(float))
    base = baseline.reindex(index).to_numpy(dtype=float)
    onboarding = data.tutors.drop_duplicates("tutor_id").set_index("tutor_id")["onboarding_date"]
    onboard_age = (
        end - 1 - onboarding.reindex(index).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ) // DAY_NS
    streak = np.zeros(size)
    running = np.ones(size, dtype=bool)
    for week, counts in enumerate(weekly):
        # The week's Monday must be on or after onboarding for the week to count.
        monday_age = to_sunday + 7 * week + 6
        counted = running & (onboard_age >= monday_age) & (counts < REDUCED_SHARE * base)
        streak += counted
        running = counted
    with np.errstate(invalid="ignore", divide="ignore"):
        last_week = weekly[0] / base
        pace = np.where(to_sunday > 0, this_week / (base * to_sunday / 7), np.nan)
        recent_3d = last_3d / (base * 3 / 7)
        recent_14d = last_14d / (base * 2)
        ewm_fast = ewm[5.0] / base
        ewm_slow = ewm[20.0] / base
        ewm_ratio = ewm[5.0] / ewm[20.0]
    return pd.DataFrame(
        {
            "low_weeks_streak": streak,
            "last_week_vs_baseline": last_week,
            "this_week_pace": pace,
            "sessions_3d_vs_baseline": recent_3d,
            "sessions_14d_vs_baseline": recent_14d,
            "active_days_14d": active_days_14d,
            "pace_fast_vs_baseline": ewm_fast,
            "pace_slow_vs_baseline": ewm_slow,
            "pace_fast_vs_slow": ewm_ratio,
        },
        index=index,
    )


def _availability_cut(data: MarketData, *, as_of: date, index: pd.Index) -> pd.DataFrame:
    """The tutor's latest availability cut (to under ``CUT_SHARE`` of the hours, not to zero).

    A tutor who starts to leave often cuts their hours first, and the sessions fade over the
    weeks after; ``availability_change_pct`` nets a month's changes and forgets when the cut
    came, which is what dates the fade.

    - ``days_since_availability_cut``: whole days from the cut to ``as_of`` (0 = that day);
      NaN when no cut lies in the loaded events (the last ``EVENT_LOOKBACK_DAYS`` days);
    - ``availability_cut_ratio``: that cut's hours after / hours before.
    """
    end = pd.Timestamp(day_end(as_of)).value
    # The same window whether the caller loaded exactly the day's events or a longer range.
    start = pd.Timestamp(day_start(as_of - timedelta(days=EVENT_LOOKBACK_DAYS))).value
    events = data.events
    before = events["hours_before"].to_numpy(dtype=float)
    after = events["hours_after"].to_numpy(dtype=float)
    times = events["event_timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    codes = index.get_indexer(pd.Index(events["tutor_id"]))
    with np.errstate(invalid="ignore"):
        cut = (
            (events["event_type"] == "availability_change").to_numpy()
            & (codes >= 0)
            & (times >= start)
            & (times < end)
            & (after > 0)
            & (after < CUT_SHARE * before)
        )
    codes, age, ratio = codes[cut], (end - 1 - times[cut]) // DAY_NS, after[cut] / before[cut]
    # The latest cut of each tutor: sort by tutor, then newest first, keep each run's first.
    order = np.lexsort((age, codes))
    codes, age, ratio = codes[order], age[order], ratio[order]
    latest = np.unique(codes, return_index=True)[1]
    days = np.full(len(index), np.nan)
    share = np.full(len(index), np.nan)
    days[codes[latest]] = age[latest]
    share[codes[latest]] = ratio[latest]
    return pd.DataFrame(
        {"days_since_availability_cut": days, "availability_cut_ratio": share}, index=index
    )


@dataclass(frozen=True)
class DayFeatures:
    """One day's metrics frame (the metrics engine's output) and the features built on it."""

    metrics: pd.DataFrame
    features: pd.DataFrame


def features_as_of(
    data: MarketData,
    *,
    as_of: date,
    tutor_ids: Iterable[str] | None = None,
    hooks: Sequence[FeatureHook] = (),
    interventions: pd.DataFrame | None = None,
) -> DayFeatures:
    """Features of every tutor onboarded by ``as_of`` (or of ``tutor_ids``)."""
    metrics = compute_metrics(data, as_of=as_of, tutor_ids=tutor_ids)
    features = features_from_metrics(
        metrics, data, as_of=as_of, hooks=hooks, interventions=interventions
    )
    return DayFeatures(metrics, features)


def feature_history(
    data: MarketData,
    *,
    snapshots: pd.DataFrame,
    hooks: Sequence[FeatureHook] = (),
    interventions: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Features for every (``tutor_id``, ``day``) row of ``snapshots``, in the same order.

    ``data`` is the whole range loaded once; each day sees only its own point-in-time slice.
    """
    fast = compact(data)
    days = sorted(set(snapshots["day"]))
    parts = []
    for number, day in enumerate(days):
        wanted = snapshots.loc[snapshots["day"] == day, "tutor_id"]
        sliced = day_slice(fast, day)
        frame = features_as_of(
            sliced, as_of=day, tutor_ids=wanted, hooks=hooks, interventions=interventions
        ).features
        frame = frame.reindex(pd.Index(wanted.to_numpy(), name="tutor_id"))
        frame.insert(0, "day", day)
        parts.append(frame.reset_index())
        if progress is not None:
            progress(number + 1, len(days))
    if not parts:
        return pd.DataFrame(columns=["tutor_id", "day", *FEATURES, *SIDE_COLUMNS])
    history = pd.concat(parts, ignore_index=True)
    keys = snapshots[["tutor_id", "day"]].reset_index(drop=True)
    return keys.merge(history, on=["tutor_id", "day"], how="left", validate="one_to_one")
