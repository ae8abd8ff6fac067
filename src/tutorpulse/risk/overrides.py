"""Ops managers' overrides of a tutor's risk level: reason and expiry required, audited.

An override never replaces the model's figures: it is shown beside them. The model's score
and level at the time are kept on the override, so that the monthly report can compare, for
overridden tutors, the override's level and the model's with what happened.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.marketplace.models import Tutor
from tutorpulse.metrics.data import day_start
from tutorpulse.risk.models import ChurnPrediction, RiskOverride

LEVELS = ("Low", "Medium", "High", "Critical")
MAX_DAYS = 180
ELEVATED = ("High", "Critical")


class AuditHook(Protocol):
    def __call__(
        self,
        db: Session,
        *,
        actor: Any,
        action: str,
        target_type: str,
        target_id: str,
        details: dict[str, Any],
        now: datetime,
    ) -> None: ...


def _no_audit(db: Session, **_: Any) -> None:
    """Used only when the auth package (and its audit log) is not installed."""


def default_audit() -> AuditHook:
    try:
        from tutorpulse.auth import audit
    except ImportError:
        return _no_audit

    def record(db: Session, **kwargs: Any) -> None:
        audit.record(db, **kwargs)

    return record


def _actor_label(actor: Any) -> str:
    label = getattr(actor, "label", None) or getattr(actor, "email", None) or actor
    return str(label or "unknown")[:200]


def create_override(
    db: Session,
    *,
    tutor_id: str,
    risk_level: str,
    reason: str,
    expires_at: datetime,
    actor: Any,
    now: datetime,
    audit: AuditHook | None = None,
) -> RiskOverride:
    """Record an override; the latest model (or rule) prediction is kept beside it."""
    if risk_level not in LEVELS:
        raise TutorpulseError(f"risk level must be one of {', '.join(LEVELS)}")
    if not reason or not reason.strip():
        raise TutorpulseError("an override needs a reason")
    if expires_at.tzinfo is None:
        raise TutorpulseError("expiry must carry a timezone")
    if expires_at <= now:
        raise TutorpulseError("expiry must be in the future")
    if expires_at > now + timedelta(days=MAX_DAYS):
        raise TutorpulseError(f"expiry must be within {MAX_DAYS} days")
    if db.get(Tutor, tutor_id) is None:
        raise NotFoundError("tutor", tutor_id)
    latest = latest_prediction(db, tutor_id=tutor_id, as_of=now.date())
    item = RiskOverride(
        tutor_id=tutor_id,
        risk_level=risk_level,
        reason=reason.strip(),
        created_by=_actor_label(actor),
        starts_at=now,
        expires_at=expires_at,
        model_score=latest.churn_score if latest else None,
        model_risk_level=latest.risk_level if latest else None,
        model_version=latest.model_version if latest else None,
    )
    db.add(item)
    db.flush()
    (audit or default_audit())(
        db,
        actor=actor,
        action="prediction.override",
        target_type="tutor",
        target_id=tutor_id,
        details={
            "override_id": item.id,
            "risk_level": risk_level,
            "expires_at": expires_at.isoformat(),
        },
        now=now,
    )
    return item


def active_override(db: Session, *, tutor_id: str, now: datetime) -> RiskOverride | None:
    return db.scalar(
        select(RiskOverride)
        .where(
            RiskOverride.tutor_id == tutor_id,
            RiskOverride.starts_at <= now,
            RiskOverride.expires_at > now,
            RiskOverride.revoked_at.is_(None),
        )
        .order_by(RiskOverride.starts_at.desc(), RiskOverride.id.desc())
    )


def latest_prediction(db: Session, *, tutor_id: str, as_of: date) -> ChurnPrediction | None:
    """The latest day's prediction: the model's where there is one, else the rule score."""
    rows = db.scalars(
        select(ChurnPrediction)
        .where(ChurnPrediction.tutor_id == tutor_id, ChurnPrediction.prediction_date <= as_of)
        .order_by(ChurnPrediction.prediction_date.desc())
        .limit(2)
    ).all()
    if not rows:
        return None
    same_day = [r for r in rows if r.prediction_date == rows[0].prediction_date]
    return next((r for r in same_day if r.score_source == "model"), same_day[0])


def tutor_predictions(
    db: Session, *, tutor_id: str, now: datetime, days: int = 30
) -> dict[str, Any]:
    """What the predictions route shows: recent model/rule rows and any active override."""
    if db.get(Tutor, tutor_id) is None:
        raise NotFoundError("tutor", tutor_id)
    rows = db.scalars(
        select(ChurnPrediction)
        .where(
            ChurnPrediction.tutor_id == tutor_id,
            ChurnPrediction.prediction_date > now.date() - timedelta(days=days),
            ChurnPrediction.prediction_date <= now.date(),
        )
        .order_by(ChurnPrediction.prediction_date.desc(), ChurnPrediction.score_source)
    ).all()
    override = active_override(db, tutor_id=tutor_id, now=now)
    return {
        "tutor_id": tutor_id,
        "predictions": [
            {
                "date": r.prediction_date.isoformat(),
                "source": r.score_source,
                "score": r.churn_score,
                "risk_level": r.risk_level,
                "probabilities": {
                    "1d": r.window_1day_probability,
                    "7d": r.window_7day_probability,
                    "30d": r.window_30day_probability,
                    "90d": r.window_90day_probability,
                },
                "factors": r.contributing_factors,
                "model_version": r.model_version,
            }
            for r in rows
        ],
        "override": None if override is None else override_view(override),
    }


def override_view(item: RiskOverride) -> dict[str, Any]:
    return {
        "id": item.id,
        "risk_level": item.risk_level,
        "reason": item.reason,
        "created_by": item.created_by,
        "starts_at": item.starts_at.isoformat(),
        "expires_at": item.expires_at.isoformat(),
        "model_score_at_override": item.model_score,
        "model_risk_level_at_override": item.model_risk_level,
        "model_version": item.model_version,
    }


def monthly_override_report(
    db: Session, *, month: date, churned: dict[str, date]
) -> dict[str, Any]:
    """Overrides made in ``month``: overridden level vs the model's, against what happened.

    ``churned`` maps tutor ids to churn dates (from ``labels.churn_spells``); a tutor counts
    as churned when the churn date falls within 30 days after the override.
    """
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    items = db.scalars(
        select(RiskOverride).where(
            RiskOverride.starts_at >= day_start(first),
            RiskOverride.starts_at < day_start(following),
        )
    ).all()
    rows = []
    for item in items:
        start = item.starts_at.date()
        churn = churned.get(item.tutor_id)
        outcome = churn is not None and start < churn <= start + timedelta(days=30)
        rows.append(
            {
                "tutor_id": item.tutor_id,
                "override_level": item.risk_level,
                "model_level": item.model_risk_level,
                "churned_within_30d": outcome,
                "override_right": (item.risk_level in ELEVATED) == outcome,
                "model_right": None
                if item.model_risk_level is None
                else (item.model_risk_level in ELEVATED) == outcome,
            }
        )
    judged = [r for r in rows if r["model_right"] is not None]
    return {
        "month": first.isoformat()[:7],
        "overrides": len(rows),
        "override_accuracy": _share([bool(r["override_right"]) for r in rows]),
        "model_accuracy": _share([bool(r["model_right"]) for r in judged]),
        "rows": rows,
    }


def _share(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
