"""Point-in-time features: the future never changes a feature; training = live figures."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from tutorpulse.metrics.data import MarketData, day_end
from tutorpulse.risk.features import (
    FEATURE_COMPONENTS,
    FEATURES,
    NOT_TUTOR_COMPONENTS,
    feature_history,
    features_as_of,
)
from tutorpulse.risk.intervention_features import INTERVENTION_FEATURES

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


def _interventions(seed: int = 4) -> pd.DataFrame:
    """Interventions that reached the thirty tutors, before and after AS_OF."""
    rng = np.random.default_rng(seed)
    kinds = ["A1", "A2", "A3", "A4", "H1", "H2", "H3", "H4", "H5"]
    rows = [
        (f"t{int(rng.integers(0, 30)):02d}", str(rng.choice(kinds)), at(float(n) + rng.random()))
        for n in rng.integers(-30, 60, size=150)
    ]
    frame = pd.DataFrame(rows, columns=["tutor_id", "intervention_type", "reached_at"])
    frame["reached_at"] = pd.to_datetime(frame["reached_at"], utc=True)
    return frame


def _shuffle_future_interventions(
    history: pd.DataFrame, moment: pd.Timestamp, seed: int
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    history = history.copy()
    future = (history["reached_at"] >= moment).to_numpy()
    for column in ("tutor_id", "intervention_type"):
        history.loc[future, column] = rng.permutation(history.loc[future, column].to_numpy())
    extra = history[future].assign(
        reached_at=history.loc[future, "reached_at"] + pd.Timedelta(1, "D")
    )
    return pd.concat([history[~(future & (rng.random(len(history)) < 0.5))], extra])


def test_future_data_changes_no_feature() -> None:
    data = _market()
    history = _interventions()
    moment = pd.Timestamp(day_end(AS_OF))
    base = features_as_of(data, as_of=AS_OF, interventions=history).features
    assert base[list(INTERVENTION_FEATURES)].to_numpy().sum() > 0  # the check has teeth
    assert base["days_since_availability_cut"].notna().sum() > 5
    for seed in range(3):
        changed = features_as_of(
            _shuffle_future(data, moment, seed),
            as_of=AS_OF,
            interventions=_shuffle_future_interventions(history, moment, seed),
        ).features
        pd.testing.assert_frame_equal(base, changed)
    cut = features_as_of(
        data.until(moment.to_pydatetime()),
        as_of=AS_OF,
        interventions=history[history["reached_at"] < moment],
    ).features
    pd.testing.assert_frame_equal(base, cut)


def test_intervention_features_count_what_reached_the_tutor_by_the_day() -> None:
    data = MarketBuilder().tutor("a").tutor("b").session("a", at(1)).session("b", at(1)).build()
    rows = [
        ("a", "H1", at(3)),  # coaching session 3 days ago
        ("a", "A1", at(20)),  # coaching tips 20 days ago: in 30 days, not in 14
        ("a", "H5", at(40)),  # recognition 40 days ago: outside every window
        ("a", "H1", at(-2)),  # after the day: not yet received
        ("b", "A2", at(0.1)),
    ]
    history = pd.DataFrame(rows, columns=["tutor_id", "intervention_type", "reached_at"])
    history["reached_at"] = pd.to_datetime(history["reached_at"], utc=True)
    f = features_as_of(data, as_of=AS_OF, interventions=history).features
    assert f.loc["a", "received_coaching_14d"] == 1
    assert f.loc["a", "received_coaching_30d"] == 2
    assert f.loc["a", "received_recognition_30d"] == 0
    assert f.loc["a", "interventions_received_30d"] == 2
    assert f.loc["a", "days_since_last_intervention"] == 3
    assert f.loc["b", "received_training_14d"] == 1 and f.loc["b", "received_coaching_30d"] == 0
    assert f.loc["b", "days_since_last_intervention"] == 0
    # No history at all: nothing received, "long ago".
    none = features_as_of(data, as_of=AS_OF).features
    assert none[list(INTERVENTION_FEATURES[:-1])].to_numpy().sum() == 0
    assert (none["days_since_last_intervention"] == 999).all()


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
    assert set(INTERVENTION_FEATURES) <= set(FEATURES)
    assert components == {
        "interventions",
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

    assert [
        f
        for f in FEATURES
        if FEATURE_COMPONENTS[f] not in NOT_TUTOR_COMPONENTS and f not in TEMPLATES
    ] == []
    row = dict.fromkeys(FEATURES, 2.0) | {"reschedules_30d_weekly": 1.0, "logins_30d_weekly": 9.0}
    assert describe("reschedules_7d", row | {"reschedules_7d": 5.0}) == (
        "Rescheduled 5 sessions this week (usual: 1)"
    )
    assert describe("days_since_last_session", row | {"days_since_last_session": float("nan")})
    for feature in FEATURES:
        assert describe(feature, row)


def test_recent_pace_features_compare_the_tutor_with_their_usual_load() -> None:
    b = MarketBuilder().tutor("daily", baseline=7).tutor("gone", baseline=14)
    for n in range(14):
        b.session("daily", at(n))
    for n in range(5, 40):
        b.session("gone", at(n))
    f = features_as_of(b.build(), as_of=AS_OF).features
    assert f.loc["daily", "sessions_14d_vs_baseline"] == 1.0
    assert f.loc["daily", "sessions_3d_vs_baseline"] == 1.0
    assert f.loc["daily", "active_days_14d"] == 14
    assert f.loc["gone", "active_days_14d"] == 9  # days 5..13 before AS_OF
    # Last held session 5 days (and 8 hours) ago at a usual 2 a day: about 10 missed.
    gap = f.loc["gone", "days_since_last_session"]
    assert 5 <= gap < 6 and f.loc["gone", "sessions_missed_since_last"] == 2 * gap
    assert f.loc["gone", "sessions_3d_vs_baseline"] == 0
    # The fast (5-day) pace has fallen below the slow (20-day) one only for "gone".
    assert f.loc["gone", "pace_fast_vs_slow"] < 0.8 < f.loc["daily", "pace_fast_vs_slow"]


def test_availability_cut_dates_the_latest_cut_to_under_60_percent() -> None:
    def change(b: MarketBuilder, tutor: str, days_before: float, before: float, after: float):
        return b.event(
            tutor, at(days_before), "availability_change", hours_before=before, hours_after=after
        )

    b = MarketBuilder().tutor("cut").tutor("tweak").tutor("pause").tutor("twice").tutor("old")
    change(b, "cut", 6, 20.0, 5.0)  # to 25%: a cut, 6 days ago
    change(b, "tweak", 3, 20.0, 16.0)  # -20%: an ordinary adjustment
    change(b, "pause", 2, 20.0, 0.0)  # to zero: a pause (holiday), not a cut
    change(b, "twice", 40, 30.0, 15.0)
    change(b, "twice", 10, 15.0, 6.0)  # the latest cut counts
    change(b, "twice", 4, 6.0, 5.5)  # a later small change is not a cut
    change(b, "old", 95, 20.0, 4.0)  # before the 91 days of events a day's features read
    change(b, "cut", -2, 5.0, 1.0)  # after AS_OF: the future, never counted
    f = features_as_of(b.build(), as_of=AS_OF).features
    assert f.loc["cut", "days_since_availability_cut"] == 6
    assert f.loc["cut", "availability_cut_ratio"] == 0.25
    assert f.loc["twice", "days_since_availability_cut"] == 10
    assert f.loc["twice", "availability_cut_ratio"] == 0.4
    for tutor in ("tweak", "pause", "old"):
        assert np.isnan(
            f.loc[tutor, ["days_since_availability_cut", "availability_cut_ratio"]]
        ).all()
    # Point in time: two days later the future cut has happened and is the latest.
    later = features_as_of(b.build(), as_of=AS_OF + timedelta(days=2)).features
    assert later.loc["cut", "days_since_availability_cut"] == 0
    assert later.loc["cut", "availability_cut_ratio"] == 0.2
    assert later.loc["twice", "days_since_availability_cut"] == 12
