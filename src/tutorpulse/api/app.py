"""FastAPI application factory: every domain router mounted under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse import __version__
from tutorpulse.api import health
from tutorpulse.auth import api as auth_api
from tutorpulse.auth import oidc as auth_oidc
from tutorpulse.auth import pages as auth_pages
from tutorpulse.auth.deps import enforce_route_table, principal_user
from tutorpulse.auth.middleware import SecurityHeadersMiddleware, ViewerFilterMiddleware
from tutorpulse.clock import Clock, SystemClock
from tutorpulse.config import Settings
from tutorpulse.dashboard import api as dashboard_api
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.ingest import api as ingest_api
from tutorpulse.observability.api import install as install_observability
from tutorpulse.risk import api as risk_api

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
    # Routers resolve the signed-in user through this seam (set by enforce_route_table).
    app.state.resolve_user = principal_user

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
    app.add_middleware(SecurityHeadersMiddleware, behind_tls=settings.behind_tls)
    # NiceGUI pages last: it serves every path no route above has claimed.
    from tutorpulse import ui

    ui.mount(app)
    return app
