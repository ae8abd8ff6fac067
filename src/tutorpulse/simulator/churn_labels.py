"""Churn by the DESIGN.md §5 definition, as a pure function over dataframes.

A tutor churns on the first of:

* resignation: the date of their first ``resignation`` event;
* inactivity: the 15th consecutive day without a held session (no-shows and cancellations do
  not count), counted from the day after the last held session, or from the onboarding day
  (or the first observed day, if the tutor was onboarded before it) when there is none;
* reduced activity: the Sunday ending the 3rd consecutive full Monday-Sunday UTC week with
  fewer held sessions than 50% of ``baseline_sessions_per_week``. Only weeks that start on or
  after the onboarding day and the first observed day, and end by the last observed day, count.

Ties are attributed in that order. A day is a UTC calendar day; a session belongs to the day of
its ``scheduled_start``. Nothing after ``observed_until`` is looked at (censoring).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

INACTIVITY_DAYS = 15
REDUCED_WEEKS = 3
REDUCED_SHARE = 0.5
REASONS = ("resignation", "inactivity", "reduced_activity")
_NONE = np.iinfo(np.int64).max


def _day_numbers(values: pd.Series, origin: date) -> npt.NDArray[np.int64]:
    stamps = pd.to_datetime(values, utc=True, format="ISO8601")
    days = (
        stamps.dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize() - pd.Timestamp(origin)
    ).dt.days
    return np.asarray(days.to_numpy(dtype=np.int64, na_value=_NONE), dtype=np.int64)


def label_churn(
    tutors: pd.DataFrame,
    sessions: pd.DataFrame,
    events: pd.DataFrame,
    *,
    observed_from: date,
    observed_until: date,
) -> pd.DataFrame:
    """One row per tutor: ``tutor_id``, ``churn_date`` (date or None), ``churn_reason``.

    ``tutors`` needs ``tutor_id``, ``onboarding_date``, ``baseline_sessions_per_week``;
    ``sessions`` needs ``tutor_id``, ``scheduled_start`` and ``status`` (``completed`` = held);
    ``events`` needs ``tutor_id``, ``event_type``, ``event_timestamp``.
    """
    last = (observed_until - observed_from).days
    ids = tutors["tutor_id"].astype(str).to_numpy()
    position = {tutor: k for k, tutor in enumerate(ids)}
    n = len(ids)
    onboarding = _day_numbers(tutors["onboarding_date"].astype(str), observed_from)
    first_day = np.maximum(onboarding, 0)
    baseline = tutors["baseline_sessions_per_week"].to_numpy(dtype=np.float64)

    held = sessions[sessions["status"] == "completed"]
    held_tutor = held["tutor_id"].map(position).to_numpy(dtype=np.float64, na_value=np.nan)
    held_day = _day_numbers(held["scheduled_start"], observed_from)
    keep = ~np.isnan(held_tutor) & (held_day >= 0) & (held_day <= last)
    held_tutor_i = held_tutor[keep].astype(np.int64)
    held_day = held_day[keep]

    resignation = _first_resignation(events, position, observed_from, last, n)
    inactivity = _inactivity(held_tutor_i, held_day, first_day, last, n)
    reduced = _reduced_activity(held_tutor_i, held_day, first_day, baseline, observed_from, last, n)

    candidates = np.vstack([resignation, inactivity, reduced])
    # Tutors who start after the observed period cannot churn in it.
    candidates[:, first_day > last] = _NONE
    churn_day = candidates.min(axis=0)
    reason_index = candidates.argmin(axis=0)
    churned = churn_day != _NONE
    dates = [
        observed_from + timedelta(days=int(d)) if c else None
        for d, c in zip(churn_day, churned, strict=True)
    ]
    reasons = [REASONS[int(r)] if c else None for r, c in zip(reason_index, churned, strict=True)]
    return pd.DataFrame({"tutor_id": ids, "churn_date": dates, "churn_reason": reasons})


def _first_resignation(
    events: pd.DataFrame, position: dict[str, int], origin: date, last: int, n: int
) -> npt.NDArray[np.int64]:
    result = np.full(n, _NONE, dtype=np.int64)
    resigned = events[events["event_type"] == "resignation"]
    if resigned.empty:
        return result
    who = resigned["tutor_id"].map(position).to_numpy(dtype=np.float64, na_value=np.nan)
    day = _day_numbers(resigned["event_timestamp"], origin)
    ok = ~np.isnan(who) & (day >= 0) & (day <= last)
    np.minimum.at(result, who[ok].astype(np.int64), day[ok])
    return result


def _inactivity(
    tutor: npt.NDArray[np.int64],
    day: npt.NDArray[np.int64],
    first_day: npt.NDArray[np.int64],
    last: int,
    n: int,
) -> npt.NDArray[np.int64]:
    """First day that completes a run of 15 days without a held session."""
    everyone = np.arange(n, dtype=np.int64)
    valid = day >= first_day[tutor]
    # A virtual held session the day before counting starts, and one the day after the end.
    all_tutor = np.concatenate([tutor[valid], everyone, everyone])
    all_day = np.concatenate([day[valid], first_day - 1, np.full(n, last + 1, dtype=np.int64)])
    order = np.lexsort((all_day, all_tutor))
    all_tutor, all_day = all_tutor[order], all_day[order]
    same_tutor = all_tutor[1:] == all_tutor[:-1]
    gap = all_day[1:] - all_day[:-1] - 1
    hit = same_tutor & (gap >= INACTIVITY_DAYS)
    result = np.full(n, _NONE, dtype=np.int64)
    np.minimum.at(result, all_tutor[:-1][hit], all_day[:-1][hit] + INACTIVITY_DAYS)
    return result


def _reduced_activity(
    tutor: npt.NDArray[np.int64],
    day: npt.NDArray[np.int64],
    first_day: npt.NDArray[np.int64],
    baseline: npt.NDArray[np.float64],
    origin: date,
    last: int,
    n: int,
) -> npt.NDArray[np.int64]:
    first_monday = (7 - origin.weekday()) % 7  # day number of the first Monday
    weeks = max(0, (last - first_monday + 1) // 7)
    result = np.full(n, _NONE, dtype=np.int64)
    if weeks == 0:
        return result
    counts = np.zeros((n, weeks), dtype=np.int64)
    week = (day - first_monday) // 7
    inside = (day >= first_monday) & (week < weeks)
    np.add.at(counts, (tutor[inside], week[inside]), 1)
    run = np.zeros(n, dtype=np.int64)
    for w in range(weeks):
        monday = first_monday + 7 * w
        eligible = monday >= first_day
        below = counts[:, w] < REDUCED_SHARE * baseline
        run = np.where(eligible & below, run + 1, 0)
        hit = (run >= REDUCED_WEEKS) & (result == _NONE)
        result[hit] = monday + 6
    return result
