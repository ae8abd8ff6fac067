"""Rule-based churn score components, bands, bonuses, and tier assignment."""

from __future__ import annotations

import pandas as pd
import pytest

from tutorpulse.metrics.compute import compute_metrics
from tutorpulse.metrics.flags import pattern_flags, threshold_flags
from tutorpulse.metrics.tiers import assign_tiers
from tutorpulse.risk.rules import COMPONENT_WEIGHTS, risk_level, rule_components, rule_scores

from .market_builder import AS_OF, MarketBuilder, at


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, "Low"),
        (25, "Low"),
        (26, "Medium"),
        (50, "Medium"),
        (51, "High"),
        (75, "High"),
        (76, "Critical"),
        (100, "Critical"),
    ],
)
def test_risk_bands(score: int, level: str) -> None:
    assert risk_level(score) == level


def test_weights_sum_to_one() -> None:
    assert sum(COMPONENT_WEIGHTS.values()) == pytest.approx(1.0)


def _healthy(builder: MarketBuilder, tutor_id: str, *, tenure: int = 400) -> None:
    builder.tutor(tutor_id, onboarded_days_before=tenure)
    for day in range(0, 35):
        builder.session(tutor_id, at(day), rating=5.0)
        builder.event(tutor_id, at(day, hour=9), "login")


def test_healthy_veteran_scores_low_and_troubled_tutor_high() -> None:
    b = MarketBuilder()
    _healthy(b, "calm")
    b.tutor("shaky", onboarded_days_before=20)
    for day in range(14, 28):
        b.event("shaky", at(day, hour=9), "login")
    for day in range(0, 12):
        b.session("shaky", at(day), rating=2.0, rescheduled=True, number=1, student=f"s{day}")
    b.session("shaky", at(1), no_show=True)
    for day in range(4):
        b.event("shaky", at(day), "reschedule_request", initiated_by="tutor", hours_notice=5)
    frame = compute_metrics(b.build(), as_of=AS_OF)
    patterns = pattern_flags(frame)
    scores = rule_scores(frame, patterns)
    assert scores.loc["calm", "score"] < 26
    assert patterns.loc["shaky"].all()  # every pattern fires
    assert scores.loc["shaky", "score"] == 100  # capped
    assert scores.loc["shaky", "risk_level"] == "Critical"
    components = rule_components(frame).loc["shaky"]
    assert components["engagement_decline"] == pytest.approx(1.0)  # logins fell to zero
    assert components["reschedule_pattern"] == pytest.approx(1.0)
    assert components["first_session_quality"] == pytest.approx(1.0)  # 0% success
    assert components["tenure_risk"] == pytest.approx(60 / 80)


def test_component_points_add_up_to_the_score() -> None:
    b = MarketBuilder()
    _healthy(b, "a", tenure=100)
    b.session("a", at(2), no_show=True)
    frame = compute_metrics(b.build(), as_of=AS_OF)
    patterns = pattern_flags(frame)
    scores = rule_scores(frame, patterns)
    points = scores.filter(like="points_").sum(axis=1) + scores["pattern_bonus"]
    assert scores.loc["a", "score"] == round(points.loc["a"])
    assert scores.loc["a", "pattern_bonus"] == 25  # no-show in the last 14 days


def test_tiers_follow_percentiles_and_flags() -> None:
    index = pd.Index([f"t{i:03d}" for i in range(100)])
    frame = pd.DataFrame(index=index)
    quality = pd.Series(range(100), index=index, dtype=float) / 100
    frame["w30_due_count"] = 20
    frame["w30_held_n"] = 20
    frame["w30_first_rated_n"] = 4
    frame["rating_last30"] = 3 + 2 * quality
    frame["w30_first_success_count"] = (quality * 4).round()
    frame["w30_engagement_score"] = 50 + 50 * quality
    frame["w30_objectives_met_count"] = (quality * 20).round()
    frame["w30_reschedule_count"] = ((1 - quality) * 5).round()
    frame["w30_no_show_count"] = 0
    red = pd.DataFrame({"x": False, "y": False, "z": False, "w": False}, index=index)
    scores = pd.Series(10, index=index)
    red.loc["t099", "x"] = True  # one red flag: still Exemplary
    red.loc["t098", ["x", "y"]] = True  # two red flags: Strong at best
    red.loc["t097", ["x", "y", "z"]] = True  # three: Developing
    red.loc["t096", ["x", "y", "z", "w"]] = True  # four: Needs Attention
    scores.loc["t050"] = 80  # critical churn score, average performance
    scores.loc["t003"] = 80  # critical churn score, bottom 5% performance
    frame.loc["t060", "w30_due_count"] = 2  # too little data
    tiers = assign_tiers(frame, red, scores)
    counts = tiers["tier"].value_counts()
    assert tiers.loc["t099", "tier"] == "Exemplary"
    assert tiers.loc["t098", "tier"] == "Strong"
    assert tiers.loc["t097", "tier"] == "Developing"
    assert tiers.loc["t096", "tier"] == "Needs Attention"
    assert tiers.loc["t050", "tier"] == "Needs Attention"
    assert tiers.loc["t003", "tier"] == "At Risk"
    assert tiers.loc["t004", "tier"] == "Needs Attention"  # same band, not critical
    assert tiers.loc["t060", "tier"] is None
    assert tiers.loc["t000", "tier"] == "At Risk"
    assert 6 <= counts["Exemplary"] <= 10  # three of the top ten carry 2+ red flags
    assert 10 <= counts["Needs Attention"] <= 14
    assert "not enough data" in tiers.loc["t060", "reason"]


def test_flags_need_enough_data() -> None:
    b = MarketBuilder().tutor("t1")
    b.session("t1", at(1), rating=1.0).session("t1", at(2), rating=1.0)
    frame = compute_metrics(b.build(), as_of=AS_OF)
    assert not threshold_flags(frame).loc["t1", "low_rating"]  # 2 ratings < 5 minimum
