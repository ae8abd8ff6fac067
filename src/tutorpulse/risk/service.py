"""Persisting churn scores. Rule scores and model predictions are stored side by side."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import delete
from sqlalchemy.orm import Session

from tutorpulse.db.base import table_of
from tutorpulse.metrics.service import chunked, plain
from tutorpulse.risk.models import ChurnPrediction
from tutorpulse.risk.rules import COMPONENT_WEIGHTS

RULES_SOURCE = "rules"


def save_rule_scores(db: Session, *, scores: pd.DataFrame, as_of: date) -> int:
    tutor_ids = [str(t) for t in scores.index]
    for part in chunked(tutor_ids):
        db.execute(
            delete(ChurnPrediction).where(
                ChurnPrediction.prediction_date == as_of,
                ChurnPrediction.score_source == RULES_SOURCE,
                ChurnPrediction.tutor_id.in_(part),
            )
        )
    rows = [_row(str(tutor_id), row, as_of) for tutor_id, row in scores.iterrows()]
    if rows:
        db.execute(table_of(ChurnPrediction).insert(), rows)
    return len(rows)


def _row(tutor_id: str, row: pd.Series, as_of: date) -> dict[str, Any]:
    components = {name: plain(row[f"points_{name}"]) for name in COMPONENT_WEIGHTS}
    top = sorted(components.items(), key=lambda item: item[1] or 0, reverse=True)[:3]
    return {
        "tutor_id": tutor_id,
        "prediction_date": as_of,
        "churn_score": int(row["score"]),
        "risk_level": row["risk_level"],
        "score_source": RULES_SOURCE,
        "contributing_factors": {
            "components": components,
            "pattern_bonus": int(row["pattern_bonus"]),
            "top": [name for name, points in top if points],
        },
        "model_version": None,
    }
