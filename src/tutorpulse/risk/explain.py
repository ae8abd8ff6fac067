"""Why a tutor's churn risk is what it is: TreeSHAP factors, grouped and in plain words.

Contributions are XGBoost's exact TreeSHAP values (``pred_contribs=True``) of the 30-day
cumulative log-hazard (see ``hazard.ChurnModel.contributions``). They are summed per PRD
§3.1 component (the seven names of the rule score) and also kept per feature; the top three
of each that push the risk up are reported, with a sentence built from the tutor's figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from tutorpulse.risk.features import FEATURE_COMPONENTS, NOT_TUTOR_COMPONENTS
from tutorpulse.risk.hazard import ChurnModel
from tutorpulse.risk.rules import COMPONENT_WEIGHTS
from tutorpulse.risk.treeshap import contributions as tree_contributions

COMPONENTS = tuple(COMPONENT_WEIGHTS)
TOP = 3


def _n(value: float) -> str:
    return f"{value:.0f}"


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _plural(value: float, word: str) -> str:
    return f"{value:.0f} {word}{'' if round(value) == 1 else 's'}"


Template = Callable[[dict[str, Any]], str]
TEMPLATES: dict[str, Template] = {
    "reschedules_7d": lambda r: (
        f"Rescheduled {_plural(r['reschedules_7d'], 'session')} this "
        f"week (usual: {_n(r['reschedules_30d_weekly'])})"
    ),
    "reschedules_30d": lambda r: (
        f"Rescheduled {_plural(r['reschedules_30d'], 'session')} in 30 days"
    ),
    "reschedule_rate_7d": lambda r: (
        f"{_pct(r['reschedule_rate_7d'])} of this week's sessions were rescheduled"
    ),
    "reschedule_rate_30d": lambda r: (
        f"{_pct(r['reschedule_rate_30d'])} of sessions rescheduled in 30 days"
    ),
    "short_notice_reschedules_30d": lambda r: (
        f"{_plural(r['short_notice_reschedules_30d'], 'reschedule')} "
        "with less than 24 hours' notice in 30 days"
    ),
    "sessions_7d": lambda r: (
        f"Held {_plural(r['sessions_7d'], 'session')} in the last 7 days "
        f"(usual: {_n(r['baseline_sessions_per_week'])} a week)"
    ),
    "sessions_30d": lambda r: f"Held {_plural(r['sessions_30d'], 'session')} in 30 days",
    "sessions_90d": lambda r: f"Held {_plural(r['sessions_90d'], 'session')} in 90 days",
    "sessions_trend": lambda r: (
        f"Sessions this week {r['sessions_trend'] * 100:+.0f}% vs the previous four weeks"
    ),
    "sessions_7d_vs_baseline": lambda r: (
        f"Held {_pct(r['sessions_7d_vs_baseline'])} of their "
        "usual weekly sessions in the last 7 days"
    ),
    "sessions_30d_vs_baseline": lambda r: (
        f"Held {_pct(r['sessions_30d_vs_baseline'])} of their usual sessions over 30 days"
    ),
    "last_week_vs_baseline": lambda r: (
        f"Held {_pct(r['last_week_vs_baseline'])} of their usual sessions last week"
    ),
    "low_weeks_streak": lambda r: (
        f"{_plural(r['low_weeks_streak'], 'week')} in a row below half their usual sessions"
    ),
    "this_week_pace": lambda r: f"This week's pace is {_pct(r['this_week_pace'])} of their usual",
    "days_since_last_session": lambda r: (
        f"No session for {_plural(r['days_since_last_session'], 'day')}"
    ),
    "availability_change_pct": lambda r: (
        f"Availability {r['availability_change_pct'] * 100:+.0f}% over 4 weeks"
    ),
    "availability_hours_current": lambda r: (
        f"Available {_n(r['availability_hours_current'])} hours a week"
    ),
    "availability_changes_30d": lambda r: (
        f"Changed availability {_plural(r['availability_changes_30d'], 'time')} in 30 days"
    ),
    "logins_7d": lambda r: (
        f"Logged in {_plural(r['logins_7d'], 'time')} this week "
        f"(usual: {_n(r['logins_30d_weekly'])})"
    ),
    "logins_30d": lambda r: f"Logged in {_plural(r['logins_30d'], 'time')} in 30 days",
    "login_decline": lambda r: f"Logins down {_pct(r['login_decline'])} over the last two weeks",
    "days_since_last_login": lambda r: (
        f"Last login {_plural(r['days_since_last_login'], 'day')} ago"
    ),
    "engagement_7d": lambda r: (
        f"Engagement {_n(r['engagement_7d'])}% this week (30 days: {_n(r['engagement_score'])}%)"
    ),
    "engagement_score": lambda r: f"Engagement {_n(r['engagement_score'])}% over 30 days",
    "in_session_engagement_7d": lambda r: (
        f"In-session engagement {_pct(r['in_session_engagement_7d'])} this week"
    ),
    "prep_minutes_7d": lambda r: f"Prepares {_n(r['prep_minutes_7d'])} minutes per session",
    "prep_minutes_30d": lambda r: (
        f"Prepares {_n(r['prep_minutes_30d'])} minutes per session over 30 days"
    ),
    "prep_trend": lambda r: f"Session prep {r['prep_trend']:+.0f} minutes this week vs 30 days",
    "response_trend": lambda r: (
        f"Answers messages {abs(r['response_trend']):.0f} minutes "
        f"{'slower' if r['response_trend'] >= 0 else 'faster'} this week than over 30 days"
    ),
    "engagement_trend": lambda r: (
        f"Engagement {r['engagement_trend']:+.0f} points this week vs 30 days"
    ),
    "logins_7d_vs_30d": lambda r: (
        f"Logins this week at {_pct(r['logins_7d_vs_30d'])} of their 30-day pace"
    ),
    "in_session_engagement_30d": lambda r: (
        f"In-session engagement {_pct(r['in_session_engagement_30d'])} over 30 days"
    ),
    "in_session_engagement_trend": lambda r: (
        f"In-session engagement "
        f"{100 * r['in_session_engagement_trend']:+.0f} points this week vs 30 days"
    ),
    "objectives_met_trend": lambda r: (
        f"Learning objectives met "
        f"{100 * r['objectives_met_trend']:+.0f} points this week vs 30 days"
    ),
    "no_show_rate_30d": lambda r: (
        f"No-shows in {_pct(r['no_show_rate_30d'])} of sessions over 30 days"
    ),
    "response_p50": lambda r: f"Answers messages in {_n(r['response_p50'])} minutes (median)",
    "response_p95": lambda r: f"Slowest message answers take {_n(r['response_p95'])} minutes",
    "rating_7d": lambda r: (
        f"Average rating {r['rating_7d']:.1f} this week "
        f"(last 30 sessions: {r['rating_last30']:.1f})"
    ),
    "rating_30d": lambda r: f"Average rating {r['rating_30d']:.1f} over 30 days",
    "rating_last30": lambda r: f"Average rating {r['rating_last30']:.1f} over the last 30 sessions",
    "rating_trend": lambda r: f"Rating {r['rating_trend']:+.1f} this week vs the last 30 sessions",
    "objectives_met_rate_30d": lambda r: (
        f"Learning objectives met in {_pct(r['objectives_met_rate_30d'])} of sessions"
    ),
    "technical_issues_rate_30d": lambda r: (
        f"Technical issues in {_pct(r['technical_issues_rate_30d'])} of sessions"
    ),
    "first_session_success_rate": lambda r: (
        f"First-session success {_pct(r['first_session_success_rate'])}"
    ),
    "first_session_poor_30d": lambda r: (
        f"{_plural(r['first_session_poor_30d'], 'poor first session')} in 30 days"
    ),
    "first_session_negative_feedback_30d": lambda r: (
        f"Negative first-session feedback "
        f"{_plural(r['first_session_negative_feedback_30d'], 'time')} in 30 days"
    ),
    "first_session_no_follow_up_30d": lambda r: (
        f"{_plural(r['first_session_no_follow_up_30d'], 'first session')} without a follow-up"
    ),
    "first_sessions_30d": lambda r: (
        f"{_plural(r['first_sessions_30d'], 'first session')} in 30 days"
    ),
    "no_show_14d": lambda r: f"{_plural(r['no_show_14d'], 'no-show')} in the last 14 days",
    "no_show_30d": lambda r: f"{_plural(r['no_show_30d'], 'no-show')} in 30 days",
    "late_starts_30d": lambda r: f"Started late {_plural(r['late_starts_30d'], 'time')} in 30 days",
    "tenure_days": lambda r: f"On the platform for {_plural(r['tenure_days'], 'day')}",
    "is_new": lambda r: "New tutor (less than 30 days)",
    "training_completed_90d": lambda r: (
        f"Completed {_plural(r['training_completed_90d'], 'training module')} in 90 days"
    ),
    "subjects_taught": lambda r: f"Teaches {_plural(r['subjects_taught'], 'subject')}",
    "baseline_sessions_per_week": lambda r: (
        f"Usual load {_n(r['baseline_sessions_per_week'])} sessions a week"
    ),
    "sessions_3d_vs_baseline": lambda r: (
        f"Held {_pct(r['sessions_3d_vs_baseline'])} of the usual sessions in the last 3 days"
    ),
    "sessions_14d_vs_baseline": lambda r: (
        f"Held {_pct(r['sessions_14d_vs_baseline'])} of the usual sessions in 14 days"
    ),
    "active_days_14d": lambda r: f"Taught on {_plural(r['active_days_14d'], 'day')} of the last 14",
    "pace_fast_vs_baseline": lambda r: (
        f"Recent pace {_pct(r['pace_fast_vs_baseline'])} of the usual load"
    ),
    "pace_slow_vs_baseline": lambda r: (
        f"Pace over the last weeks {_pct(r['pace_slow_vs_baseline'])} of the usual load"
    ),
    "pace_fast_vs_slow": lambda r: (
        f"This week's pace is {_pct(r['pace_fast_vs_slow'])} of the last weeks'"
    ),
    "sessions_7d_vs_30d": lambda r: (
        f"Sessions this week at {_pct(r['sessions_7d_vs_30d'])} of the 30-day pace"
    ),
    "sessions_30d_vs_90d": lambda r: (
        f"Sessions this month at {_pct(r['sessions_30d_vs_90d'])} of the 90-day pace"
    ),
    "bookings_7d_vs_30d": lambda r: (
        f"Bookings this week at {_pct(r['bookings_7d_vs_30d'])} of the 30-day pace"
    ),
    "sessions_missed_since_last": lambda r: (
        f"About {_plural(r['sessions_missed_since_last'], 'usual session')} "
        "missed since the last one"
    ),
    "days_since_availability_cut": lambda r: (
        f"Cut availability to {_pct(r['availability_cut_ratio'])} of the hours "
        f"{_plural(r['days_since_availability_cut'], 'day')} ago"
    ),
    "availability_cut_ratio": lambda r: (
        f"Cut availability to {_pct(r['availability_cut_ratio'])} of the hours"
    ),
    "availability_vs_baseline": lambda r: (
        f"{_n(r['availability_vs_baseline'])} available hours per usual weekly session"
    ),
    "responses_7d_vs_30d": lambda r: (
        f"Answered messages this week at {_pct(r['responses_7d_vs_30d'])} of the usual rate"
    ),
    "prep_count_7d_vs_30d": lambda r: (
        f"Prepared sessions this week at {_pct(r['prep_count_7d_vs_30d'])} of the usual rate"
    ),
    "logins_30d_vs_90d": lambda r: (
        f"Logins this month at {_pct(r['logins_30d_vs_90d'])} of the 90-day rate"
    ),
    "engagement_7d_vs_90d": lambda r: (
        f"Engagement {r['engagement_7d_vs_90d']:+.2f} against the 90-day level"
    ),
}


def describe(feature: str, row: dict[str, Any]) -> str:
    """A sentence about one feature of one tutor; unknown figures say so."""
    value = row.get(feature)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{feature.replace('_', ' ').capitalize()}: no data"
    template = TEMPLATES.get(feature)
    try:
        return template(row) if template else f"{feature.replace('_', ' ')}: {value:g}"
    except (KeyError, TypeError, ValueError):
        return f"{feature.replace('_', ' ')}: {value:g}"


def explain(
    model: ChurnModel, rows: pd.DataFrame, *, horizon: int = 30, top: int = TOP
) -> dict[Any, dict[str, Any]]:
    """Per row (keyed by ``rows.index``): component totals, top components, top features."""
    # The same values as ``model.contributions``, with a tree's walks shared between the
    # intervals it cannot tell apart (issue 11).
    contributions = tree_contributions(model, rows, horizon=horizon).to_numpy(dtype=float)
    groups = [FEATURE_COMPONENTS.get(f, "calendar") for f in model.features]
    one_hot = np.array([[g == c for c in COMPONENTS] for g in groups], dtype=float)
    grouped = contributions @ one_hot if len(groups) else np.zeros((len(rows), len(COMPONENTS)))
    # Calendar and intervention features describe the date or what we did, not the tutor:
    # never a top factor.
    tutor_only = np.where([g in NOT_TUTOR_COMPONENTS for g in groups], -np.inf, contributions)
    component_order = np.argsort(-grouped, axis=1, kind="stable")[:, :top]
    feature_order = np.argsort(-tutor_only, axis=1, kind="stable")[:, :top]
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in rows.to_dict("records")
    ]
    result: dict[Any, dict[str, Any]] = {}
    for n, key in enumerate(rows.index):
        row = records[n]
        features = [model.features[j] for j in feature_order[n] if tutor_only[n, j] > 0]
        result[key] = {
            "components": {
                c: round(float(v), 4) for c, v in zip(COMPONENTS, grouped[n], strict=True)
            },
            "top": [COMPONENTS[j] for j in component_order[n] if grouped[n, j] > 0],
            "top_features": [
                {
                    "feature": f,
                    "component": FEATURE_COMPONENTS.get(f, "calendar"),
                    "contribution": round(float(contributions[n, model.features.index(f)]), 4),
                    "value": _plain(row.get(f)),
                    "text": describe(f, row),
                }
                for f in features
            ],
        }
    return result


def _plain(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 4)
