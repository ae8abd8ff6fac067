"""Model scores: the champion's four probabilities, score, risk level and factors per tutor.

With a champion, churn score = round(100 x calibrated P(churn within 30 days)) and the risk
level follows the PRD bands; rows are stored with source "model" beside the rule score's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete
from sqlalchemy.orm import Session

from tutorpulse.db.base import table_of
from tutorpulse.errors import TutorpulseError
from tutorpulse.metrics.data import MarketData, day_end
from tutorpulse.metrics.service import chunked
from tutorpulse.risk.explain import explain
from tutorpulse.risk.features import features_from_metrics
from tutorpulse.risk.hazard import HORIZONS, ChurnModel
from tutorpulse.risk.intervention_features import load_intervention_history
from tutorpulse.risk.models import ChurnPrediction
from tutorpulse.risk.registry import champion, load_churn_model
from tutorpulse.risk.rules import risk_level

MODEL_SOURCE = "model"
logger = logging.getLogger(__name__)
PROBABILITY_COLUMNS = [f"p{h}" for h in HORIZONS]


def score_frame(model: ChurnModel, features: pd.DataFrame) -> pd.DataFrame:
    """p1, p7, p30, p90 (calibrated, coherent), score and risk level per row."""
    scores = model.predict(features)
    scores["score"] = np.round(100 * scores["p30"]).astype(int)
    scores["risk_level"] = scores["score"].map(risk_level)
    return scores


@dataclass(frozen=True)
class ModelScoring:
    version: str
    scores: pd.DataFrame
    factors: dict[Any, dict[str, Any]]


def score_tutors(
    model: ChurnModel, *, version: str, features: pd.DataFrame, explain_factors: bool = True
) -> ModelScoring:
    scores = score_frame(model, features)
    factors = explain(model, features) if explain_factors else {}
    return ModelScoring(version=version, scores=scores, factors=factors)


def save_model_scores(db: Session, *, scoring: ModelScoring, as_of: date) -> int:
    """Replace the day's model rows of these tutors (re-running a day is idempotent)."""
    tutor_ids = [str(t) for t in scoring.scores.index]
    for part in chunked(tutor_ids):
        db.execute(
            delete(ChurnPrediction).where(
                ChurnPrediction.prediction_date == as_of,
                ChurnPrediction.score_source == MODEL_SOURCE,
                ChurnPrediction.tutor_id.in_(part),
            )
        )
    rows = []
    records = scoring.scores.to_dict("records")
    for tutor_id, row in zip(tutor_ids, records, strict=True):
        rows.append(
            {
                "tutor_id": tutor_id,
                "prediction_date": as_of,
                "churn_score": int(row["score"]),
                "risk_level": str(row["risk_level"]),
                "score_source": MODEL_SOURCE,
                "window_1day_probability": round(float(row["p1"]), 6),
                "window_7day_probability": round(float(row["p7"]), 6),
                "window_30day_probability": round(float(row["p30"]), 6),
                "window_90day_probability": round(float(row["p90"]), 6),
                "contributing_factors": scoring.factors.get(tutor_id, {}),
                "model_version": scoring.version,
            }
        )
    if rows:
        db.execute(table_of(ChurnPrediction).insert(), rows)
    return len(rows)


def score_day(
    db: Session, *, data: MarketData, metrics: pd.DataFrame, as_of: date
) -> ModelScoring | None:
    """Score and store the tutors of ``metrics`` with the champion; None without one."""
    row = champion(db)
    if row is None or metrics.empty:
        return None
    try:
        model = load_churn_model(row)
    except TutorpulseError as exc:
        # A missing artifact must not stop the pipeline: the rule score still stands.
        logger.error("model scoring skipped: %s", exc)
        return None
    interventions = load_intervention_history(db, until=day_end(as_of))
    features = features_from_metrics(metrics, data, as_of=as_of, interventions=interventions)
    scoring = score_tutors(model, version=row.version, features=features)
    save_model_scores(db, scoring=scoring, as_of=as_of)
    return scoring


def score_with_models(
    db: Session, *, data: MarketData, metrics: pd.DataFrame, as_of: date, now: datetime
) -> dict[str, float]:
    """The pipeline's one call after the rule score: champion churn scores (when a champion
    exists) and the first-session risks of upcoming first sessions (when that model exists),
    returned as ``{session_id: risk}`` for the intervention engine's prep reminders."""
    from tutorpulse.risk.first_session import upcoming_first_session_risks

    score_day(db, data=data, metrics=metrics, as_of=as_of)
    return upcoming_first_session_risks(db, data=data, metrics=metrics, as_of=as_of, now=now)
