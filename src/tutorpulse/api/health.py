"""Liveness and readiness probes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tutorpulse.api.deps import AppClock, AppSettings, DbSession
from tutorpulse.config import Settings
from tutorpulse.events.models import DirtyTutor, OutboxMessage
from tutorpulse.risk.models import ModelVersion

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database (and Redis, when configured) answer")
def readyz(
    db: DbSession, settings: AppSettings, clock: AppClock, response: Response
) -> dict[str, Any]:
    """Not ready (503) without the database. Redis only speeds up push and caching: when it
    is down the app still serves, so it is reported "degraded" and the status stays ready."""
    checks = system_checks(db, settings)
    ready = checks["database"] == "ok"
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    if checks["database"] == "ok":
        # Informational: a lagging pipeline or an old model degrades, it does not stop serving.
        body["freshness"] = freshness(db, now=clock.now())
    return body


def system_checks(db: Session, settings: Settings) -> dict[str, str]:
    """Database ("ok" / "error: ...") and, when configured, Redis ("ok" / "degraded: ...")."""
    checks: dict[str, str] = {}
    try:
        db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready", reported not raised
        db.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.redis_url:
        from tutorpulse.realtime.broker import redis_broker

        broker = redis_broker(settings.redis_url, database_url=settings.effective_database_url)
        checks["redis"] = broker.status()
    return checks


def freshness(db: Session, *, now: datetime) -> dict[str, float | None]:
    """Seconds since: the oldest unprocessed dirty mark, the last full recompute, the
    champion model's training."""
    oldest = db.scalar(select(func.min(DirtyTutor.marked_at)))
    full_runs = db.scalars(
        select(OutboxMessage.created_at)
        .where(OutboxMessage.topic == "job.completed")
        .order_by(OutboxMessage.id.desc())
        .limit(50)
    ).all()
    trained = db.scalar(
        select(func.max(ModelVersion.trained_at)).where(ModelVersion.status == "champion")
    )

    def age(moment: datetime | None) -> float | None:
        return round((now - moment).total_seconds(), 1) if moment else None

    return {
        "pipeline_lag_seconds": age(oldest) or 0.0,
        "scheduler_last_job_seconds": age(max(full_runs)) if full_runs else None,
        "model_age_seconds": age(trained),
    }
