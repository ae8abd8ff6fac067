"""The DESIGN.md §5 churn definition, case by case."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from tutorpulse.simulator.churn_labels import label_churn

START = date(2025, 1, 6)  # a Monday
END = START + timedelta(days=89)


def _tutors(*rows: tuple[str, date, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tutor_id": [r[0] for r in rows],
            "onboarding_date": [r[1].isoformat() for r in rows],
            "baseline_sessions_per_week": [r[2] for r in rows],
        }
    )


def _sessions(*rows: tuple[str, date, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tutor_id": [r[0] for r in rows],
            "scheduled_start": [f"{r[1].isoformat()}T17:00:00Z" for r in rows],
            "status": [r[2] for r in rows],
        },
        columns=["tutor_id", "scheduled_start", "status"],
    )


def _events(*rows: tuple[str, str, date]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tutor_id": [r[0] for r in rows],
            "event_type": [r[1] for r in rows],
            "event_timestamp": [f"{r[2].isoformat()}T09:30:00Z" for r in rows],
        },
        columns=["tutor_id", "event_type", "event_timestamp"],
    )


def _daily(tutor: str, first: date, days: int, per_day: int = 1) -> list[tuple[str, date, str]]:
    return [
        (tutor, first + timedelta(days=d), "completed") for d in range(days) for _ in range(per_day)
    ]


def _label(
    tutors: pd.DataFrame, sessions: pd.DataFrame, events: pd.DataFrame | None = None
) -> dict[str, tuple[date | None, str | None]]:
    frame = label_churn(
        tutors,
        sessions,
        events if events is not None else _events(),
        observed_from=START,
        observed_until=END,
    )
    return {
        row.tutor_id: (row.churn_date, row.churn_reason) for row in frame.itertuples(index=False)
    }


def test_active_tutor_does_not_churn() -> None:
    tutors = _tutors(("t1", date(2024, 5, 1), 7))
    assert _label(tutors, _sessions(*_daily("t1", START, 90)))["t1"] == (None, None)


def test_resignation_date_is_the_event_date() -> None:
    tutors = _tutors(("t1", date(2024, 5, 1), 7))
    events = _events(("t1", "resignation", START + timedelta(days=20)))
    result = _label(tutors, _sessions(*_daily("t1", START, 90)), events)
    assert result["t1"] == (START + timedelta(days=20), "resignation")


def test_inactivity_is_the_fifteenth_day_after_the_last_held_session() -> None:
    tutors = _tutors(("t1", date(2024, 5, 1), 3))
    last = START + timedelta(days=9)
    result = _label(tutors, _sessions(*_daily("t1", START, 10)))
    assert result["t1"] == (last + timedelta(days=15), "inactivity")


def test_no_shows_and_cancellations_are_not_held_sessions() -> None:
    tutors = _tutors(("t1", date(2024, 5, 1), 3))
    held = _daily("t1", START, 10)
    missed = [("t1", START + timedelta(days=d), "no_show") for d in range(10, 30)]
    cancelled = [("t1", START + timedelta(days=31), "cancelled")]
    result = _label(tutors, _sessions(*held, *missed, *cancelled))
    assert result["t1"] == (START + timedelta(days=9 + 15), "inactivity")


def test_inactivity_of_a_new_tutor_counts_from_onboarding_day() -> None:
    onboarded = START + timedelta(days=30)
    tutors = _tutors(("t1", onboarded, 10))
    result = _label(tutors, _sessions())
    assert result["t1"] == (onboarded + timedelta(days=14), "inactivity")


def test_fourteen_quiet_days_are_not_churn() -> None:
    tutors = _tutors(("t1", date(2024, 5, 1), 1))
    sessions = [("t1", START + timedelta(days=d), "completed") for d in range(0, 90, 15)]
    assert _label(tutors, _sessions(*sessions))["t1"] == (None, None)


def test_reduced_activity_is_the_sunday_of_the_third_low_week() -> None:
    tutors = _tutors(("t1", date(2024, 5, 1), 10))
    # Weeks 0-1 normal (10/week); from week 2 on, 4 a week (< 50% of 10) but never 15 days idle.
    normal = _daily("t1", START, 14)
    low = [
        ("t1", START + timedelta(days=7 * w + d), "completed")
        for w in range(2, 13)
        for d in (0, 2, 4, 6)
    ]
    result = _label(tutors, _sessions(*normal, *low))
    third_low_sunday = START + timedelta(days=7 * 4 + 6)
    assert result["t1"] == (third_low_sunday, "reduced_activity")


def test_exactly_half_the_baseline_is_not_reduced_activity() -> None:
    tutors = _tutors(("t1", date(2024, 5, 1), 8))
    sessions = [
        ("t1", START + timedelta(days=7 * w + d), "completed")
        for w in range(13)
        for d in (0, 2, 4, 6)
    ]
    assert _label(tutors, _sessions(*sessions))["t1"] == (None, None)


def test_partial_first_week_of_a_new_tutor_does_not_count() -> None:
    onboarded = START + timedelta(days=3)  # a Thursday
    tutors = _tutors(("t1", onboarded, 10))
    first_full_monday = START + timedelta(days=7)
    # Nothing in the partial week; 4 per week after: the first full week is the first low one.
    low = [
        ("t1", first_full_monday + timedelta(days=7 * w + d), "completed")
        for w in range(0, 11)
        for d in (0, 2, 4, 6)
    ]
    low.append(("t1", onboarded, "completed"))  # avoids the onboarding-day inactivity rule
    result = _label(tutors, _sessions(*low))
    assert result["t1"] == (first_full_monday + timedelta(days=20), "reduced_activity")


def test_first_rule_wins_and_ties_go_to_resignation() -> None:
    tutors = _tutors(("t1", date(2024, 5, 1), 3), ("t2", date(2024, 5, 1), 3))
    sessions = _sessions(*_daily("t1", START, 10), *_daily("t2", START, 10))
    churn_by_inactivity = START + timedelta(days=24)
    events = _events(
        ("t1", "resignation", churn_by_inactivity),
        ("t2", "resignation", churn_by_inactivity + timedelta(days=5)),
    )
    result = _label(tutors, sessions, events)
    assert result["t1"] == (churn_by_inactivity, "resignation")
    assert result["t2"] == (churn_by_inactivity, "inactivity")


def test_nothing_after_the_observed_period_counts() -> None:
    tutors = _tutors(("t1", date(2024, 5, 1), 3))
    sessions = _sessions(*_daily("t1", START, 80))
    events = _events(("t1", "resignation", END + timedelta(days=1)))
    assert _label(tutors, sessions, events)["t1"] == (None, None)


def test_tutors_starting_after_the_period_are_not_labelled() -> None:
    tutors = _tutors(("t1", END + timedelta(days=3), 10))
    assert _label(tutors, _sessions())["t1"] == (None, None)
