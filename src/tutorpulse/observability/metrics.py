"""Prometheus metrics (text exposition format 0.0.4), without a client library.

Request latencies are observed in-process; the pipeline and business figures are read from
the database at scrape time, so every app process reports the same truth.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from tutorpulse.events.models import DirtyTutor, OutboxMessage
from tutorpulse.ingest.models import IngestBatch
from tutorpulse.interventions.models import Alert
from tutorpulse.observability.logging import request_id
from tutorpulse.risk.models import ModelVersion

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LatencyHistogram:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], list[int]] = defaultdict(
            lambda: [0] * (len(BUCKETS) + 1)
        )
        self._sums: dict[tuple[str, str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        with self._lock:
            self._counts[key][bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sums[key] += seconds

    def render(self) -> list[str]:
        lines = [
            "# HELP tutorpulse_http_request_duration_seconds HTTP request latency.",
            "# TYPE tutorpulse_http_request_duration_seconds histogram",
        ]
        with self._lock:
            for (method, route, status), counts in sorted(self._counts.items()):
                labels = f'method="{method}",route="{route}",status="{status}"'
                running = 0
                for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                    running += count
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(
                        f'tutorpulse_http_request_duration_seconds_bucket{{{labels},le="{le}"}} '
                        f"{running}"
                    )
                lines.append(
                    f"tutorpulse_http_request_duration_seconds_count{{{labels}}} {running}"
                )
                lines.append(
                    f"tutorpulse_http_request_duration_seconds_sum{{{labels}}} "
                    f"{self._sums[(method, route, status)]:.6f}"
                )
        return lines


HISTOGRAM = LatencyHistogram()


async def observe_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Request id in and out (X-Request-ID), latency by route template."""
    incoming = request.headers.get("x-request-id", "")
    current = incoming if incoming.isalnum() and len(incoming) <= 64 else _new_id()
    token = request_id.set(current)
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        response.headers["X-Request-ID"] = current
        return response
    finally:
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        HISTOGRAM.observe(request.method, template, status, time.perf_counter() - started)
        request_id.reset(token)


def _new_id() -> str:
    import secrets

    return secrets.token_hex(8)


def business_metrics(db: Session, *, now: datetime) -> list[str]:
    queue = db.scalar(select(func.count()).select_from(DirtyTutor)) or 0
    oldest = db.scalar(select(func.min(DirtyTutor.marked_at)))
    lag = (now - oldest).total_seconds() if oldest else 0.0
    accepted = rejected = 0
    for (counts,) in db.execute(select(IngestBatch.counts)):
        for figures in (counts or {}).values():
            accepted += int(figures.get("accepted", 0))
            rejected += int(figures.get("rejected", 0))
    breaches = db.scalar(
        select(func.count()).where(Alert.rule == "sla_breach", Alert.resolved_at.is_(None))
    )
    lines = [
        _gauge("tutorpulse_pipeline_queue_depth", "Tutors waiting for recomputation.", queue),
        _gauge("tutorpulse_pipeline_lag_seconds", "Age of the oldest dirty mark.", lag),
        _counter("tutorpulse_ingest_records_accepted_total", "Records accepted.", accepted),
        _counter("tutorpulse_ingest_records_rejected_total", "Records rejected.", rejected),
        _gauge("tutorpulse_sla_breaches_open", "Escalated overdue tasks.", breaches or 0),
    ]
    champion = db.scalar(
        select(ModelVersion.metrics)
        .where(ModelVersion.status == "champion", ModelVersion.model_kind == "churn")
        .limit(1)
    )
    auc = _champion_auc(champion)
    if auc is not None:
        lines.append(_gauge("tutorpulse_model_champion_auc_30d", "Champion 30-day AUC.", auc))
    for job, at in db.execute(
        select(OutboxMessage.payload["job"].as_string(), func.max(OutboxMessage.created_at))
        .where(OutboxMessage.topic == "job.completed")
        .group_by(text("1"))  # the same JSON expression, bound once (PostgreSQL insists)
    ):
        lines.append(
            f'tutorpulse_job_last_success_timestamp_seconds{{job="{job}"}} {at.timestamp():.0f}'
        )
    return lines


def _champion_auc(metrics: Any) -> float | None:
    if not isinstance(metrics, dict):
        return None
    horizons = metrics.get("horizons", {})
    for key in ("30", 30):
        value = horizons.get(key) if isinstance(horizons, dict) else None
        if isinstance(value, dict) and isinstance(value.get("auc"), (int, float)):
            return float(value["auc"])
    return None


def _gauge(name: str, help_text: str, value: float) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name} {value}"


def _counter(name: str, help_text: str, value: float) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} counter\n{name} {value}"
