"""Per-tutor windowed metrics as of a day, computed column-wise (no per-session Python loops).

Definitions (PRD Component 2; every rate carries its sample size):
- a window of w days as of day D covers timestamps in [D+1-w days, D+1) UTC;
- sessions "due" are those completed or missed (scheduled/cancelled ones are not outcomes);
- reschedule rate = due sessions flagged ``tutor_initiated_reschedule`` / due sessions;
- no-show rate = no-shows / due sessions; first-session success = rated first sessions with a
  rating >= 4 / rated first sessions;
- engagement (0-100) = 0.4 login frequency (5 logins a week = full) + 0.3 session prep
  (15 minutes = full) + 0.3 message response (30 minutes or less = full, 4 hours = none),
  over the parts that have data; unknown when the data has no tutor events at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from tutorpulse.metrics.data import MarketData, day_end

WINDOWS = (7, 30, 90)
DUE_STATUSES = ("completed", "no_show")
RESPONSE_FULL_MINUTES, RESPONSE_NONE_MINUTES = 30.0, 240.0
PREP_FULL_MINUTES = 15.0
LOGINS_FULL_PER_WEEK = 5.0
ENGAGEMENT_WEIGHTS = {"login": 0.4, "prep": 0.3, "response": 0.3}
LAST_RATED_SESSIONS = 30
LATE_MINUTES = 10
SHORT_NOTICE_HOURS = 24

# Below these sample sizes a figure is "not enough data": shown with its n, never a red flag.
MIN_RATED = 5
MIN_FIRST_SESSIONS = 3
MIN_DUE_SESSIONS = 5
MIN_NO_SHOW_BASE = 10
MIN_LOGIN_BASE = 3


def compute_metrics(
    data: MarketData, *, as_of: date, tutor_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """One row per tutor onboarded by ``as_of``; columns ``w{7,30,90}_*`` plus overall ones."""
    end = pd.Timestamp(day_end(as_of))
    tutors = data.tutors[data.tutors["onboarding_date"] < end]
    if tutor_ids is not None:
        tutors = tutors[tutors["tutor_id"].isin(set(tutor_ids))]
    index = pd.Index(sorted(tutors["tutor_id"]), name="tutor_id")
    wanted = set(index)
    sessions = data.sessions[
        (data.sessions["scheduled_start"] < end)
        & data.sessions["status"].isin(DUE_STATUSES)
        & data.sessions["tutor_id"].isin(wanted)
    ]
    events = data.events[
        (data.events["event_timestamp"] < end) & data.events["tutor_id"].isin(wanted)
    ]
    feedback = data.feedback[
        (data.feedback["submitted_at"] < end) & data.feedback["tutor_id"].isin(wanted)
    ]
    has_event_feed = not data.events.empty

    columns: dict[str, pd.Series] = {}
    for window in WINDOWS:
        start = end - pd.Timedelta(days=window)
        in_sessions = sessions[sessions["scheduled_start"] >= start]
        in_events = events[events["event_timestamp"] >= start]
        for name, series in _window_metrics(in_sessions, in_events, window, has_event_feed):
            columns[f"w{window}_{name}"] = series
    for name, series in _overall_metrics(sessions, events, feedback, end):
        columns[name] = series

    frame = pd.DataFrame({name: s.reindex(index) for name, s in columns.items()}, index=index)
    count_columns = [c for c in frame.columns if c.endswith(("_count", "_n")) or "_n_" in c]
    frame[count_columns] = frame[count_columns].fillna(0).astype(int)
    onboarding = tutors.set_index("tutor_id")["onboarding_date"].reindex(index)
    frame["tenure_days"] = (end - onboarding).dt.days - 1
    frame["baseline_sessions_per_week"] = tutors.set_index("tutor_id")[
        "baseline_sessions_per_week"
    ].reindex(index)
    return frame


def _window_metrics(
    sessions: pd.DataFrame, events: pd.DataFrame, window: int, has_event_feed: bool
) -> Iterable[tuple[str, pd.Series]]:
    by_tutor = sessions.groupby("tutor_id")
    yield "due_count", by_tutor.size()
    completed = sessions["status"] == "completed"
    yield "completed_count", completed.groupby(sessions["tutor_id"]).sum()
    yield "no_show_count", sessions["no_show"].fillna(False).groupby(sessions["tutor_id"]).sum()
    rescheduled = sessions["tutor_initiated_reschedule"].fillna(False)
    yield "reschedule_count", rescheduled.groupby(sessions["tutor_id"]).sum()

    rated = sessions[sessions["student_rating"].notna()]
    yield "rated_n", rated.groupby("tutor_id").size()
    yield "avg_rating", rated.groupby("tutor_id")["student_rating"].mean()
    first = rated[rated["session_number"] == 1]
    yield "first_rated_n", first.groupby("tutor_id").size()
    yield "first_success_count", (first["student_rating"] >= 4).groupby(first["tutor_id"]).sum()

    held = sessions[completed]
    yield "held_n", held.groupby("tutor_id").size()
    objectives = held["learning_objectives_met"].astype(float)
    yield "objectives_met_count", objectives.groupby(held["tutor_id"]).sum()
    technical = held["technical_issues"].astype(float)
    yield "technical_issue_count", technical.groupby(held["tutor_id"]).sum()
    late = held["late_start_minutes"] > LATE_MINUTES
    yield "late_start_count", late.groupby(held["tutor_id"]).sum()
    yield "avg_engagement_in_session", held.groupby("tutor_id")["engagement_score"].mean()

    kinds = events["event_type"]
    logins = events[kinds == "login"].groupby("tutor_id").size()
    yield "login_count", logins
    prep = events[kinds == "session_prep"].groupby("tutor_id")["prep_minutes"]
    yield "prep_n", prep.size()
    yield "prep_avg_minutes", prep.mean()
    responses = events[kinds == "message_response"].groupby("tutor_id")["response_minutes"]
    yield "response_n", responses.size()
    yield "response_avg_minutes", responses.mean()
    yield "response_p95_minutes", responses.quantile(0.95)
    yield "training_count", events[kinds == "training_completed"].groupby("tutor_id").size()
    yield (
        "availability_change_count",
        (events[kinds == "availability_change"].groupby("tutor_id").size()),
    )
    requests = events[(kinds == "reschedule_request") & (events["initiated_by"] == "tutor")]
    yield "reschedule_request_count", requests.groupby("tutor_id").size()
    short = requests[requests["hours_notice"] < SHORT_NOTICE_HOURS]
    yield "short_notice_reschedule_count", short.groupby("tutor_id").size()

    if has_event_feed:
        tutors = sessions["tutor_id"].drop_duplicates().tolist() + events["tutor_id"].tolist()
        everyone = pd.Index(sorted(set(tutors)))
        yield (
            "engagement_score",
            _engagement(
                logins.reindex(everyone, fill_value=0) / (window / 7),
                prep.mean().reindex(everyone),
                responses.mean().reindex(everyone),
            ),
        )
    else:
        yield "engagement_score", pd.Series(dtype=float)


def _engagement(logins_per_week: pd.Series, prep: pd.Series, response: pd.Series) -> pd.Series:
    parts = pd.DataFrame(
        {
            "login": np.clip(logins_per_week / LOGINS_FULL_PER_WEEK, 0, 1),
            "prep": np.clip(prep / PREP_FULL_MINUTES, 0, 1),
            "response": np.clip(
                1
                - (response - RESPONSE_FULL_MINUTES)
                / (RESPONSE_NONE_MINUTES - RESPONSE_FULL_MINUTES),
                0,
                1,
            ),
        }
    )
    weights = pd.Series(ENGAGEMENT_WEIGHTS)
    present = parts.notna()
    weighted = (parts.fillna(0) * weights).sum(axis=1)
    total_weight = (present * weights).sum(axis=1)
    return 100 * weighted / total_weight.replace(0, np.nan)


def _overall_metrics(
    sessions: pd.DataFrame, events: pd.DataFrame, feedback: pd.DataFrame, end: pd.Timestamp
) -> Iterable[tuple[str, pd.Series]]:
    rated = sessions[sessions["student_rating"].notna()].sort_values("scheduled_start")
    last_rated = rated.groupby("tutor_id").tail(LAST_RATED_SESSIONS)
    yield "rating_last30", last_rated.groupby("tutor_id")["student_rating"].mean()
    yield "rating_last30_n", last_rated.groupby("tutor_id").size()

    held = sessions[sessions["status"] == "completed"]
    last_held = held.groupby("tutor_id")["scheduled_start"].max()
    yield "days_since_last_session", (end - last_held).dt.total_seconds() / 86400
    logins = events[events["event_type"] == "login"]
    last_login = logins.groupby("tutor_id")["event_timestamp"].max()
    yield "days_since_last_login", (end - last_login).dt.total_seconds() / 86400

    week, day = pd.Timedelta(days=7), pd.Timedelta(days=1)
    recent = held[held["scheduled_start"] >= end - week].groupby("tutor_id").size()
    base_mask = (held["scheduled_start"] >= end - 5 * week) & (held["scheduled_start"] < end - week)
    baseline_weekly = held[base_mask].groupby("tutor_id").size() / 4
    yield (
        "sessions_trend",
        (recent.reindex(baseline_weekly.index, fill_value=0) - baseline_weekly)
        / (baseline_weekly.where(baseline_weekly > 0)),
    )
    current = logins[logins["event_timestamp"] >= end - 14 * day].groupby("tutor_id").size()
    previous_mask = (logins["event_timestamp"] >= end - 28 * day) & (
        logins["event_timestamp"] < end - 14 * day
    )
    previous = logins[previous_mask].groupby("tutor_id").size()
    previous = previous[previous >= MIN_LOGIN_BASE]
    yield "login_decline", (previous - current.reindex(previous.index, fill_value=0)) / previous
    yield (
        "no_show_14d_count",
        (
            sessions[
                (sessions["scheduled_start"] >= end - 14 * day) & sessions["no_show"].fillna(False)
            ]
            .groupby("tutor_id")
            .size()
        ),
    )
    yield from _availability(events, end)
    yield from _first_session_signals(sessions, feedback, end)


def _availability(events: pd.DataFrame, end: pd.Timestamp) -> Iterable[tuple[str, pd.Series]]:
    changes = events[events["event_type"] == "availability_change"].sort_values("event_timestamp")
    grouped = changes.groupby("tutor_id")
    yield "availability_hours_current", grouped["hours_after"].last()
    recent = changes[changes["event_timestamp"] >= end - pd.Timedelta(days=28)]
    first_before = recent.groupby("tutor_id")["hours_before"].first()
    last_after = recent.groupby("tutor_id")["hours_after"].last()
    yield (
        "availability_change_pct",
        (last_after - first_before) / first_before.where(first_before > 0),
    )


def _first_session_signals(
    sessions: pd.DataFrame, feedback: pd.DataFrame, end: pd.Timestamp
) -> Iterable[tuple[str, pd.Series]]:
    """Counts behind the poor-first-session pattern over the last 30 days."""
    day = pd.Timedelta(days=1)
    first = sessions[
        (sessions["session_number"] == 1) & (sessions["scheduled_start"] >= end - 30 * day)
    ]
    yield "first_sessions_30d_n", first.groupby("tutor_id").size()
    poor = (first["student_rating"] < 3) | (first["late_start_minutes"] > LATE_MINUTES)
    yield "first_session_poor_30d_count", poor.groupby(first["tutor_id"]).sum()
    negative = feedback[
        feedback["is_first_session"].astype(bool)
        & (feedback["submitted_at"] >= end - 30 * day)
        & (
            (~feedback["would_recommend"].astype(bool))
            | feedback["would_work_again"].isin(["probably_not", "no"])
        )
    ]
    yield "first_session_negative_feedback_30d_count", negative.groupby("tutor_id").size()
    # A held first session 14-30 days ago with no later session of the same pair.
    matured = first[(first["status"] == "completed") & (first["scheduled_start"] < end - 14 * day)]
    later = sessions[sessions["session_number"] > 1][["tutor_id", "student_id"]].drop_duplicates()
    joined = matured.merge(later, on=["tutor_id", "student_id"], how="left", indicator=True)
    no_follow_up = joined[joined["_merge"] == "left_only"]
    yield "first_session_no_follow_up_30d_count", no_follow_up.groupby("tutor_id").size()


def wilson_interval(successes: float, n: float, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval of a rate; None without observations."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def ratio(numerator: Any, denominator: Any) -> float | None:
    if denominator is None or denominator <= 0 or pd.isna(denominator):
        return None
    return float(numerator) / float(denominator)
