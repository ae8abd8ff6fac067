"""Persisting one day's metrics, flags and tiers. Re-running a day replaces that day's rows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session

from tutorpulse.db.base import table_of
from tutorpulse.metrics.compute import (
    MIN_DUE_SESSIONS,
    MIN_FIRST_SESSIONS,
    MIN_NO_SHOW_BASE,
    MIN_RATED,
    WINDOWS,
    ratio,
    wilson_interval,
)
from tutorpulse.metrics.flags import (
    PATTERN_EVIDENCE_KEYS,
    PATTERN_LABELS,
    THRESHOLD_RULES,
    Columns,
)
from tutorpulse.metrics.models import TierChange, TutorFlag, TutorPerformanceMetric

ID_CHUNK = 900
INACTIVITY_CHURN_DAYS = 15
T = TypeVar("T")
OVERALL_KEYS = (
    "rating_last30",
    "rating_last30_n",
    "days_since_last_session",
    "days_since_last_login",
    "sessions_trend",
    "login_decline",
    "no_show_14d_count",
    "availability_hours_current",
    "availability_change_pct",
    "tenure_days",
    "first_sessions_30d_n",
    "first_session_poor_30d_count",
    "first_session_negative_feedback_30d_count",
    "first_session_no_follow_up_30d_count",
)


def plain(value: Any) -> Any:
    """JSON-safe Python value: NaN/NA become None, numpy scalars become Python ones."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return None if math.isnan(number) else round(number, 4)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def chunked(items: list[T], size: int = ID_CHUNK) -> Iterator[list[T]]:
    """Slices small enough for an ``IN (...)`` list on every backend."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def metric_rows(
    frame: pd.DataFrame,
    tiers: pd.DataFrame,
    *,
    as_of: date,
    extras: Mapping[str, dict[str, Any]] | None = None,
    churn: Mapping[str, tuple[date, str]] | None = None,
) -> Iterable[dict[str, Any]]:
    """One row per tutor and window; figures below their minimum sample are None.

    ``churn``: the churned tutors' churn date and reason (``risk.labels.current_churn``);
    without it, only the inactivity rule is applied (from the days since the last session).
    """
    # Plain dicts: pandas row access is far slower than the formatting done here.
    records = _records(frame)
    tier_records = _records(tiers.reindex(frame.index))
    for tutor_id, row, tier_row in zip(frame.index, records, tier_records, strict=True):
        tier = tier_row["tier"] if isinstance(tier_row["tier"], str) else None
        overall = {key: plain(row[key]) for key in OVERALL_KEYS}
        overall["composite_percentile"] = plain(tier_row["percentile"])
        overall["tier_reason"] = tier_row["reason"]
        overall |= (extras or {}).get(str(tutor_id), {})
        if churn is None:
            churned_on = _inactivity_churn_day(overall, as_of)
            state = (churned_on, "inactivity") if churned_on is not None else None
        else:
            state = churn.get(str(tutor_id))
        for window in WINDOWS:
            yield _window_row(str(tutor_id), row, window, as_of, tier, overall, state)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict("records")`` (native Python scalars), built column by column: pandas'
    own version boxes every cell through several checks, the main cost of a one-tutor save."""
    names = [str(name) for name in frame.columns]
    # One object matrix: numpy turns int64/float64 cells into Python ints and floats.
    rows = frame.to_numpy(dtype=object).tolist()
    return [dict(zip(names, values, strict=True)) for values in rows]


def _window_row(
    tutor_id: str,
    row: Mapping[Any, Any],
    window: int,
    as_of: date,
    tier: str | None,
    overall: dict[str, Any],
    churn: tuple[date, str] | None = None,
) -> dict[str, Any]:
    def get(name: str) -> Any:
        return plain(row[f"w{window}_{name}"])

    due, held = get("due_count"), get("held_n")
    rated, first = get("rated_n"), get("first_rated_n")
    first_success = ratio(get("first_success_count"), first)
    no_show_rate = ratio(get("no_show_count"), due)
    reschedule_rate = ratio(get("reschedule_count"), due)
    objectives = ratio(get("objectives_met_count"), held)
    details = {
        "sample": {"due": due, "held": held, "rated": rated, "first_rated": first},
        "enough_data": {
            "avg_rating": rated >= MIN_RATED,
            "first_session_success_rate": first >= MIN_FIRST_SESSIONS,
            "reschedule_rate": due >= MIN_DUE_SESSIONS,
            "no_show_rate": due >= MIN_NO_SHOW_BASE,
            "learning_objectives_met_pct": held >= MIN_DUE_SESSIONS,
        },
        "raw": {
            "avg_rating": get("avg_rating"),
            "first_session_success_rate": first_success,
            "reschedule_rate": reschedule_rate,
            "no_show_rate": no_show_rate,
            "learning_objectives_met_pct": objectives,
        },
        "interval95": {
            "first_session_success_rate": wilson_interval(get("first_success_count"), first),
            "no_show_rate": wilson_interval(get("no_show_count"), due),
            "reschedule_rate": wilson_interval(get("reschedule_count"), due),
            "learning_objectives_met_pct": wilson_interval(get("objectives_met_count"), held),
        },
        "logins": get("login_count"),
        "prep_avg_minutes": get("prep_avg_minutes"),
        "response_p95_minutes": get("response_p95_minutes"),
        "response_n": get("response_n"),
        "trainings_completed": get("training_count"),
        "availability_changes_per_week": plain(get("availability_change_count") / (window / 7)),
        "technical_issues_per_session": ratio(get("technical_issue_count"), held),
        "late_starts": get("late_start_count"),
        "reschedule_requests": get("reschedule_request_count"),
        "short_notice_reschedules": get("short_notice_reschedule_count"),
        "in_session_engagement": get("avg_engagement_in_session"),
        "overall": overall,
    }
    enough = details["enough_data"]
    return {
        "tutor_id": tutor_id,
        "calculation_date": as_of,
        "window_days": window,
        "sessions_completed": get("completed_count"),
        "avg_rating": get("avg_rating") if enough["avg_rating"] else None,
        "first_session_success_rate": first_success
        if enough["first_session_success_rate"]
        else None,
        "reschedule_rate": reschedule_rate if enough["reschedule_rate"] else None,
        "no_show_count": get("no_show_count"),
        "no_show_rate": no_show_rate if enough["no_show_rate"] else None,
        "engagement_score": get("engagement_score"),
        "learning_objectives_met_pct": objectives
        if enough["learning_objectives_met_pct"]
        else None,
        "response_time_avg_minutes": get("response_avg_minutes"),
        "performance_tier": tier,
        "details": details,
        "sessions_due": due,
        "first_rated": first,
        "first_successes": get("first_success_count"),
        "churned_on": churn[0] if churn is not None else None,
        "churn_reason": churn[1] if churn is not None else None,
    }


def _inactivity_churn_day(overall: Mapping[str, Any], as_of: date) -> date | None:
    """The 15th day without a held session (from the last one, or from onboarding)."""
    idle = overall.get("days_since_last_session")
    if idle is None:
        idle = overall.get("tenure_days")
    if idle is None or int(idle) < INACTIVITY_CHURN_DAYS:
        return None
    return as_of - timedelta(days=int(idle) - INACTIVITY_CHURN_DAYS)


def save_metrics(
    db: Session,
    *,
    frame: pd.DataFrame,
    tiers: pd.DataFrame,
    as_of: date,
    extras: Mapping[str, dict[str, Any]] | None = None,
    churn: Mapping[str, tuple[date, str]] | None = None,
) -> int:
    tutor_ids = [str(t) for t in frame.index]
    for part in chunked(tutor_ids):
        db.execute(
            delete(TutorPerformanceMetric).where(
                TutorPerformanceMetric.calculation_date == as_of,
                TutorPerformanceMetric.tutor_id.in_(part),
            )
        )
    rows = list(metric_rows(frame, tiers, as_of=as_of, extras=extras, churn=churn))
    if rows:
        db.execute(table_of(TutorPerformanceMetric).insert(), rows)
    return len(rows)


def update_flags(
    db: Session,
    *,
    frame: pd.DataFrame,
    red_flags: pd.DataFrame,
    patterns: pd.DataFrame,
    as_of: date,
    evidence_ids: Mapping[tuple[str, str], list[str]] | None = None,
) -> dict[str, int]:
    """Raise new flags, refresh open ones, clear the ones whose condition no longer holds.

    Set-based: one read of the open flags, then bulk insert / update / delete statements.
    """
    tutor_ids = [str(t) for t in frame.index]
    open_flags: dict[tuple[str, str], tuple[int, date, date]] = {}
    for part in chunked(tutor_ids):
        for flag_id, tutor_id, flag_type, raised_on, last_seen_on in db.execute(
            select(
                TutorFlag.id,
                TutorFlag.tutor_id,
                TutorFlag.flag_type,
                TutorFlag.raised_on,
                TutorFlag.last_seen_on,
            ).where(
                TutorFlag.tutor_id.in_(part),
                TutorFlag.cleared_on.is_(None),
                TutorFlag.raised_on <= as_of,
            )
        ):
            open_flags[(tutor_id, flag_type)] = (flag_id, raised_on, last_seen_on)
    active = _active_flags(frame, red_flags, patterns)
    for key, session_ids in (evidence_ids or {}).items():
        if key in active:
            active[key][1]["session_ids"] = session_ids
    raised: list[dict[str, Any]] = []
    refreshed: list[dict[str, Any]] = []
    for (tutor_id, flag_type), (category, evidence) in active.items():
        existing = open_flags.pop((tutor_id, flag_type), None)
        if existing is None:
            raised.append(
                {
                    "tutor_id": tutor_id,
                    "flag_type": flag_type,
                    "category": category,
                    "raised_on": as_of,
                    "last_seen_on": as_of,
                    "evidence": evidence,
                }
            )
        else:
            flag_id, _, last_seen_on = existing
            refreshed.append(
                {"id": flag_id, "last_seen_on": max(last_seen_on, as_of), "evidence": evidence}
            )
    # Raised by an earlier run of this same day and no longer true: as if never raised.
    retracted = [flag_id for flag_id, raised_on, _ in open_flags.values() if raised_on == as_of]
    cleared = [flag_id for flag_id, raised_on, _ in open_flags.values() if raised_on != as_of]
    if raised:
        db.execute(table_of(TutorFlag).insert(), raised)
    if refreshed:
        db.execute(update(TutorFlag), refreshed)
    for part_ids in chunked(retracted):
        db.execute(delete(TutorFlag).where(TutorFlag.id.in_(part_ids)))
    for part_ids in chunked(cleared):
        db.execute(update(TutorFlag).where(TutorFlag.id.in_(part_ids)).values(cleared_on=as_of))
    return {"raised": len(raised), "cleared": len(cleared), "open": len(active)}


def clear_flags_of_inactive(db: Session, *, active_tutor_ids: set[str], as_of: date) -> int:
    """Close the open flags of tutors no longer active (their data has gone quiet)."""
    stale = [
        flag
        for flag in db.scalars(
            select(TutorFlag).where(TutorFlag.cleared_on.is_(None), TutorFlag.raised_on < as_of)
        )
        if flag.tutor_id not in active_tutor_ids
    ]
    for flag in stale:
        flag.cleared_on = as_of
    return len(stale)


def _active_flags(
    frame: pd.DataFrame, red_flags: pd.DataFrame, patterns: pd.DataFrame
) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    active: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    rules = {rule.code: rule for rule in THRESHOLD_RULES}
    columns = Columns(frame)
    for code in red_flags.columns:
        values = rules[code].value(columns)
        positions = frame.index.get_indexer(red_flags.index[red_flags[code].to_numpy(bool)])
        for position in positions.tolist():
            active[(str(frame.index[position]), code)] = (
                "threshold",
                {
                    "label": rules[code].label,
                    "value": plain(values[position]),
                    "threshold": rules[code].threshold,
                },
            )
    for code in patterns.columns:
        positions = frame.index.get_indexer(patterns.index[patterns[code].to_numpy(bool)])
        keys = PATTERN_EVIDENCE_KEYS.get(code, PATTERN_EVIDENCE_KEYS["engagement_decline"])
        for position in positions.tolist():
            # Floats, as ``pattern_evidence`` reads them: a row of the all-numeric frame.
            evidence = {key: plain(columns[key][position]) for key in keys}
            active[(str(frame.index[position]), code)] = (
                "pattern",
                {"label": PATTERN_LABELS[code]} | evidence,
            )
    return active


def record_tiers(db: Session, *, tiers: pd.DataFrame, as_of: date) -> int:
    """Tier history: a row when a tutor's tier differs from the last one before this day."""
    tutor_ids = [str(t) for t in tiers.index]
    previous: dict[str, str | None] = {}
    for part in chunked(tutor_ids):
        db.execute(
            delete(TierChange).where(TierChange.changed_on == as_of, TierChange.tutor_id.in_(part))
        )
        latest = (
            select(TierChange.tutor_id, func.max(TierChange.changed_on).label("day"))
            .where(
                TierChange.tutor_id.in_(part),
                TierChange.changed_on < as_of,
                TierChange.kind == "change",
            )
            .group_by(TierChange.tutor_id)
            .subquery()
        )
        query = select(TierChange.tutor_id, TierChange.to_tier).join(
            latest,
            and_(
                TierChange.tutor_id == latest.c.tutor_id,
                TierChange.changed_on == latest.c.day,
                TierChange.kind == "change",
            ),
        )
        previous.update({tid: tier for tid, tier in db.execute(query)})
    rows: list[dict[str, Any]] = []
    for tutor_id, row in tiers.iterrows():
        tier = row["tier"]
        before = previous.get(str(tutor_id))
        if tier != before and (tier is not None or str(tutor_id) in previous):
            rows.append(_tier_row(str(tutor_id), as_of, "change", before, tier, row["reason"]))
        if as_of.day == 1 and tier is not None:
            rows.append(
                _tier_row(str(tutor_id), as_of, "monthly_review", before, tier, row["reason"])
            )
    if rows:
        db.execute(table_of(TierChange).insert(), rows)
    return len(rows)


def _tier_row(
    tutor_id: str, day: date, kind: str, before: str | None, after: str | None, reason: str
) -> dict[str, Any]:
    return {
        "tutor_id": tutor_id,
        "changed_on": day,
        "kind": kind,
        "from_tier": before,
        "to_tier": after,
        "reason": reason[:500],
    }


TRAINING_DEADLINE_DAYS = 7


def training_completion(
    db: Session, *, tutor_ids: list[str], as_of: date, days: int = 90
) -> dict[str, dict[str, Any]]:
    """Training modules assigned (A2, not holdout) in the last ``days`` days, and how many
    the tutor completed within 7 days of the assignment (``training_completed`` events)."""
    from tutorpulse.interventions.models import Intervention
    from tutorpulse.marketplace.models import TutorEvent
    from tutorpulse.metrics.data import day_end, day_start

    start, end = day_start(as_of - timedelta(days=days - 1)), day_end(as_of)
    assigned: dict[str, list[tuple[str, datetime]]] = {}
    completed: dict[str, list[tuple[str, datetime]]] = {}
    for part in chunked(tutor_ids):
        for tutor_id, evidence, when in db.execute(
            select(
                Intervention.tutor_id, Intervention.evidence, Intervention.recommended_date
            ).where(
                Intervention.intervention_type == "A2",
                Intervention.holdout.is_(False),
                Intervention.tutor_id.in_(part),
                Intervention.recommended_date >= start,
                Intervention.recommended_date < end,
            )
        ):
            assigned.setdefault(tutor_id, []).append((str(evidence.get("module_id")), when))
        if not assigned:
            continue
        for tutor_id, metadata, when in db.execute(
            select(
                TutorEvent.tutor_id, TutorEvent.event_metadata, TutorEvent.event_timestamp
            ).where(
                TutorEvent.event_type == "training_completed",
                TutorEvent.tutor_id.in_([t for t in part if t in assigned]),
                TutorEvent.event_timestamp >= start,
                TutorEvent.event_timestamp < end,
            )
        ):
            completed.setdefault(tutor_id, []).append((str(metadata.get("module_id")), when))
    result: dict[str, dict[str, Any]] = {}
    for tutor_id, modules in assigned.items():
        done = sum(
            any(
                module == finished and given <= at <= given + timedelta(TRAINING_DEADLINE_DAYS)
                for finished, at in completed.get(tutor_id, [])
            )
            for module, given in modules
        )
        result[tutor_id] = {
            "training_assigned": len(modules),
            "training_completed_in_time": done,
            "training_completion_rate": round(done / len(modules), 4),
        }
    return result
