"""Liveness and readiness probes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tutorpulse.api.deps import AppClock, AppSettings, DbSession
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
    checks: dict[str, str] = {}
    try:
        db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready", reported not raised
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.redis_url:
        checks["redis"] = _check_redis(settings.redis_url)
    ready = all(value == "ok" for value in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    if checks["database"] == "ok":
        # Informational: a lagging pipeline or an old model degrades, it does not stop serving.
        body["freshness"] = freshness(db, now=clock.now())
    return body


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


def _check_redis(url: str) -> str:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
        return "ok"
    except redis.RedisError as exc:
        return f"error: {type(exc).__name__}"
