"""The figures of the admin "system" page: the same sources as ``/metrics`` and ``/readyz``.

Ingest volume and rejects (ingest batches), pipeline lag and dirty-queue depth, the
champion model's 30-day AUC, open SLA breaches, the scheduler's last run per job, and the
database / Redis checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tutorpulse.api.health import freshness, system_checks
from tutorpulse.config import Settings
from tutorpulse.events.models import DirtyTutor, OutboxMessage
from tutorpulse.ingest.models import IngestBatch
from tutorpulse.interventions.models import Alert
from tutorpulse.observability.metrics import _champion_auc
from tutorpulse.risk.models import ModelVersion

RATE_WINDOW = timedelta(hours=1)


@dataclass
class SystemStatus:
    checks: dict[str, str]
    accepted_total: int = 0
    rejected_total: int = 0
    accepted_last_hour: int = 0
    rejected_last_hour: int = 0
    queue_depth: int = 0
    pipeline_lag_seconds: float | None = None
    champion_auc: float | None = None
    champion_version: str | None = None
    sla_breaches_open: int = 0
    last_runs: dict[str, datetime] = field(default_factory=dict)
    model_age_seconds: float | None = None

    @property
    def ingest_rate_per_minute(self) -> float:
        return self.accepted_last_hour / (RATE_WINDOW.total_seconds() / 60)


def system_status(db: Session, *, settings: Settings, now: datetime) -> SystemStatus:
    """Everything the page shows; with the database down, only the checks."""
    status = SystemStatus(checks=system_checks(db, settings))
    if status.checks["database"] != "ok":
        return status
    since = now - RATE_WINDOW
    for counts, started in db.execute(select(IngestBatch.counts, IngestBatch.started_at)):
        for figures in (counts or {}).values():
            accepted = int(figures.get("accepted", 0))
            rejected = int(figures.get("rejected", 0))
            status.accepted_total += accepted
            status.rejected_total += rejected
            if started >= since:
                status.accepted_last_hour += accepted
                status.rejected_last_hour += rejected
    status.queue_depth = int(db.scalar(select(func.count()).select_from(DirtyTutor)) or 0)
    fresh = freshness(db, now=now)
    status.pipeline_lag_seconds = fresh["pipeline_lag_seconds"]
    status.model_age_seconds = fresh["model_age_seconds"]
    champion = db.execute(
        select(ModelVersion.version, ModelVersion.metrics)
        .where(ModelVersion.status == "champion", ModelVersion.model_kind == "churn")
        .limit(1)
    ).first()
    if champion is not None:
        status.champion_version = champion[0]
        status.champion_auc = _champion_auc(champion[1])
    status.sla_breaches_open = int(
        db.scalar(
            select(func.count()).where(Alert.rule == "sla_breach", Alert.resolved_at.is_(None))
        )
        or 0
    )
    for job, at in db.execute(
        select(OutboxMessage.payload["job"].as_string(), func.max(OutboxMessage.created_at))
        .where(OutboxMessage.topic == "job.completed")
        .group_by(text("1"))  # the same JSON expression, bound once (PostgreSQL insists)
    ):
        status.last_runs[str(job)] = at
    return status
