"""Ops managers' overrides of a tutor's risk level: reason and expiry required, audited.

An override never replaces the model's figures: it is shown beside them. The model's score
and level at the time are kept on the override, so that the monthly report can compare, for
overridden tutors, the override's level and the model's with what happened.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.marketplace.models import Tutor
from tutorpulse.metrics.data import day_end, day_start, load_market_range
from tutorpulse.risk.labels import churn_spells
from tutorpulse.risk.models import ChurnPrediction, RiskOverride

LEVELS = ("Low", "Medium", "High", "Critical")
MAX_REASON = 2000
MAX_DAYS = 180
ELEVATED = ("High", "Critical")
OUTCOME_DAYS = 30  # an override is judged on churn within 30 days of it
HISTORY_DAYS = 60


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


def revoke_override(
    db: Session,
    *,
    tutor_id: str,
    override_id: int,
    reason: str,
    actor: Any,
    now: datetime,
    audit: AuditHook | None = None,
) -> RiskOverride:
    """End an active override now; the reason goes to the audit log with who revoked it.

    The row is kept (``revoked_at`` set): the monthly report still counts it.
    """
    reason = (reason or "").strip()
    if not reason:
        raise TutorpulseError("revoking an override needs a reason")
    if len(reason) > MAX_REASON:
        raise TutorpulseError(f"reason must be at most {MAX_REASON} characters")
    item = db.get(RiskOverride, override_id)
    if item is None or item.tutor_id != tutor_id:
        raise NotFoundError(f"override of tutor {tutor_id!r}", override_id)
    if item.revoked_at is not None:
        raise TutorpulseError(
            f"override {override_id} was already revoked at {item.revoked_at.isoformat()}"
        )
    if item.expires_at <= now:
        raise TutorpulseError(
            f"override {override_id} already expired at {item.expires_at.isoformat()}"
        )
    item.revoked_at = now
    db.flush()
    (audit or default_audit())(
        db,
        actor=actor,
        action="prediction.override_revoke",
        target_type="tutor",
        target_id=tutor_id,
        details={"override_id": item.id, "risk_level": item.risk_level, "reason": reason},
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
        "revoked_at": item.revoked_at.isoformat() if item.revoked_at else None,
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
    items = _month_overrides(db, first=first, following=following)
    rows = []
    for item in items:
        start = item.starts_at.date()
        churn = churned.get(item.tutor_id)
        outcome = churn is not None and start < churn <= start + timedelta(days=OUTCOME_DAYS)
        rows.append(
            {
                "override_id": item.id,
                "tutor_id": item.tutor_id,
                "starts_at": item.starts_at.isoformat(),
                "revoked": item.revoked_at is not None,
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


def _month_overrides(db: Session, *, first: date, following: date) -> list[RiskOverride]:
    return list(
        db.scalars(
            select(RiskOverride)
            .where(
                RiskOverride.starts_at >= day_start(first),
                RiskOverride.starts_at < day_start(following),
            )
            .order_by(RiskOverride.starts_at, RiskOverride.id)
        )
    )


def parse_month(text: str) -> date:
    """``YYYY-MM`` -> its first day; a clear message otherwise."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise TutorpulseError(f"month must look like 2026-10 (YYYY-MM), not {text!r}") from None


def override_report(db: Session, *, month: date, now: datetime) -> dict[str, Any]:
    """The monthly report with outcomes read from the database (DESIGN.md §5 churn dates).

    Outcomes need 30 days after each override; until then the report says up to which day
    they were observed (a tutor not churned by then counts as not churned, so far).
    """
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    if first > now.date():
        raise TutorpulseError(f"month {first:%Y-%m} has not started yet")
    items = _month_overrides(db, first=first, following=following)
    tutor_ids = sorted({item.tutor_id for item in items})
    observed_until = min(following + timedelta(days=OUTCOME_DAYS - 1), now.date())
    churned: dict[str, date] = {}
    if tutor_ids:
        # Inactivity is counted from the last held session: read enough history before.
        observed_from = first - timedelta(days=HISTORY_DAYS)
        data = load_market_range(
            db,
            start=day_start(observed_from),
            end=day_end(observed_until),
            tutor_ids=tutor_ids,
        )
        spells = churn_spells(data, observed_from=observed_from, observed_until=observed_until)
        # Per tutor, the first churn after their first override of the month.
        earliest: dict[str, date] = {}
        for item in items:
            day = item.starts_at.date()
            earliest[item.tutor_id] = min(earliest.get(item.tutor_id, day), day)
        for tutor_id, churn_date in zip(spells["tutor_id"], spells["churn_date"], strict=True):
            if churn_date is None or pd.isna(churn_date):
                continue
            churn = pd.Timestamp(churn_date).date()
            tutor = str(tutor_id)
            after_override = tutor in earliest and churn > earliest[tutor]
            if after_override and (tutor not in churned or churn < churned[tutor]):
                churned[tutor] = churn
    report = monthly_override_report(db, month=first, churned=churned)
    report["outcomes_observed_until"] = observed_until.isoformat()
    report["complete"] = observed_until >= following + timedelta(days=OUTCOME_DAYS - 1)
    return report


REPORT_COLUMNS = (
    "override_id",
    "tutor_id",
    "starts_at",
    "revoked",
    "override_level",
    "model_level",
    "churned_within_30d",
    "override_right",
    "model_right",
)


def _share(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
