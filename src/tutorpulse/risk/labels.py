"""Churn dates and censored horizon labels (DESIGN.md §5), from the same MarketData frames.

A tutor churns on the first of (ties in this order):
- resignation: the day of a ``resignation`` event;
- inactivity: the 15th consecutive day without a held (``completed``) session, counted from
  the day after the last held session, or from the spell's first day when there is none
  (the onboarding day, or the first observed day for tutors onboarded before it);
- reduced activity: the Sunday ending the 3rd consecutive full Monday-Sunday UTC week with
  fewer held sessions than 50% of ``baseline_sessions_per_week``; only weeks that start on or
  after the spell's first day and end by the last observed day count.

A churned tutor who comes back starts a new activity spell (reactivation, not an un-churn):
after a resignation or inactivity, on the day of the next held session; after reduced
activity, on the Monday after the first full week back at 50% of baseline or more.

Snapshots: one per tutor per day inside a spell, before its churn date. The label for horizon
h is 1 when the churn date lies in (day, day + h]; 0 when the spell is observed through
day + h without churn; missing (censored, never 0) when day + h is past the last observed day
and no churn was observed by then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from tutorpulse.metrics.data import MarketData

HORIZONS = (1, 7, 30, 90)
INACTIVITY_DAYS = 15
REDUCED_WEEKS = 3
REDUCED_SHARE = 0.5
REASONS = ("resignation", "inactivity", "reduced_activity")


@dataclass(frozen=True)
class Spell:
    tutor_id: str
    start: int  # day numbers relative to the first observed day
    churn: int | None
    reason: str | None


def _day_numbers(stamps: pd.Series, origin: date) -> np.ndarray:
    # Whole UTC days as integer arithmetic on the instants (numpy floors to the day), far
    # cheaper than pandas' .dt chain on the few rows of an incremental run.
    days = stamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    return np.asarray((days - np.datetime64(origin, "D")).astype(np.int64), dtype=np.int64)


def churn_spells(data: MarketData, *, observed_from: date, observed_until: date) -> pd.DataFrame:
    """One row per activity spell: ``tutor_id``, ``start``, ``churn_date``, ``churn_reason``.

    Only data in [observed_from, observed_until] is looked at; ``churn_date`` is None for
    spells still running on ``observed_until``.
    """
    rows = _spells(data, observed_from=observed_from, observed_until=observed_until)
    frame = pd.DataFrame(
        {
            "tutor_id": [s.tutor_id for s in rows],
            "start": [observed_from + timedelta(days=s.start) for s in rows],
            "churn_date": [
                observed_from + timedelta(days=s.churn) if s.churn is not None else None
                for s in rows
            ],
            "churn_reason": [s.reason for s in rows],
        }
    )
    return frame


def _spells(data: MarketData, *, observed_from: date, observed_until: date) -> list[Spell]:
    """The spells of ``churn_spells`` in tutor order (day numbers from ``observed_from``)."""
    if observed_until < observed_from:
        raise ValueError("observed_until is before observed_from")
    last = (observed_until - observed_from).days
    tutors = data.tutors.drop_duplicates("tutor_id").sort_values("tutor_id")
    ids = tutors["tutor_id"].astype(str).to_numpy()
    index = pd.Index(ids)
    onboarding = _day_numbers(tutors["onboarding_date"], observed_from)
    baseline = tutors["baseline_sessions_per_week"].to_numpy(dtype=float)

    # Masks over whole columns rather than filtered frame copies (cheap for a few rows too).
    sessions = data.sessions
    completed = sessions["status"].to_numpy() == "completed"
    s_code = index.get_indexer(pd.Index(sessions["tutor_id"].astype(str).to_numpy()[completed]))
    s_day = _day_numbers(sessions["scheduled_start"], observed_from)[completed]
    keep = (s_code >= 0) & (s_day >= 0) & (s_day <= last)
    held = np.zeros((len(ids), last + 1), dtype=np.int32)
    np.add.at(held, (s_code[keep], s_day[keep]), 1)

    events = data.events
    resigned = events["event_type"].to_numpy() == "resignation"
    r_code = index.get_indexer(pd.Index(events["tutor_id"].astype(str).to_numpy()[resigned]))
    r_day = _day_numbers(events["event_timestamp"], observed_from)[resigned]
    keep = (r_code >= 0) & (r_day >= 0) & (r_day <= last)
    resignations: dict[int, np.ndarray] = {}
    for code in np.unique(r_code[keep]):
        resignations[int(code)] = np.sort(r_day[keep][r_code[keep] == code])

    # Monday of the first full week on or after the first observed day.
    first_monday = (7 - observed_from.weekday()) % 7
    rows: list[Spell] = []
    for k, tutor_id in enumerate(ids):
        start = max(int(onboarding[k]), 0)
        for spell in _tutor_spells(
            held[k],
            start=start,
            last=last,
            resigned=resignations.get(k, np.empty(0, dtype=np.int64)),
            baseline=float(baseline[k]),
            first_monday=first_monday,
        ):
            rows.append(Spell(str(tutor_id), *spell))
    return rows


def _tutor_spells(
    held: np.ndarray,
    *,
    start: int,
    last: int,
    resigned: np.ndarray,
    baseline: float,
    first_monday: int,
) -> list[tuple[int, int | None, str | None]]:
    spells: list[tuple[int, int | None, str | None]] = []
    while start <= last:
        churn, reason = _first_churn(held, start, last, resigned, baseline, first_monday)
        spells.append((start, churn, reason))
        if churn is None:
            break
        restart = _reactivation(held, churn, reason, last, baseline, first_monday)
        if restart is None:
            break
        start = restart
    return spells


def _first_churn(
    held: np.ndarray,
    start: int,
    last: int,
    resigned: np.ndarray,
    baseline: float,
    first_monday: int,
) -> tuple[int | None, str | None]:
    candidates: list[tuple[int, int]] = []
    later = resigned[resigned >= start]
    if later.size:
        candidates.append((int(later[0]), 0))
    inactive = _inactivity_day(held, start, last)
    if inactive is not None:
        candidates.append((inactive, 1))
    reduced = _reduced_activity_day(held, start, last, baseline, first_monday)
    if reduced is not None:
        candidates.append((reduced, 2))
    if not candidates:
        return None, None
    day, order = min(candidates)
    return day, REASONS[order]


def _inactivity_day(held: np.ndarray, start: int, last: int) -> int | None:
    """First day that is the 15th in a row without a held session, counting from ``start``."""
    days = np.flatnonzero(held[start : last + 1]) + start
    previous = np.concatenate(([start - 1], days))
    gaps = np.diff(np.concatenate((previous, [last + 1])))
    # A gap of g between held days (or the spell's eve and the end) holds g - 1 empty days;
    # churn needs 15 of them, observed by ``last``.
    long = np.flatnonzero(gaps > INACTIVITY_DAYS)
    if long.size == 0:
        return None
    day = int(previous[long[0]]) + INACTIVITY_DAYS
    return day if day <= last else None


def _week_counts(held: np.ndarray, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Mondays of the full weeks in [first, last] and their held-session counts."""
    if first + 6 > last:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    mondays = np.arange(first, last - 5, 7)
    sums = np.add.reduceat(held[first : mondays[-1] + 7], mondays - first)
    return mondays, sums


def _reduced_activity_day(
    held: np.ndarray, start: int, last: int, baseline: float, first_monday: int
) -> int | None:
    first = _next_monday(start, first_monday)
    mondays, counts = _week_counts(held, first, last)
    low = counts < REDUCED_SHARE * baseline
    run = 0
    for monday, is_low in zip(mondays, low, strict=True):
        run = run + 1 if is_low else 0
        if run >= REDUCED_WEEKS:
            return int(monday) + 6
    return None


def _next_monday(day: int, first_monday: int) -> int:
    """The first day number >= ``day`` that is a Monday."""
    return day + (first_monday - day) % 7


def _reactivation(
    held: np.ndarray,
    churn: int,
    reason: str | None,
    last: int,
    baseline: float,
    first_monday: int,
) -> int | None:
    if reason == "reduced_activity":
        mondays, counts = _week_counts(held, _next_monday(churn + 1, first_monday), last)
        back = np.flatnonzero(counts >= REDUCED_SHARE * baseline)
        if back.size == 0:
            return None
        restart = int(mondays[back[0]]) + 7
        return restart if restart <= last else None
    later = np.flatnonzero(held[churn + 1 : last + 1])
    return churn + 1 + int(later[0]) if later.size else None


def snapshot_labels(
    spells: pd.DataFrame,
    *,
    observed_until: date,
    first_day: date | None = None,
    horizons: tuple[int, ...] = HORIZONS,
) -> pd.DataFrame:
    """One row per tutor-day in a spell, before its churn date, from ``first_day`` on.

    Columns: ``tutor_id``, ``day``, ``days_to_churn`` (NaN without an observed churn),
    ``churn_reason`` and ``label_{h}`` per horizon (1.0, 0.0, or NaN when censored).
    """
    origin = pd.Timestamp(observed_until)
    start = (pd.to_datetime(spells["start"]) - origin).dt.days.to_numpy(dtype=np.int64)
    churned = spells["churn_date"].notna().to_numpy()
    churn = np.zeros(len(spells), dtype=np.int64)
    if churned.any():
        dates = pd.to_datetime(spells.loc[churned, "churn_date"])
        churn[churned] = (dates - origin).dt.days.to_numpy(dtype=np.int64)
    # Day numbers relative to the last observed day (0); a spell runs to its churn's eve.
    begin = start if first_day is None else np.maximum(start, (first_day - observed_until).days)
    end = np.where(churned, churn - 1, 0)
    lengths = np.maximum(end - begin + 1, 0)
    which = np.repeat(np.arange(len(spells)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    day = begin[which] + offsets
    to_churn = np.where(churned[which], churn[which] - day, np.nan).astype(float)
    frame = pd.DataFrame(
        {
            "tutor_id": spells["tutor_id"].to_numpy()[which].astype(str),
            "day": (origin + pd.to_timedelta(day, unit="D")).date,
            "days_to_churn": to_churn,
            "churn_reason": spells["churn_reason"].to_numpy()[which],
        }
    )
    remaining = -day.astype(float)
    for h in horizons:
        frame[f"label_{h}"] = np.where(to_churn <= h, 1.0, np.where(remaining >= h, 0.0, np.nan))
    return frame.sort_values(["day", "tutor_id"], ignore_index=True)


def current_churn(
    data: MarketData, *, as_of: date, lookback_days: int, tutor_ids: Iterable[str] | None = None
) -> dict[str, tuple[date, str]]:
    """Tutors churned as of ``as_of`` (their current spell has a churn date): the date and
    the reason, by the same rules as the labels, over the last ``lookback_days`` days.

    The dashboard's active/churn counts read this from the metric rows, so the KPIs and the
    model's labels agree on who churned and when (reduced activity included).
    """
    tutors = data.tutors
    if tutor_ids is not None:
        wanted = {str(t) for t in tutor_ids}
        tutors = tutors[tutors["tutor_id"].astype(str).isin(wanted)]
    if tutors.empty:
        return {}
    observed_from = as_of - timedelta(days=lookback_days)
    # The spells as plain records, not a frame: an incremental run asks for one tutor.
    last: dict[str, Spell] = {}
    for spell in _spells(
        MarketData(
            tutors=tutors, sessions=data.sessions, feedback=data.feedback, events=data.events
        ),
        observed_from=observed_from,
        observed_until=as_of,
    ):
        last[spell.tutor_id] = spell
    return {
        tutor_id: (observed_from + timedelta(days=spell.churn), str(spell.reason))
        for tutor_id, spell in last.items()
        if spell.churn is not None
    }
