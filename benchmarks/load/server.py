"""The web app as ``uvicorn --factory --workers N`` needs it: an importable app factory.

``tutorpulse serve`` runs one process; in production several API processes sit behind the
load balancer, and uvicorn can only fork workers from an import string. Each worker builds
the same app as ``tutorpulse serve`` from the ``TUTORPULSE_*`` settings, with the clock fixed
at the latest held session of the prepared data (the marketplace is simulated, so wall time
would look a year past it; ``LatestDataClock`` would add a query to every request that
production's system clock does not make), plus one empty route: the same-run baseline of
the HTTP overhead (routing, middleware, serialisation).

    uvicorn --factory --app-dir benchmarks/load server:app --workers 2 --port 8765
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from tutorpulse.api.app import create_app
from tutorpulse.clock import FixedClock, SystemClock
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.jobs.scheduler import LatestDataClock

BASELINE_PATH = "/bench-empty"


def app() -> FastAPI:
    settings = Settings()
    factory = make_session_factory(make_engine(settings.effective_database_url))
    application = create_app(
        settings,
        session_factory=factory,
        clock=FixedClock(LatestDataClock(factory, fallback=SystemClock()).now()),
    )
    baseline = APIRouter()

    @baseline.get(BASELINE_PATH, include_in_schema=False)
    def empty() -> dict[str, bool]:
        return {"ok": True}

    # Included after create_app: the NiceGUI catch-all is mounted at start-up, behind it.
    application.include_router(baseline)
    return application
