"""Hand-computed metric expectations, window edges and point-in-time behaviour."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from tutorpulse.metrics import compute
from tutorpulse.metrics.compute import compute_metrics, satisfaction_breakdown, wilson_interval
from tutorpulse.metrics.data import day_end
from tutorpulse.metrics.flags import pattern_flags, threshold_flags

from .market_builder import AS_OF, MarketBuilder, at


def metrics(builder: MarketBuilder) -> pd.DataFrame:
    return compute_metrics(builder.build(), as_of=AS_OF)


def test_counts_rates_and_ratings_in_each_window() -> None:
    b = MarketBuilder().tutor("t1")
    b.session("t1", at(1), rating=4.0)
    b.session("t1", at(2), rating=2.0, rescheduled=True)
    b.session("t1", at(3), no_show=True)
    b.session("t1", at(10), rating=5.0, objectives=False, technical=True)
    b.session("t1", at(40), rating=3.0)
    row = metrics(b).loc["t1"]
    assert row["w7_due_count"] == 3 and row["w7_completed_count"] == 2
    assert row["w7_no_show_count"] == 1 and row["w7_reschedule_count"] == 1
    assert row["w7_avg_rating"] == pytest.approx(3.0)
    assert row["w30_due_count"] == 4 and row["w30_avg_rating"] == pytest.approx(11 / 3)
    assert row["w30_objectives_met_count"] == 2 and row["w30_held_n"] == 3
    assert row["w30_technical_issue_count"] == 1
    assert row["w90_due_count"] == 5
    assert row["rating_last30"] == pytest.approx(14 / 4) and row["rating_last30_n"] == 4
    assert row["days_since_last_session"] == pytest.approx(1 + 8 / 24)


def test_window_edges_are_half_open_at_midnight_utc() -> None:
    b = MarketBuilder().tutor("t1")
    end = pd.Timestamp(day_end(AS_OF))
    b.session("t1", (end - timedelta(days=7)).to_pydatetime())  # first instant of the window
    b.session("t1", (end - timedelta(days=7, seconds=1)).to_pydatetime())  # just before it
    b.session("t1", (end - timedelta(seconds=1)).to_pydatetime())  # last instant of AS_OF
    b.session("t1", end.to_pydatetime())  # next midnight: the future
    row = metrics(b).loc["t1"]
    assert row["w7_due_count"] == 2
    assert row["w30_due_count"] == 3


def test_no_sessions_and_new_tutor_are_not_enough_data() -> None:
    b = MarketBuilder().tutor("idle").tutor("fresh", onboarded_days_before=1)
    b.tutor("tomorrow", onboarded_days_before=-1)
    frame = metrics(b)
    assert list(frame.index) == ["fresh", "idle"]  # not onboarded yet = not there
    assert frame.loc["fresh", "tenure_days"] == 1
    assert frame.loc["idle", "w30_due_count"] == 0
    assert pd.isna(frame.loc["idle", "w30_avg_rating"])
    assert not threshold_flags(frame).any().any()


def test_all_no_shows() -> None:
    b = MarketBuilder().tutor("t1")
    for day in range(12):
        b.session("t1", at(day), no_show=True)
    frame = metrics(b)
    row = frame.loc["t1"]
    assert row["w30_no_show_count"] == 12 and row["w30_completed_count"] == 0
    assert pd.isna(row["days_since_last_session"])
    red = threshold_flags(frame).loc["t1"]
    assert red["high_no_show_rate"] and not red["low_rating"]
    assert pattern_flags(frame).loc["t1", "no_show_risk"]


def test_first_session_success_and_poor_first_session_pattern() -> None:
    b = MarketBuilder().tutor("t1")
    b.session("t1", at(2), rating=5, number=1, student="a")
    b.session("t1", at(3), rating=4, number=1, student="b", late=12)
    b.session("t1", at(4), rating=2, number=1, student="c")
    row = metrics(b).loc["t1"]
    assert (row["w30_first_rated_n"], row["w30_first_success_count"]) == (3, 2)
    assert row["first_session_poor_30d_count"] == 2  # rating < 3, and a 12-minute late start
    frame = metrics(b)
    assert threshold_flags(frame).loc["t1", "low_first_session_success"]  # 67% < 70%
    assert pattern_flags(frame).loc["t1", "poor_first_session"]


def test_first_session_without_follow_up_after_two_weeks() -> None:
    b = MarketBuilder().tutor("t1")
    b.session("t1", at(20), rating=5, number=1, student="gone")
    b.session("t1", at(20), rating=5, number=1, student="stayed")
    b.session("t1", at(13), rating=5, number=2, student="stayed")
    b.session("t1", at(5), rating=5, number=1, student="recent")  # too recent to judge
    assert metrics(b).loc["t1", "first_session_no_follow_up_30d_count"] == 1


def test_negative_first_session_feedback_is_a_signal() -> None:
    b = MarketBuilder().tutor("t1")
    b.session("t1", at(3), rating=4, number=1)
    b.feedback_row("t1", at(3, hour=18), would_recommend=True, would_work_again="probably_not")
    assert metrics(b).loc["t1", "first_session_negative_feedback_30d_count"] == 1


def test_high_rescheduling_counts_tutor_requests_in_seven_days() -> None:
    b = MarketBuilder().tutor("t1")
    for day in range(4):
        b.event("t1", at(day), "reschedule_request", initiated_by="tutor", hours_notice=10)
    b.event("t1", at(1), "reschedule_request", initiated_by="student", hours_notice=10)
    b.event("t1", at(8), "reschedule_request", initiated_by="tutor", hours_notice=48)
    frame = metrics(b)
    row = frame.loc["t1"]
    assert row["w7_reschedule_request_count"] == 4
    assert row["w7_short_notice_reschedule_count"] == 4
    assert pattern_flags(frame).loc["t1", "high_rescheduling"]  # 4 > 3


def test_engagement_composite_and_login_decline() -> None:
    b = MarketBuilder().tutor("t1")
    for day in range(0, 28, 2):  # 14 logins over 28 days, all in the earlier fortnight below
        b.event("t1", at(day + 14), "login")
    b.event("t1", at(1), "login")
    b.event("t1", at(1), "session_prep", prep_minutes=30.0)
    b.event("t1", at(1), "message_response", response_minutes=135.0)
    frame = metrics(b)
    row = frame.loc["t1"]
    # 30-day window: logins in [AS_OF-29, AS_OF]: the one at day 1 + days 14..28 (8) = 9.
    logins_per_week = row["w30_login_count"] / (30 / 7)
    expected = 100 * (0.4 * min(1, logins_per_week / 5) + 0.3 * 1.0 + 0.3 * 0.5)
    assert row["w30_engagement_score"] == pytest.approx(expected)
    assert row["login_decline"] == pytest.approx((7 - 1) / 7)
    assert pattern_flags(frame).loc["t1", "engagement_decline"]


def test_without_an_event_feed_engagement_is_unknown() -> None:
    b = MarketBuilder().tutor("t1").session("t1", at(1))
    assert pd.isna(metrics(b).loc["t1", "w30_engagement_score"])


def test_future_records_do_not_change_an_as_of_result() -> None:
    b = MarketBuilder().tutor("t1")
    b.session("t1", at(3), rating=4).event("t1", at(2), "login")
    before = metrics(b)
    b.session("t1", at(-1), rating=1, no_show=False).event("t1", at(-2), "login")
    b.feedback_row("t1", at(-1), would_recommend=False)
    pd.testing.assert_frame_equal(before, metrics(b))


def test_wilson_interval() -> None:
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(8, 10) or (0, 0)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)


def _breakdown_market() -> MarketBuilder:
    b = MarketBuilder().tutor("t1").tutor("t2")
    b.session("t1", at(1), rating=5.0)
    b.session("t1", at(29), rating=4.0)  # first day of the 30-day window
    b.session("t1", at(30), rating=1.0)  # the day before it: not counted
    b.session("t1", at(2), rating=None)  # unrated: not counted
    b.session("t1", at(3), rating=2.0)
    b.sessions[-1] |= {"subject": "Physics", "session_type": "group"}
    b.session("t2", at(4), rating=3.0)
    b.sessions[-1]["subject"] = None  # no subject: only in the per-type figures
    return b


def test_satisfaction_breakdown_per_subject_and_session_type() -> None:
    breakdown = satisfaction_breakdown(_breakdown_market().build(), as_of=AS_OF)
    assert breakdown == {
        "t1": {
            "by_subject": {
                "Mathematics": {"avg_rating": 4.5, "n": 2},
                "Physics": {"avg_rating": 2.0, "n": 1},
            },
            "by_session_type": {
                "1-on-1": {"avg_rating": 4.5, "n": 2},
                "group": {"avg_rating": 2.0, "n": 1},
            },
        },
        "t2": {"by_session_type": {"1-on-1": {"avg_rating": 3.0, "n": 1}}},
    }


def test_satisfaction_breakdown_is_the_same_on_the_groupby_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A few whole-star ratings take the plain-sum path; many rows (or fractional ratings)
    # the groupby one. Both give the same figures, in the same order.
    data = _breakdown_market().build()
    small = satisfaction_breakdown(data, as_of=AS_OF)
    monkeypatch.setattr(compute, "SMALL_BREAKDOWN", 0)
    grouped = satisfaction_breakdown(data, as_of=AS_OF)
    assert grouped == small
    assert list(grouped) == list(small) == ["t1", "t2"]
    assert [list(v) for v in grouped.values()] == [list(v) for v in small.values()]


def test_satisfaction_breakdown_with_fractional_ratings() -> None:
    b = MarketBuilder().tutor("t1")
    b.session("t1", at(1), rating=4.5)
    b.session("t1", at(2), rating=3.0)
    b.session("t1", at(3), rating=3.2)
    breakdown = satisfaction_breakdown(b.build(), as_of=AS_OF)
    assert breakdown["t1"]["by_subject"]["Mathematics"] == {"avg_rating": 3.567, "n": 3}
