"""Churn dates by the DESIGN §5 definition, reactivation spells and censored labels."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from tutorpulse.risk.labels import churn_spells, current_churn, snapshot_labels

from .market_builder import AS_OF, MarketBuilder, at

START = AS_OF - timedelta(days=60)  # a Friday: 2025-01-30
END = AS_OF


def _day(n: int) -> float:
    """``at()`` offset (days before AS_OF) of day number n counted from START."""
    return (END - START).days - n


def _spells(builder: MarketBuilder) -> pd.DataFrame:
    return churn_spells(builder.build(), observed_from=START, observed_until=END)


def test_inactivity_is_the_15th_day_after_the_last_held_session() -> None:
    b = MarketBuilder().tutor("a", baseline=1)
    for n in range(0, 10):
        b.session("a", at(_day(n)))
    b.session("a", at(_day(12)), no_show=True)  # a no-show is not a held session
    spells = _spells(b)
    assert list(spells["churn_date"]) == [START + timedelta(days=9 + 15)]
    assert list(spells["churn_reason"]) == ["inactivity"]


def test_no_session_at_all_counts_from_the_first_observed_day() -> None:
    spells = _spells(MarketBuilder().tutor("a", baseline=1))
    assert spells.iloc[0]["churn_date"] == START + timedelta(days=14)


def test_new_tutor_counts_from_onboarding() -> None:
    b = MarketBuilder().tutor("a", onboarded_days_before=40, baseline=1)
    spells = _spells(b)
    assert spells.iloc[0]["start"] == AS_OF - timedelta(days=40)
    assert spells.iloc[0]["churn_date"] == AS_OF - timedelta(days=40 - 14)


def test_resignation_wins_ties_and_comes_first() -> None:
    b = MarketBuilder().tutor("a", baseline=1)
    for n in range(0, 60):
        b.session("a", at(_day(n)))
    b.event("a", at(_day(20)), "resignation")
    spells = _spells(b)
    assert spells.iloc[0]["churn_date"] == START + timedelta(days=20)
    assert spells.iloc[0]["churn_reason"] == "resignation"


def test_reduced_activity_is_the_sunday_ending_the_third_low_full_week() -> None:
    # Baseline 10 a week; 4 sessions a week (< 5) from the first Monday on.
    b = MarketBuilder().tutor("a", baseline=10)
    first_monday = START + timedelta(days=(7 - START.weekday()) % 7)
    for n in range(0, 60):
        day = START + timedelta(days=n)
        if day.weekday() < 4:  # Monday-Thursday: 4 a week
            b.session("a", at(_day(n)))
    spells = _spells(b)
    assert spells.iloc[0]["churn_reason"] == "reduced_activity"
    assert spells.iloc[0]["churn_date"] == first_monday + timedelta(days=20)
    assert spells.iloc[0]["churn_date"].weekday() == 6


def test_a_returning_tutor_starts_a_new_spell() -> None:
    b = MarketBuilder().tutor("a", baseline=1)
    b.session("a", at(_day(0)))
    for n in range(30, 61):
        b.session("a", at(_day(n)))
    spells = _spells(b)
    assert list(spells["start"]) == [START, START + timedelta(days=30)]
    assert spells.iloc[0]["churn_date"] == START + timedelta(days=15)
    assert spells.iloc[1]["churn_date"] is None


def test_labels_are_positive_negative_or_censored() -> None:
    spells = pd.DataFrame(
        {
            "tutor_id": ["a", "b"],
            "start": [date(2025, 1, 1), date(2025, 1, 1)],
            "churn_date": [date(2025, 1, 20), None],
            "churn_reason": ["inactivity", None],
        }
    )
    rows = snapshot_labels(spells, observed_until=date(2025, 1, 31), horizons=(1, 7, 30))
    a = rows[rows["tutor_id"] == "a"].set_index("day")
    b = rows[rows["tutor_id"] == "b"].set_index("day")
    assert a.index.max() == date(2025, 1, 19)  # no snapshot on or after the churn day
    assert a.loc[date(2025, 1, 19), "label_1"] == 1.0
    assert a.loc[date(2025, 1, 18), "label_1"] == 0.0
    assert a.loc[date(2025, 1, 13), "label_7"] == 1.0
    assert a.loc[date(2025, 1, 12), "label_7"] == 0.0
    # The churn is observed, so a horizon past the data's end is still a known positive.
    assert a.loc[date(2025, 1, 10), "label_30"] == 1.0
    assert b.loc[date(2025, 1, 1), "label_30"] == 0.0
    assert np.isnan(b.loc[date(2025, 1, 2), "label_30"])  # censored, never 0
    assert b.loc[date(2025, 1, 24), "label_7"] == 0.0
    assert np.isnan(b.loc[date(2025, 1, 25), "label_7"])
    assert b.index.max() == date(2025, 1, 31)


def test_agrees_with_the_simulators_independent_labeller() -> None:
    from tutorpulse.simulator.churn_labels import label_churn

    rng = np.random.default_rng(7)
    b = MarketBuilder()
    for k in range(40):
        tutor_id = f"t{k:02d}"
        b.tutor(tutor_id, onboarded_days_before=int(rng.integers(61, 400)), baseline=10)
        stop = int(rng.integers(5, 70))
        weekly = int(rng.integers(2, 12))
        for n in range(0, min(stop, 60)):
            if rng.random() < weekly / 7:
                b.session(tutor_id, at(_day(n)))
        if rng.random() < 0.2:
            b.event(tutor_id, at(_day(int(rng.integers(0, 60)))), "resignation")
    data = b.build()
    mine = churn_spells(data, observed_from=START, observed_until=END).drop_duplicates("tutor_id")
    tutors = data.tutors.assign(onboarding_date=data.tutors["onboarding_date"].dt.date)
    theirs = label_churn(
        tutors, data.sessions, data.events, observed_from=START, observed_until=END
    ).set_index("tutor_id")
    for row in mine.itertuples():
        other = theirs.loc[row.tutor_id]
        expected = (
            None if pd.isna(other["churn_date"]) else pd.Timestamp(other["churn_date"]).date()
        )
        assert row.churn_date == expected, row.tutor_id


def test_current_churn_is_the_open_churn_of_the_last_spell() -> None:
    b = MarketBuilder()
    # a: churned by inactivity 15 days after 10 held days, never back.
    b.tutor("a", baseline=1)
    for n in range(0, 10):
        b.session("a", at(_day(n)))
    # b: churned early, came back for good: active now.
    b.tutor("b", baseline=1)
    b.session("b", at(_day(0)))
    for n in range(30, 61):
        b.session("b", at(_day(n)))
    # c: held sessions every day: never churned.
    b.tutor("c", baseline=1)
    for n in range(0, 61):
        b.session("c", at(_day(n)))
    data = b.build()
    lookback = (END - START).days
    assert current_churn(data, as_of=END, lookback_days=lookback) == {
        "a": (START + timedelta(days=9 + 15), "inactivity")
    }
    # Only the tutors asked for.
    assert current_churn(data, as_of=END, lookback_days=lookback, tutor_ids=["b", "c"]) == {}
    assert current_churn(data, as_of=END, lookback_days=lookback, tutor_ids=[]) == {}
