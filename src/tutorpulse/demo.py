"""``tutorpulse demo``: one command from a fresh clone to a running app on embedded SQLite."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from tutorpulse.clock import SystemClock
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade
from tutorpulse.errors import TutorpulseError
from tutorpulse.ingest.files import import_directory, plan_directory

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "sample"


def run_demo(*, settings: Settings, port: int | None, serve_app: bool, console: Console) -> None:
    if settings.env not in ("dev", "demo", "test"):
        raise TutorpulseError("the demo runs only with TUTORPULSE_ENV=dev or demo")
    engine = make_engine(settings.effective_database_url)
    console.print(f"database: {engine.url.render_as_string(hide_password=True)}")
    upgrade(engine)
    factory = make_session_factory(engine)
    if not SAMPLE_DIR.is_dir():
        raise TutorpulseError(f"sample data not found at {SAMPLE_DIR}")
    session = factory()
    try:
        report = import_directory(
            session,
            plan=plan_directory(SAMPLE_DIR, source="synthetic"),
            now=SystemClock().now(),
            chunk_size=settings.import_batch_size,
            checkpoint=session.commit,
        )
    finally:
        session.close()
    console.print(
        f"sample data loaded: {report.total_accepted:,} records accepted, "
        f"{report.total_rejected:,} rejected"
    )
    if not serve_app:
        return
    import uvicorn

    from tutorpulse.api.app import create_app

    application = create_app(settings, session_factory=factory)
    bind_port = port or settings.port
    console.print(f"tutorpulse demo running at http://{settings.host}:{bind_port}/docs")
    uvicorn.run(application, host=settings.host, port=bind_port, log_level="warning")
