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
    """One row per tutor onboarded by ``as_of``; columns ``w{7,30,90}_*`` plus overall ones.

    Every count is one ``numpy.bincount`` over the tutors' positions, so the cost is a fixed
    handful of array operations whether the frame holds one tutor or fourteen thousand.
    """
    end = pd.Timestamp(day_end(as_of))
    tutors = data.tutors[data.tutors["onboarding_date"] < end]
    if tutor_ids is not None:
        tutors = tutors[tutors["tutor_id"].isin(set(tutor_ids))]
    tutors = tutors.drop_duplicates("tutor_id").sort_values("tutor_id")
    index = pd.Index(tutors["tutor_id"].to_numpy(), name="tutor_id")
    sessions = _Rows(data.sessions, index, "scheduled_start", end)
    sessions.keep(_any_of(sessions.column("status"), DUE_STATUSES))
    events = _Rows(data.events, index, "event_timestamp", end)
    feedback = _Rows(data.feedback, index, "submitted_at", end)

    columns: dict[str, np.ndarray] = {}
    for window in WINDOWS:
        for name, values in _window_metrics(sessions, events, window, not data.events.empty):
            columns[f"w{window}_{name}"] = values
    columns.update(_overall_metrics(sessions, events, feedback))
    onboarding = tutors["onboarding_date"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    # Whole days from onboarding to the end of the day (floored), minus the day itself.
    columns["tenure_days"] = (end.value - onboarding) // DAY_NS - 1
    columns["baseline_sessions_per_week"] = tutors["baseline_sessions_per_week"].to_numpy()
    return pd.DataFrame(columns, index=index)


DAY_NS = 86_400 * 10**9


def _any_of(values: np.ndarray, options: Iterable[object]) -> np.ndarray:
    """Element-wise membership; missing values (None, NaN) match nothing."""
    found = np.zeros(len(values), dtype=bool)
    for option in options:
        found |= values == option
    return found


class _Rows:
    """Records before ``end`` of the tutors in ``index``, as positions and ages in days.

    Columns are read lazily as arrays of the kept rows (never a filtered copy of the whole
    frame): an incremental run touches a handful of rows, where pandas' per-call overhead
    dominates, and a full run reads each column once.
    """

    def __init__(
        self, frame: pd.DataFrame, index: pd.Index, time_column: str, end: pd.Timestamp
    ) -> None:
        codes = index.get_indexer(pd.Index(frame["tutor_id"]))
        times = frame[time_column].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        keep = (codes >= 0) & (times < end.value)
        self.frame = frame
        self.rows = np.flatnonzero(keep)
        self.codes = codes[keep]
        self.age_days = (end.value - times[keep]) / DAY_NS
        self.size = len(index)
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def keep(self, mask: np.ndarray) -> None:
        self.rows, self.codes, self.age_days = (
            self.rows[mask],
            self.codes[mask],
            self.age_days[mask],
        )
        self._cache.clear()

    def _read(self, name: str, kind: str) -> np.ndarray:
        found = self._cache.get((name, kind))
        if found is None:
            series = self.frame[name]
            if kind == "flag":
                found = series.to_numpy(dtype=bool, na_value=False)[self.rows]
            elif kind == "number":
                found = series.to_numpy(dtype=float, na_value=np.nan)[self.rows]
            else:
                found = series.to_numpy()[self.rows]
            self._cache[(name, kind)] = found
        return found

    def column(self, name: str) -> np.ndarray:
        return self._read(name, "column")

    def flag(self, name: str) -> np.ndarray:
        return self._read(name, "flag")

    def number(self, name: str) -> np.ndarray:
        return self._read(name, "number")

    def within(self, days: float) -> np.ndarray:
        return self.age_days <= days

    def count(self, mask: np.ndarray) -> np.ndarray:
        return np.bincount(self.codes[mask], minlength=self.size)

    def mean(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        present = mask & ~np.isnan(values)
        n = self.count(present)
        total = np.bincount(self.codes[present], weights=values[present], minlength=self.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.maximum(n, 1), np.nan)

    def latest(self, mask: np.ndarray) -> np.ndarray:
        """Age in days of each tutor's most recent record under ``mask`` (NaN: none)."""
        youngest = np.full(self.size, np.inf)
        np.minimum.at(youngest, self.codes[mask], self.age_days[mask])
        return np.where(np.isinf(youngest), np.nan, youngest)


def _window_metrics(
    sessions: _Rows, events: _Rows, window: int, has_event_feed: bool
) -> Iterable[tuple[str, np.ndarray]]:
    inside = sessions.within(window)
    completed = inside & (sessions.column("status") == "completed")
    rating = sessions.number("student_rating")
    rated = inside & ~np.isnan(rating)
    first = rated & (sessions.column("session_number") == 1)
    yield "due_count", sessions.count(inside)
    yield "completed_count", sessions.count(completed)
    yield "no_show_count", sessions.count(inside & sessions.flag("no_show"))
    yield "reschedule_count", sessions.count(inside & sessions.flag("tutor_initiated_reschedule"))
    yield "rated_n", sessions.count(rated)
    yield "avg_rating", sessions.mean(rating, rated)
    yield "first_rated_n", sessions.count(first)
    yield "first_success_count", sessions.count(first & (rating >= 4))
    yield "held_n", sessions.count(completed)
    yield (
        "objectives_met_count",
        sessions.count(completed & sessions.flag("learning_objectives_met")),
    )
    yield "technical_issue_count", sessions.count(completed & sessions.flag("technical_issues"))
    late = sessions.number("late_start_minutes") > LATE_MINUTES
    yield "late_start_count", sessions.count(completed & late)
    yield "avg_engagement_in_session", sessions.mean(sessions.number("engagement_score"), completed)

    recent = events.within(window)
    kind = events.column("event_type")
    logins = events.count(recent & (kind == "login"))
    yield "login_count", logins
    prep_rows = recent & (kind == "session_prep")
    prep = events.mean(events.number("prep_minutes"), prep_rows)
    yield "prep_n", events.count(prep_rows)
    yield "prep_avg_minutes", prep
    response_rows = recent & (kind == "message_response")
    responses = events.number("response_minutes")
    response = events.mean(responses, response_rows)
    yield "response_n", events.count(response_rows)
    yield "response_avg_minutes", response
    yield "response_p50_minutes", _quantile(events, responses, response_rows, 0.50)
    yield "response_p95_minutes", _quantile(events, responses, response_rows, 0.95)
    yield "training_count", events.count(recent & (kind == "training_completed"))
    yield "availability_change_count", events.count(recent & (kind == "availability_change"))
    requests = recent & (kind == "reschedule_request")
    requests &= events.column("initiated_by") == "tutor"
    yield "reschedule_request_count", events.count(requests)
    short = requests & (events.number("hours_notice") < SHORT_NOTICE_HOURS)
    yield "short_notice_reschedule_count", events.count(short)

    engagement = np.full(sessions.size, np.nan)
    if has_event_feed:
        present = (sessions.count(inside) > 0) | (events.count(recent) > 0)
        score = _engagement(logins / (window / 7), prep, response)
        engagement = np.where(present, score, np.nan)
    yield "engagement_score", engagement


def _quantile(rows: _Rows, values: np.ndarray, mask: np.ndarray, q: float) -> np.ndarray:
    """Per-tutor quantile with linear interpolation, as ``groupby().quantile(q)`` computes it
    (NaN skipped), on sorted arrays: no groupby set-up for the few rows of one tutor."""
    result = np.full(rows.size, np.nan)
    present = mask & ~np.isnan(values)
    codes, kept = rows.codes[present], values[present]
    if not len(kept):
        return result
    order = np.lexsort((kept, codes))
    codes, kept = codes[order], kept[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    counts = np.diff(np.r_[starts, len(codes)])
    position = q * (counts - 1).astype(float)
    low = position.astype(np.int64)
    fraction = position - low
    lower = kept[starts + low]
    upper = kept[starts + np.minimum(low + 1, counts - 1)]
    result[codes[starts]] = np.where(fraction == 0, lower, lower + (upper - lower) * fraction)
    return result


def _engagement(logins_per_week: np.ndarray, prep: np.ndarray, response: np.ndarray) -> np.ndarray:
    parts = {
        "login": np.clip(logins_per_week / LOGINS_FULL_PER_WEEK, 0, 1),
        "prep": np.clip(prep / PREP_FULL_MINUTES, 0, 1),
        "response": np.clip(
            1
            - (response - RESPONSE_FULL_MINUTES) / (RESPONSE_NONE_MINUTES - RESPONSE_FULL_MINUTES),
            0,
            1,
        ),
    }
    weighted = sum(np.nan_to_num(parts[k]) * w for k, w in ENGAGEMENT_WEIGHTS.items())
    total_weight = sum((~np.isnan(parts[k])) * w for k, w in ENGAGEMENT_WEIGHTS.items())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total_weight > 0, 100 * weighted / total_weight, np.nan)


def _overall_metrics(
    sessions: _Rows, events: _Rows, feedback: _Rows
) -> Iterable[tuple[str, np.ndarray]]:
    rating = sessions.number("student_rating")
    rated = ~np.isnan(rating)
    # The most recent rated sessions: rank each tutor's ratings from the youngest.
    order = np.lexsort((sessions.age_days[rated], sessions.codes[rated]))
    codes = sessions.codes[rated][order]
    rank = np.arange(len(codes)) - np.searchsorted(codes, codes, side="left")
    last = np.zeros(len(rating), dtype=bool)
    last[np.flatnonzero(rated)[order][rank < LAST_RATED_SESSIONS]] = True
    yield "rating_last30", sessions.mean(rating, last)
    yield "rating_last30_n", sessions.count(last)

    completed = sessions.column("status") == "completed"
    yield "days_since_last_session", sessions.latest(completed)
    kind = events.column("event_type")
    logins = kind == "login"
    yield "days_since_last_login", events.latest(logins)

    recent = sessions.count(completed & sessions.within(7))
    older = completed & ~sessions.within(7) & sessions.within(35)
    baseline = sessions.count(older) / 4
    with np.errstate(invalid="ignore", divide="ignore"):
        yield "sessions_trend", np.where(baseline > 0, (recent - baseline) / baseline, np.nan)
    current = events.count(logins & events.within(14))
    previous = events.count(logins & ~events.within(14) & events.within(28))
    with np.errstate(invalid="ignore", divide="ignore"):
        yield (
            "login_decline",
            np.where(previous >= MIN_LOGIN_BASE, (previous - current) / previous, np.nan),
        )
    yield "no_show_14d_count", sessions.count(sessions.flag("no_show") & sessions.within(14))
    yield from _availability(events, kind)
    yield from _first_session_signals(sessions, feedback, rating)


def _availability(events: _Rows, kind: np.ndarray) -> Iterable[tuple[str, np.ndarray]]:
    changes = kind == "availability_change"
    codes, age = events.codes[changes], events.age_days[changes]
    # Each tutor's changes oldest first (a stable sort: ties keep their recorded order).
    order = np.lexsort((-age, codes))
    codes, age = codes[order], age[order]
    before = events.number("hours_before")[changes][order]
    after = events.number("hours_after")[changes][order]
    current = _per_tutor(codes, after, events.size, last=True)
    recent = age <= 28
    first_before = _per_tutor(codes[recent], before[recent], events.size, last=False)
    last_after = _per_tutor(codes[recent], after[recent], events.size, last=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = (last_after - first_before) / np.where(first_before > 0, first_before, np.nan)
    yield "availability_hours_current", current
    yield "availability_change_pct", change


def _per_tutor(codes: np.ndarray, values: np.ndarray, size: int, *, last: bool) -> np.ndarray:
    """First (or last) known value of each tutor's run in ``codes`` (sorted); NaN: none."""
    result = np.full(size, np.nan)
    known = ~np.isnan(values)
    codes, values = codes[known], values[known]
    if len(codes):
        edge = codes[1:] != codes[:-1]
        pick = np.r_[edge, True] if last else np.r_[True, edge]
        result[codes[pick]] = values[pick]
    return result


def _first_session_signals(
    sessions: _Rows, feedback: _Rows, rating: np.ndarray
) -> Iterable[tuple[str, np.ndarray]]:
    """Counts behind the poor-first-session pattern over the last 30 days."""
    number = sessions.column("session_number")
    first = (number == 1) & sessions.within(30)
    yield "first_sessions_30d_n", sessions.count(first)
    late = sessions.number("late_start_minutes") > LATE_MINUTES
    yield "first_session_poor_30d_count", sessions.count(first & ((rating < 3) | late))
    negative = ~feedback.flag("would_recommend") | _any_of(
        feedback.column("would_work_again"), ("probably_not", "no")
    )
    negative &= feedback.flag("is_first_session") & feedback.within(30)
    yield "first_session_negative_feedback_30d_count", feedback.count(negative)
    # A held first session 14-30 days ago with no later session of the same pair.
    completed = sessions.column("status") == "completed"
    matured = first & completed & ~sessions.within(14)
    students = sessions.column("student_id")
    followed = set(zip(sessions.codes[number > 1], students[number > 1], strict=True))
    lonely = np.array(
        [
            (code, student) not in followed
            for code, student in zip(sessions.codes[matured], students[matured], strict=True)
        ],
        dtype=bool,
    )
    no_follow_up = np.zeros(len(number), dtype=bool)
    no_follow_up[np.flatnonzero(matured)[lonely]] = True
    yield "first_session_no_follow_up_30d_count", sessions.count(no_follow_up)


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


SMALL_BREAKDOWN = 5_000


def satisfaction_breakdown(
    data: MarketData, *, as_of: date, window: int = 30
) -> dict[str, dict[str, dict[str, dict[str, float | int]]]]:
    """Mean rating and count per subject and per session type, per tutor (last 30 days)."""
    end = pd.Timestamp(day_end(as_of))
    sessions = data.sessions
    times = sessions["scheduled_start"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ratings = sessions["student_rating"].to_numpy(dtype=float, na_value=np.nan)
    keep = (times < end.value) & (times >= (end - pd.Timedelta(days=window)).value)
    keep &= ~np.isnan(ratings)
    rated_values = ratings[keep]
    if len(rated_values) <= SMALL_BREAKDOWN and np.array_equal(
        rated_values, np.round(rated_values)
    ):
        # Whole-star ratings sum exactly in any order, so plain sums give the groupby's
        # means; a few rows (an incremental run) skip two groupby set-ups.
        return _small_breakdown(sessions, keep, rated_values)
    rated = sessions[keep]
    result: dict[str, dict[str, dict[str, dict[str, float | int]]]] = {}
    for dimension, column in (("by_subject", "subject"), ("by_session_type", "session_type")):
        grouped = rated.groupby(["tutor_id", column])["student_rating"].agg(["mean", "count"])
        for keys, mean, count in zip(grouped.index, grouped["mean"], grouped["count"], strict=True):
            tutor_id, value = str(keys[0]), str(keys[1])
            entry = result.setdefault(tutor_id, {}).setdefault(dimension, {})
            entry[value] = {"avg_rating": round(float(mean), 3), "n": int(count)}
    return result


def _small_breakdown(
    sessions: pd.DataFrame, keep: np.ndarray, ratings: np.ndarray
) -> dict[str, dict[str, dict[str, dict[str, float | int]]]]:
    tutors = sessions["tutor_id"].to_numpy()[keep].tolist()
    values = ratings.tolist()
    result: dict[str, dict[str, dict[str, dict[str, float | int]]]] = {}
    for dimension, column in (("by_subject", "subject"), ("by_session_type", "session_type")):
        totals: dict[tuple[str, str], list[float]] = {}
        keys = sessions[column].to_numpy()[keep].tolist()
        for tutor_id, key, rating in zip(tutors, keys, values, strict=True):
            if pd.isna(key):
                continue  # as groupby drops missing keys
            total = totals.setdefault((tutor_id, key), [0.0, 0])
            total[0] += rating
            total[1] += 1
        for (tutor_id, key), (total_rating, count) in sorted(totals.items()):
            entry = result.setdefault(str(tutor_id), {}).setdefault(dimension, {})
            mean = total_rating / count
            entry[str(key)] = {"avg_rating": round(float(mean), 3), "n": int(count)}
    return result
