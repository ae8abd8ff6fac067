"""Property tests: every metric stays in range; the future never changes the past."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tutorpulse.metrics.compute import compute_metrics
from tutorpulse.metrics.flags import pattern_flags
from tutorpulse.risk.rules import rule_components, rule_scores

from .market_builder import AS_OF, MarketBuilder, at

session_strategy = st.fixed_dictionaries(
    {
        "tutor": st.sampled_from(["a", "b", "c"]),
        "days_before": st.floats(min_value=-20, max_value=120, allow_nan=False),
        "rating": st.one_of(st.none(), st.sampled_from([1.0, 2.5, 3.0, 4.0, 4.5, 5.0])),
        "no_show": st.booleans(),
        "number": st.integers(min_value=1, max_value=4),
        "rescheduled": st.booleans(),
        "late": st.integers(min_value=0, max_value=40),
    }
)
event_strategy = st.fixed_dictionaries(
    {
        "tutor": st.sampled_from(["a", "b", "c"]),
        "days_before": st.floats(min_value=-20, max_value=120, allow_nan=False),
        "kind": st.sampled_from(["login", "session_prep", "message_response"]),
        "value": st.floats(min_value=0, max_value=600, allow_nan=False),
    }
)


def _build(sessions: list[dict[str, Any]], events: list[dict[str, Any]]) -> MarketBuilder:
    builder = MarketBuilder().tutor("a").tutor("b", onboarded_days_before=10).tutor("c")
    for s in sessions:
        builder.session(
            str(s["tutor"]),
            at(float(s["days_before"])),
            rating=None if s["no_show"] else s["rating"],
            no_show=bool(s["no_show"]),
            number=int(s["number"]),
            rescheduled=bool(s["rescheduled"]),
            late=int(s["late"]),
        )
    for e in events:
        meta = {"session_prep": "prep_minutes", "message_response": "response_minutes"}
        extra = {meta[str(e["kind"])]: e["value"]} if e["kind"] in meta else {}
        builder.event(str(e["tutor"]), at(float(e["days_before"])), str(e["kind"]), **extra)
    return builder


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(session_strategy, max_size=40), st.lists(event_strategy, max_size=30))
def test_metrics_stay_in_range(
    sessions: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    frame = compute_metrics(_build(sessions, events).build(), as_of=AS_OF)
    for window in (7, 30, 90):
        due = frame[f"w{window}_due_count"]
        assert (frame[f"w{window}_no_show_count"] <= due).all()
        assert (frame[f"w{window}_reschedule_count"] <= due).all()
        assert (frame[f"w{window}_completed_count"] <= due).all()
        ratings = frame[f"w{window}_avg_rating"].dropna()
        assert ratings.between(1, 5).all()
        engagement = frame[f"w{window}_engagement_score"].dropna()
        assert engagement.between(0, 100).all()
    components = rule_components(frame)
    assert components.stack().between(0, 1).all()
    scores = rule_scores(frame, pattern_flags(frame))["score"]
    assert scores.between(0, 100).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(session_strategy, max_size=25),
    st.lists(event_strategy, max_size=20),
    st.lists(session_strategy, min_size=1, max_size=10),
)
def test_future_records_change_nothing(
    sessions: list[dict[str, Any]],
    events: list[dict[str, Any]],
    future: list[dict[str, Any]],
) -> None:
    base = compute_metrics(_build(sessions, events).build(), as_of=AS_OF)
    later = [s | {"days_before": -1 - abs(float(s["days_before"]))} for s in future]
    with_future = compute_metrics(_build(sessions + later, events).build(), as_of=AS_OF)
    pd.testing.assert_frame_equal(base, with_future)
