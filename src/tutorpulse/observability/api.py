"""``GET /metrics`` for Prometheus, and the request middleware."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse

from tutorpulse.api.deps import AppClock, DbSession
from tutorpulse.observability.metrics import HISTOGRAM, business_metrics, observe_requests

router = APIRouter(tags=["observability"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(db: DbSession, clock: AppClock) -> PlainTextResponse:
    lines = business_metrics(db, now=clock.now()) + HISTOGRAM.render()
    return PlainTextResponse("\n".join(lines) + "\n", media_type=CONTENT_TYPE)


def install(app: FastAPI) -> None:
    app.middleware("http")(observe_requests)
    app.include_router(router)
