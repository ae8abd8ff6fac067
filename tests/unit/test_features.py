"""Point-in-time features: the future never changes a feature; training = live figures."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from tutorpulse.metrics.data import MarketData, day_end
from tutorpulse.risk.features import (
    FEATURE_COMPONENTS,
    FEATURES,
    feature_history,
    features_as_of,
)

from .market_builder import AS_OF, MarketBuilder, at


def _market(seed: int = 3) -> MarketData:
    """Thirty tutors with sessions, feedback and events before and after AS_OF."""
    rng = np.random.default_rng(seed)
    b = MarketBuilder()
    for k in range(30):
        tutor_id = f"t{k:02d}"
        b.tutor(tutor_id, onboarded_days_before=int(rng.integers(20, 300)), baseline=12)
        for n in range(-20, 100):  # negative: after AS_OF (the future)
            if rng.random() < 0.4:
                b.session(
                    tutor_id,
                    at(n + rng.random()),
                    rating=float(rng.integers(1, 6)),
                    no_show=bool(rng.random() < 0.05),
                    number=1 if rng.random() < 0.2 else 2,
                    student=f"s{int(rng.integers(0, 9))}",
                    rescheduled=bool(rng.random() < 0.1),
                    late=int(rng.integers(0, 20)),
                )
            if rng.random() < 0.5:
                b.event(tutor_id, at(n + rng.random()), "login")
            if rng.random() < 0.3:
                b.event(
                    tutor_id,
                    at(n + rng.random()),
                    "message_response",
                    response_minutes=float(rng.integers(1, 300)),
                )
            if rng.random() < 0.05:
                b.event(
                    tutor_id,
                    at(n + rng.random()),
                    "availability_change",
                    hours_before=20.0,
                    hours_after=float(rng.integers(5, 25)),
                )
            if rng.random() < 0.1:
                b.feedback_row(tutor_id, at(n + rng.random()), would_recommend=rng.random() < 0.7)
    return b.build()


def _shuffle_future(data: MarketData, moment: pd.Timestamp, seed: int) -> MarketData:
    """Everything from ``moment`` on: tutor ids shuffled, ratings scrambled, some rows dropped."""
    rng = np.random.default_rng(seed)

    def scramble(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        frame = frame.copy()
        future = frame[column] >= moment
        ids = frame.loc[future, "tutor_id"].to_numpy()
        frame.loc[future, "tutor_id"] = rng.permutation(ids)
        for name in ("student_rating", "overall_rating", "response_minutes"):
            if name in frame:
                frame.loc[future, name] = rng.permutation(frame.loc[future, name].to_numpy())
        drop = future & (rng.random(len(frame)) < 0.5)
        return frame[~drop.to_numpy()]

    return MarketData(
        tutors=data.tutors,
        sessions=scramble(data.sessions, "scheduled_start"),
        feedback=scramble(data.feedback, "submitted_at"),
        events=scramble(data.events, "event_timestamp"),
    )


def test_future_data_changes_no_feature() -> None:
    data = _market()
    moment = pd.Timestamp(day_end(AS_OF))
    base = features_as_of(data, as_of=AS_OF).features
    for seed in range(3):
        changed = features_as_of(_shuffle_future(data, moment, seed), as_of=AS_OF).features
        pd.testing.assert_frame_equal(base, changed)
    cut = features_as_of(data.until(moment.to_pydatetime()), as_of=AS_OF).features
    pd.testing.assert_frame_equal(base, cut)


def test_history_matches_the_live_computation_day_by_day() -> None:
    data = _market()
    days = [AS_OF - timedelta(days=n) for n in (0, 3, 10)]
    tutors = sorted(data.tutors["tutor_id"])
    snapshots = pd.DataFrame([(t, d) for d in days for t in tutors], columns=["tutor_id", "day"])
    history = feature_history(data, snapshots=snapshots).set_index(["tutor_id", "day"])
    for day in days:
        live = features_as_of(data, as_of=day).features
        part = history.xs(day, level="day")
        pd.testing.assert_frame_equal(part[live.columns], live.loc[part.index], check_names=False)


def test_no_forbidden_inputs_and_every_feature_has_a_component() -> None:
    forbidden = ("source", "archetype", "behavioral", "status", "churn")
    assert not [f for f in FEATURES if any(word in f for word in forbidden)]
    components = set(FEATURE_COMPONENTS.values())
    assert components == {
        "engagement_decline",
        "performance_trend",
        "reschedule_pattern",
        "first_session_quality",
        "no_show_risk",
        "tenure_risk",
        "availability_reduction",
        "calendar",
    }


def test_calendar_weeks_count_low_weeks_against_the_baseline() -> None:
    # AS_OF is Monday 2025-03-31: the last full week ended on Sunday 03-30.
    b = MarketBuilder().tutor("low", baseline=10).tutor("fine", baseline=10)
    for n in range(1, 22):
        b.session("low", at(n))  # 7 a week: below 5? no - 7 >= 5
        if n % 2:
            b.session("fine", at(n))
    for n in range(1, 8):
        b.session("fine", at(n + 0.1))
    frame = features_as_of(b.build(), as_of=AS_OF).features
    assert AS_OF.weekday() == 0
    # "low" held 7 sessions in each of the last three weeks: 70% of baseline, not low.
    assert frame.loc["low", "low_weeks_streak"] == 0
    assert frame.loc["low", "last_week_vs_baseline"] == 0.7
    # "fine": last week 4 + 7 = 11, the two before about 3-4 each: a streak that stops at 0.
    assert frame.loc["fine", "low_weeks_streak"] == 0
    quiet = MarketBuilder().tutor("quiet", baseline=10)
    quiet.session("quiet", at(25))
    frame = features_as_of(quiet.build(), as_of=AS_OF).features
    assert frame.loc["quiet", "low_weeks_streak"] == 3
    assert frame.loc["quiet", "days_since_last_session"] > 24


def test_every_tutor_feature_reads_as_a_sentence() -> None:
    from tutorpulse.risk.explain import TEMPLATES, describe

    assert [f for f in FEATURES if FEATURE_COMPONENTS[f] != "calendar" and f not in TEMPLATES] == []
    row = dict.fromkeys(FEATURES, 2.0) | {"reschedules_30d_weekly": 1.0, "logins_30d_weekly": 9.0}
    assert describe("reschedules_7d", row | {"reschedules_7d": 5.0}) == (
        "Rescheduled 5 sessions this week (usual: 1)"
    )
    assert describe("days_since_last_session", row | {"days_since_last_session": float("nan")})
    for feature in FEATURES:
        assert describe(feature, row)
