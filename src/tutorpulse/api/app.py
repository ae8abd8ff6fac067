"""FastAPI application factory: every domain router mounted under ``/api/v1``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse import __version__
from tutorpulse.api import health
from tutorpulse.auth import api as auth_api
from tutorpulse.auth import oidc as auth_oidc
from tutorpulse.auth import pages as auth_pages
from tutorpulse.auth.deps import enforce_route_table, principal_user
from tutorpulse.auth.middleware import (
    AuditOriginMiddleware,
    SecurityHeadersMiddleware,
    ViewerFilterMiddleware,
)
from tutorpulse.clock import Clock, SystemClock
from tutorpulse.config import Settings
from tutorpulse.dashboard import api as dashboard_api
from tutorpulse.db.availability import database_unavailable, first_line
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.ingest import api as ingest_api
from tutorpulse.observability.api import install as install_observability
from tutorpulse.observability.sentry import init_sentry
from tutorpulse.realtime.live import Listener, LiveSignal, install_publisher
from tutorpulse.risk import api as risk_api

API_PREFIX = "/api/v1"
log = logging.getLogger("tutorpulse.api")


def create_app(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    # Docs assets are served from the package: no CDN, the network may be closed.
    app = FastAPIOffline(
        title="tutorpulse",
        version=__version__,
        description="Tutor performance and retention: metrics, churn risk, interventions.",
    )
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.effective_database_url))
    app.state.settings = settings
    init_sentry(settings)  # only with TUTORPULSE_SENTRY_DSN set
    app.state.session_factory = session_factory
    app.state.clock = clock or SystemClock()
    # Routers resolve the signed-in user through this seam (set by enforce_route_table).
    app.state.resolve_user = principal_user
    install_live_updates(app, settings, session_factory)
    app.add_exception_handler(DBAPIError, database_error)

    app.include_router(health.router)
    install_observability(app)
    # Every /api/v1 route passes the permission table (auth/permissions.py); unlisted = 403.
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(enforce_route_table)])
    api.include_router(auth_api.router)
    api.include_router(auth_oidc.router)
    api.include_router(ingest_api.router)
    api.include_router(dashboard_api.router)
    api.include_router(dashboard_api.public_router)
    api.include_router(risk_api.router)
    app.include_router(api)
    app.include_router(auth_pages.router)
    app.add_middleware(ViewerFilterMiddleware)
    app.add_middleware(AuditOriginMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, behind_tls=settings.behind_tls)
    # NiceGUI pages last: it serves every path no route above has claimed.
    from tutorpulse import ui

    ui.mount(app)
    return app


def create_app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` (``tutorpulse serve --workers N``): each worker
    process reads the settings from the environment and opens its own connection pool."""
    settings = Settings()
    engine = make_engine(settings.effective_database_url)
    return create_app(settings, session_factory=make_session_factory(engine))


def install_live_updates(
    app: FastAPI, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    """The live signal of this process's pages and websockets.

    This process's own commits (UI actions, HTTP imports) wake its views directly; with Redis
    configured they are also published, and a listener thread (started with the app) wakes
    the views on other processes' commits: the pipeline worker's, other web workers'.
    """
    live = LiveSignal()
    app.state.live = live
    app.state.broker = None
    if not settings.redis_url:
        install_publisher(session_factory, local=live.notify)
        return
    from tutorpulse.realtime.broker import redis_broker

    broker = redis_broker(settings.redis_url, database_url=settings.effective_database_url)
    app.state.broker = broker
    install_publisher(session_factory, broker=broker, local=live.notify)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(owner: Any) -> AsyncIterator[Any]:
        listener = Listener(broker, live)
        listener.start()
        try:
            async with inner(owner) as state:
                yield state
        finally:
            listener.stop()

    app.router.lifespan_context = lifespan


async def database_error(request: Request, exc: Exception) -> Response:
    """An unreachable database answers 503 with a clear message, not a traceback.

    The request was not completed, so nothing it carried counts as accepted: the client
    retries (ingestion is idempotent, so a retry after a lost answer stores nothing twice).
    """
    if not isinstance(exc, DBAPIError) or not database_unavailable(exc):
        raise exc
    log.warning(
        "database unavailable: %s %s: %s", request.method, request.url.path, first_line(exc)
    )
    return JSONResponse(
        {"detail": "database unavailable: the request was not completed; retry it later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
