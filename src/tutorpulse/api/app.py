"""FastAPI application factory: every domain router mounted under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse import __version__
from tutorpulse.api import health
from tutorpulse.clock import Clock, SystemClock
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.ingest import api as ingest_api
from tutorpulse.observability.api import install as install_observability

API_PREFIX = "/api/v1"


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
    app.state.session_factory = session_factory
    app.state.clock = clock or SystemClock()

    app.include_router(health.router)
    install_observability(app)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(ingest_api.router)
    app.include_router(api)
    return app
