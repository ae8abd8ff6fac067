"""``tutorpulse worker NAME``: long-running background workers (stop with Ctrl-C or SIGTERM)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

import typer

from tutorpulse.clock import Clock, SystemClock
from tutorpulse.config import Settings
from tutorpulse.errors import TutorpulseError
from tutorpulse.observability.logging import configure_logging
from tutorpulse.observability.sentry import init_sentry

log = logging.getLogger("tutorpulse.workers")

WorkerFunction = Callable[[Settings, threading.Event], None]
WORKERS: dict[str, WorkerFunction] = {}


def register_worker(name: str, run: WorkerFunction) -> None:
    WORKERS[name] = run


def run_pipeline_worker(settings: Settings, stop: threading.Event) -> None:
    from tutorpulse.dashboard.jobs import register_jobs
    from tutorpulse.db.engine import make_engine, make_session_factory
    from tutorpulse.jobs.locks import scheduler_lock
    from tutorpulse.jobs.scheduler import LatestDataClock, PipelineWorker, default_jobs
    from tutorpulse.realtime.live import publish_commits

    engine = make_engine(settings.effective_database_url)
    factory = make_session_factory(engine)
    broker = publish_commits(settings, factory)  # "re-read now" to the web (Redis)
    clock: Clock = SystemClock()
    if settings.pipeline_clock == "data":
        clock = LatestDataClock(factory, fallback=clock)
    register_jobs(settings)  # feedback reminders (before the worker lists its jobs)
    worker = PipelineWorker(
        session_factory=factory,
        clock=clock,
        lock=scheduler_lock(engine, settings.data_dir),
        stop=stop,
        jobs=default_jobs(full_every=timedelta(seconds=settings.pipeline_full_every_seconds)),
    )
    if broker is not None:
        # Commits elsewhere (imports) wake the idle worker at once: lower ingest latency.
        threading.Thread(
            target=broker.listen,
            args=(lambda _version: worker.wake.set(), stop),
            name="tutorpulse-pipeline-wake",
            daemon=True,
        ).start()
    worker.run_forever()


def run_notifier_worker(settings: Settings, stop: threading.Event) -> None:
    from tutorpulse.db.engine import make_engine, make_session_factory
    from tutorpulse.interventions.notify import SmtpSender
    from tutorpulse.jobs.notifier import deliver_emails

    if not settings.smtp_host:
        raise TutorpulseError(
            "SMTP is not configured (TUTORPULSE_SMTP_HOST): emails stay in the outbox and "
            "the in-app notifications"
        )
    sender = SmtpSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_sender,
        username=settings.smtp_username,
        password=settings.smtp_password,
        use_tls=settings.smtp_tls,
    )
    factory = make_session_factory(make_engine(settings.effective_database_url))
    while not stop.is_set():
        with factory() as db:
            sent = deliver_emails(db, sender=sender, now=SystemClock().now())
            db.commit()
        stop.wait(0 if sent else 5)


def run_simulator_worker(settings: Settings, stop: threading.Event) -> None:
    from tutorpulse.simulator.live import simulator_worker

    simulator_worker(settings, stop)


def run_trainer_worker(settings: Settings, stop: threading.Event) -> None:
    """Daily retraining (02:00 UTC): the new model becomes champion only if it is better."""
    from sqlalchemy import func, select

    from tutorpulse.db.engine import make_engine, make_session_factory
    from tutorpulse.risk.jobs import retrain, retraining_due
    from tutorpulse.risk.models import ModelVersion

    factory = make_session_factory(make_engine(settings.effective_database_url))
    clock = SystemClock()
    while not stop.is_set():
        now = clock.now()
        with factory() as db:
            last = db.scalar(
                select(func.max(ModelVersion.trained_at)).where(ModelVersion.model_kind == "churn")
            )
            if retraining_due(now=now, last_trained=last):
                try:
                    retrain(db, data_dir=settings.data_dir, now=now)
                    db.commit()
                except TutorpulseError as exc:
                    db.rollback()
                    log.warning("retraining skipped: %s", exc)
        stop.wait(60)


register_worker("pipeline", run_pipeline_worker)
register_worker("notifier", run_notifier_worker)
register_worker("simulator", run_simulator_worker)
register_worker("trainer", run_trainer_worker)


def worker_command(
    name: Annotated[str, typer.Argument(help="pipeline, notifier, simulator or trainer.")],
) -> None:
    """Run a background worker until interrupted (SIGTERM finishes the current batch)."""
    from tutorpulse.cli import load_settings, require_migrated
    from tutorpulse.db.engine import make_engine

    run = WORKERS.get(name)
    if run is None:
        known = ", ".join(sorted(WORKERS))
        raise typer.BadParameter(f"unknown worker {name!r}; available: {known}")
    settings = load_settings()
    require_migrated(make_engine(settings.effective_database_url))
    configure_logging()
    init_sentry(settings)  # only with TUTORPULSE_SENTRY_DSN set
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(settings, stop)
