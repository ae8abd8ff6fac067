"""PRD 4.4 effectiveness: acceptance, completion, impact, time to action, and measured uplift.

Uplift compares decisions that were acted on with the randomized holdout of the same rule:
the difference of improvement rates with a 95% (Agresti-Caffo) interval, not a before/after
story.
"Improved" = the tutor's churn score 14 days after the decision is lower than at decision.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.interventions.models import Intervention
from tutorpulse.metrics.data import day_end, day_start
from tutorpulse.risk.models import ChurnPrediction

FOLLOW_UP_DAYS = 14
TARGETS = {"acceptance": 0.70, "completion": 0.85, "impact": 0.60, "critical_hours": 24.0}


@dataclass(frozen=True)
class Uplift:
    treated_rate: float | None
    control_rate: float | None
    difference: float | None
    low: float | None
    high: float | None
    treated_n: int
    control_n: int


def uplift(treated: Sequence[bool], control: Sequence[bool], z: float = 1.96) -> Uplift:
    """Difference of rates (treated - control) with an Agresti-Caffo 95% interval.

    The interval adds one success and one failure to each arm before the Wald formula: the
    plain Wald interval collapses to a point when an arm has no events (a rare outcome in a
    small holdout, or an effective intervention), and then misses the truth far more often
    than 5% of the time; with the adjustment it keeps its coverage. The point estimate is the
    raw difference.
    """
    n_t, n_c = len(treated), len(control)
    if n_t == 0 or n_c == 0:
        rate_t = sum(treated) / n_t if n_t else None
        rate_c = sum(control) / n_c if n_c else None
        return Uplift(rate_t, rate_c, None, None, None, n_t, n_c)
    p_t, p_c = sum(treated) / n_t, sum(control) / n_c
    a_t, a_c = (sum(treated) + 1) / (n_t + 2), (sum(control) + 1) / (n_c + 2)
    se = math.sqrt(a_t * (1 - a_t) / (n_t + 2) + a_c * (1 - a_c) / (n_c + 2))
    centre = a_t - a_c
    low, high = max(-1.0, centre - z * se), min(1.0, centre + z * se)
    return Uplift(p_t, p_c, p_t - p_c, low, high, n_t, n_c)


def _score_lookup(db: Session) -> dict[tuple[str, date], int]:
    scores: dict[tuple[str, date], int] = {}
    sources: dict[tuple[str, date], str] = {}
    for tutor_id, day, source, score in db.execute(
        select(
            ChurnPrediction.tutor_id,
            ChurnPrediction.prediction_date,
            ChurnPrediction.score_source,
            ChurnPrediction.churn_score,
        )
    ):
        key = (tutor_id, day)
        if sources.get(key) == "model" and source != "model":
            continue
        sources[key], scores[key] = source, score
    return scores


def improved(item: Intervention, scores: dict[tuple[str, date], int], as_of: date) -> bool | None:
    """Whether the tutor's score fell 14 days after the decision (None: not known yet)."""
    decided = item.recommended_date.date()
    later = decided + timedelta(days=FOLLOW_UP_DAYS)
    if later > as_of:
        return None
    before = (
        item.churn_score if item.churn_score is not None else scores.get((item.tutor_id, decided))
    )
    after = scores.get((item.tutor_id, later))
    if before is None or after is None:
        return None
    return after < before


def effectiveness_report(db: Session, *, as_of: date) -> list[dict[str, Any]]:
    """One row per intervention type and risk level (and an "all" row per type)."""
    items = db.scalars(
        select(Intervention).where(
            Intervention.parent_id.is_(None),
            Intervention.recommended_date < day_end(as_of),
        )
    ).all()
    scores = _score_lookup(db)
    groups: dict[tuple[str, str], list[Intervention]] = defaultdict(list)
    for item in items:
        groups[(item.intervention_type, item.risk_level or "unknown")].append(item)
        groups[(item.intervention_type, "all")].append(item)
    return [
        _row(kind, level, members, scores, as_of)
        for (kind, level), members in sorted(groups.items())
    ]


def _row(
    kind: str,
    level: str,
    items: list[Intervention],
    scores: dict[tuple[str, date], int],
    as_of: date,
) -> dict[str, Any]:
    treated = [i for i in items if not i.holdout]
    control = [i for i in items if i.holdout]
    needed = [i for i in treated if i.closed_reason != "no_longer_needed"]
    human = [i for i in needed if i.mode == "human"]
    acted = [i for i in human if i.acted_at is not None]
    hours = [(i.acted_at - i.recommended_date).total_seconds() / 3600 for i in acted if i.acted_at]
    critical_hours = [
        (i.acted_at - i.recommended_date).total_seconds() / 3600
        for i in acted
        if i.acted_at and i.risk_level == "Critical"
    ]
    completed = [i for i in needed if i.status in ("completed", "sent")]
    outcome_t = [v for v in (improved(i, scores, as_of) for i in treated) if v is not None]
    outcome_c = [v for v in (improved(i, scores, as_of) for i in control) if v is not None]
    lift = uplift(outcome_t, outcome_c)
    return {
        "type": kind,
        "risk_level": level,
        "decisions": len(items),
        "treated": len(treated),
        "holdout": len(control),
        "acceptance_rate": len(acted) / len(human) if human else None,
        "completion_rate": len(completed) / len(needed) if needed else None,
        "impact_rate": sum(outcome_t) / len(outcome_t) if outcome_t else None,
        "time_to_action_hours_median": median(hours) if hours else None,
        "critical_time_to_action_hours_median": median(critical_hours) if critical_hours else None,
        "uplift": lift.__dict__,
        "targets": TARGETS,
    }


def intervention_features(db: Session, *, as_of: date, days: int = 30) -> dict[str, dict[str, int]]:
    """Per tutor: interventions received (not holdout) in the last ``days`` days, by type.

    For the churn model ("update the churn score based on intervention impact").
    """
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for tutor_id, kind, n in db.execute(
        select(Intervention.tutor_id, Intervention.intervention_type, func.count())
        .where(
            Intervention.holdout.is_(False),
            Intervention.parent_id.is_(None),
            Intervention.status != "cancelled",
            Intervention.recommended_date >= day_start(as_of - timedelta(days=days - 1)),
            Intervention.recommended_date < day_end(as_of),
        )
        .group_by(Intervention.tutor_id, Intervention.intervention_type)
    ):
        counts[tutor_id][kind] = int(n)
    return dict(counts)
