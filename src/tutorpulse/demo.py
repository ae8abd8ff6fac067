"""``tutorpulse demo``: one command from a fresh clone to a running app on embedded SQLite.

Steps: migrate; simulate a marketplace (90 days, or two weeks of a small one with
``--small``) and import it through the normal ingestion path; compute the last two weeks of
metrics, scores, tiers and interventions day by day (so that histories exist); create one
account per role; then serve the web app with the live simulator and the pipeline worker.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.clock import SystemClock
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade
from tutorpulse.errors import TutorpulseError
from tutorpulse.ingest.files import import_directory, plan_directory
from tutorpulse.marketplace.models import Tutor, TutoringSession
from tutorpulse.metrics.data import LOOKBACK_DAYS, day_end, day_start, load_market_range
from tutorpulse.pipeline.service import run_pipeline

HISTORY_DAYS = 14
DEMO_SEED = 1


def run_demo(
    *,
    settings: Settings,
    port: int | None,
    serve_app: bool,
    small: bool,
    console: Console,
) -> None:
    if settings.env not in ("dev", "demo", "test"):
        raise TutorpulseError("the demo runs only with TUTORPULSE_ENV=dev or demo")
    engine = make_engine(settings.effective_database_url)
    console.print(f"database: {engine.url.render_as_string(hide_password=True)}")
    upgrade(engine)
    factory = make_session_factory(engine)
    if _has_data(factory):
        console.print("data already loaded: reusing it (delete the data directory to start over)")
    else:
        _load_simulated_market(settings, factory, small=small, console=console)
        _compute_history(factory, console=console)
        _train(settings, factory, console=console)
    for line in _demo_logins(factory):
        console.print(line)
    if not serve_app:
        return
    _serve(settings, engine, factory, port=port, console=console)


def _has_data(factory: sessionmaker[Session]) -> bool:
    with factory() as db:
        return bool(db.scalar(select(func.count()).select_from(Tutor)))


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _load_simulated_market(
    settings: Settings, factory: sessionmaker[Session], *, small: bool, console: Console
) -> None:
    from tutorpulse.simulator.live import SimulationArguments, backfill_files

    days = 28 if small else 90
    arguments = (
        SimulationArguments(seed=DEMO_SEED, tutors=200, sessions_per_day=400)
        if small
        else SimulationArguments(seed=DEMO_SEED)
    )
    with tempfile.TemporaryDirectory(prefix="tutorpulse-demo-") as tmp, _progress(console) as bar:
        out = Path(tmp)
        task = bar.add_task(f"simulating {days} days", total=days)
        # The simulator keeps its state: the live worker continues right after these days.
        backfill_files(
            settings=settings,
            out=out,
            days=days,
            arguments=arguments,
            on_day=lambda _: bar.advance(task),
        )
        plan = plan_directory(out, source="synthetic")
        imported = bar.add_task("importing", total=plan.total_bytes)

        def advance(_kind: str, _records: int, size: int) -> None:
            bar.advance(imported, size)

        with factory() as db:
            report = import_directory(
                db,
                plan=plan,
                now=datetime.now(UTC),
                chunk_size=5000,
                checkpoint=db.commit,
                on_progress=advance,
            )
    console.print(
        f"simulated marketplace loaded: {report.total_accepted:,} records "
        f"({report.total_rejected:,} rejected)"
    )


def _latest_day(db: Session) -> date:
    latest = db.scalar(
        select(func.max(TutoringSession.scheduled_start)).where(
            TutoringSession.status.in_(("completed", "no_show"))
        )
    )
    if latest is None:
        raise TutorpulseError("no sessions were loaded")
    return latest.date()


def _compute_history(factory: sessionmaker[Session], *, console: Console) -> None:
    """The last two weeks, day by day: score histories, flag and tier changes, tasks."""
    with factory() as db:
        last = _latest_day(db)
        first = last - timedelta(days=HISTORY_DAYS - 1)
        data = load_market_range(
            db, start=day_start(first - timedelta(days=LOOKBACK_DAYS)), end=day_end(last)
        )
        with _progress(console) as bar:
            task = bar.add_task("computing metrics, scores and interventions", total=HISTORY_DAYS)
            for offset in range(HISTORY_DAYS):
                day = first + timedelta(days=offset)
                # Each day is computed as it would have been at the end of that day.
                now = day_end(day) - timedelta(minutes=1)
                run_pipeline(db, as_of=day, now=now, data=data)
                db.commit()
                bar.advance(task)
    console.print(f"pipeline computed for {first} .. {last}")


def _train(settings: Settings, factory: sessionmaker[Session], *, console: Console) -> None:
    """Train the churn model on the simulated history, then score the last day with it."""
    from tutorpulse.risk.jobs import retrain

    with factory() as db, console.status("training the churn model"):
        try:
            outcome = retrain(db, data_dir=settings.data_dir, now=datetime.now(UTC))
        except TutorpulseError as exc:
            db.rollback()
            console.print(f"churn model not trained ({exc}): scores come from the PRD rules")
            return
        db.commit()
        last = _latest_day(db)
        run_pipeline(db, as_of=last, now=day_end(last) - timedelta(minutes=1))
        db.commit()
    console.print(
        f"churn model {outcome.churn_version.version} trained "
        f"({outcome.churn_version.status}); scores for {last} use it"
    )


def _demo_logins(factory: sessionmaker[Session]) -> list[str]:
    from tutorpulse.auth.service import ensure_demo_users

    with factory() as db:
        accounts = ensure_demo_users(db, now=datetime.now(UTC))
        db.commit()
    lines = ["demo logins (email / password):"]
    lines += [f"  {role:<12} {email} / {password}" for role, email, password in accounts]
    return lines


def _serve(
    settings: Settings,
    engine: Engine,
    factory: sessionmaker[Session],
    *,
    port: int | None,
    console: Console,
) -> None:
    import uvicorn

    from tutorpulse.api.app import create_app

    stop = threading.Event()
    for name, target in _background_workers(settings, engine, factory, stop):
        threading.Thread(target=target, name=name, daemon=True).start()
    from tutorpulse.jobs.scheduler import LatestDataClock

    # The app follows simulated time like the workers (SLA countdowns, feedback links).
    clock = LatestDataClock(factory, fallback=SystemClock())
    application = create_app(settings, session_factory=factory, clock=clock)
    bind_port = port or settings.port
    console.print(f"tutorpulse demo running at http://{settings.host}:{bind_port}/")
    console.print(f"API documentation: http://{settings.host}:{bind_port}/docs")
    try:
        uvicorn.run(application, host=settings.host, port=bind_port, log_level="warning")
    finally:
        stop.set()
        time.sleep(0.2)


def _background_workers(
    settings: Settings, engine: Engine, factory: sessionmaker[Session], stop: threading.Event
) -> list[tuple[str, Callable[[], None]]]:
    from tutorpulse.dashboard.jobs import register_jobs
    from tutorpulse.jobs.cli import WORKERS
    from tutorpulse.jobs.locks import scheduler_lock
    from tutorpulse.jobs.scheduler import LatestDataClock, PipelineWorker

    workers: list[tuple[str, Callable[[], None]]] = []
    simulator = WORKERS.get("simulator")
    if simulator is not None:
        workers.append(("simulator", lambda: simulator(settings, stop)))
    register_jobs(settings)  # feedback reminders (before the worker lists its jobs)
    pipeline = PipelineWorker(
        session_factory=factory,
        clock=LatestDataClock(factory, fallback=SystemClock()),
        lock=scheduler_lock(engine, settings.data_dir),
        stop=stop,
    )
    workers.append(("pipeline", pipeline.run_forever))
    return workers
