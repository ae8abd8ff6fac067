"""Scheduled jobs of the pipeline worker, and the loop that runs them.

- dirty: every few seconds, recompute the tutors ingestion marked dirty (micro-batches);
- full: a full recompute every 15 minutes;
- nightly: at 00:05 UTC, the completed previous day (the daily rollup);
- sla: every 5 minutes, escalate overdue human tasks;
- extra jobs (feedback reminders) are registered by their domains through ``register_job``;
  the model retraining (02:00 UTC) has a worker of its own (``tutorpulse worker trainer``).
The jobs' ``now`` comes from an injectable clock: wall time in production, the simulator's
clock in the demo, a fixed clock in tests.

``run_forever`` drains the dirty queue in its own thread and runs the scheduled jobs in a
second one (issue #10): a full recompute (about a minute at 10x) no longer holds the
micro-batches up. A full run reads and computes in a read-only session first (no lock held;
on SQLite no write lock either) and writes in a short transaction at the end; see
``pipeline.concurrency`` for why that stays correct when a micro-batch commits meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.clock import Clock
from tutorpulse.db.availability import database_unavailable, first_line
from tutorpulse.db.engine import SQLITE_IMMEDIATE
from tutorpulse.events import service as events
from tutorpulse.interventions.service import check_slas
from tutorpulse.jobs.locks import SchedulerLock
from tutorpulse.pipeline.service import (
    PipelineResult,
    PreparedRun,
    WriteStep,
    prepare_run,
    process_dirty,
    run_pipeline,
    write_steps,
)

log = logging.getLogger("tutorpulse.jobs")
JobFunction = Callable[[Session, datetime], Any]
# A two-phase job's read phase: reads and computes, returns the write phase's steps (each
# runs in a transaction of its own; the last one's result is the job's).
PrepareFunction = Callable[[Session, datetime], list[JobFunction]]
# Pauses between attempts when the database is unreachable: 0.5 s doubling, ~30 s in all.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
IDLE_SLICE_SECONDS = 0.25  # how soon an idle worker notices a stop request
SLOW_BATCH_SECONDS = 1.0  # micro-batches taking longer are logged (ingest latency)


@dataclass
class Job:
    name: str
    run: JobFunction
    every: timedelta | None = None  # interval jobs
    at: time | None = None  # daily jobs, UTC
    last_run: datetime | None = None
    # Two-phase jobs: ``prepare`` runs in a read-only session, outside any write transaction,
    # and returns the write steps (``run`` is the one-transaction form of the same job).
    prepare: PrepareFunction | None = None

    def due(self, now: datetime) -> bool:
        if self.every is not None:
            return self.last_run is None or now - self.last_run >= self.every
        assert self.at is not None
        today_at = datetime.combine(now.date(), self.at, tzinfo=now.tzinfo)
        if now < today_at:
            return False
        return self.last_run is None or self.last_run < today_at


def _dirty(db: Session, now: datetime) -> int:
    return process_dirty(db, as_of=now.date(), now=now)


def _full(db: Session, now: datetime) -> int:
    return run_pipeline(db, as_of=now.date(), now=now).tutors


def _nightly(db: Session, now: datetime) -> int:
    yesterday: date = now.date() - timedelta(days=1)
    return run_pipeline(db, as_of=yesterday, now=now).tutors


def _writers(prepared: PreparedRun, now: datetime) -> list[JobFunction]:
    """The full run's write steps (chunks of tutors, then the population-wide part)."""

    def run_step(step: WriteStep) -> JobFunction:
        def write(db: Session, _now: datetime) -> Any:
            result = step(db)
            return result.tutors if isinstance(result, PipelineResult) else result

        return write

    return [run_step(step) for step in write_steps(prepared, now=now)]


def _prepare_full(db: Session, now: datetime) -> list[JobFunction]:
    return _writers(prepare_run(db, as_of=now.date()), now)


def _prepare_nightly(db: Session, now: datetime) -> list[JobFunction]:
    return _writers(prepare_run(db, as_of=now.date() - timedelta(days=1)), now)


def _sla(db: Session, now: datetime) -> int:
    return check_slas(db, now=now)


EXTRA_JOBS: list[Job] = []


def register_job(job: Job) -> None:
    """Domains add their scheduled work here (e.g. the daily model retraining)."""
    EXTRA_JOBS.append(job)


def default_jobs(*, full_every: timedelta = timedelta(minutes=15)) -> list[Job]:
    return [
        Job("full", _full, every=full_every, prepare=_prepare_full),
        Job("nightly", _nightly, at=time(0, 5), prepare=_prepare_nightly),
        Job("sla", _sla, every=timedelta(minutes=5)),
        *(Job(j.name, j.run, every=j.every, at=j.at, prepare=j.prepare) for j in EXTRA_JOBS),
    ]


@dataclass
class PipelineWorker:
    """Drains the dirty queue; when it holds the scheduler lock, also runs the due jobs."""

    session_factory: sessionmaker[Session]
    clock: Clock
    lock: SchedulerLock
    jobs: list[Job] = field(default_factory=default_jobs)
    poll_seconds: float = 2.0
    stop: threading.Event = field(default_factory=threading.Event)
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    # Set by a "re-read now" message (Redis): new dirty tutors, start now instead of at the
    # end of the idle poll. Without messages the poll still picks the work up.
    wake: threading.Event = field(default_factory=threading.Event)
    # How to pause between retries (tests pass a function that brings the database back).
    pause: Callable[[float], object] | None = None
    # The scheduled jobs' thread while ``run_forever`` runs; ``run_once`` runs them inline.
    _scheduler: threading.Thread | None = field(default=None, init=False, repr=False)

    def run_once(self) -> dict[str, Any]:
        """One iteration: a dirty batch, then any due job (unless the scheduler thread of
        ``run_forever`` runs them). Returns what was done."""
        now = self.clock.now()
        started = time_module.perf_counter()
        done: dict[str, Any] = {"dirty": self._in_transaction("dirty", _dirty, now)}
        elapsed = time_module.perf_counter() - started
        if elapsed >= SLOW_BATCH_SECONDS:
            log.info("micro-batch of %s tutors took %.1f s", done["dirty"], elapsed)
        if self._scheduler is None:
            done.update(self.run_due_jobs(now))
        return done

    def run_due_jobs(self, now: datetime) -> dict[str, Any]:
        """The due jobs, one after the other, if this worker is the scheduler."""
        done: dict[str, Any] = {}
        if not self.lock.acquire():
            return done
        for job in self.jobs:
            if self.stop.is_set():
                break
            if job.due(now):
                started = time_module.perf_counter()
                log.info("job %s started", job.name)
                done[job.name] = self._run_job(job, now)
                job.last_run = now
                elapsed = time_module.perf_counter() - started
                log.info("job %s finished in %.1f s", job.name, elapsed)
        return done

    def run_forever(self) -> None:
        log.info("pipeline worker started")
        halt = threading.Event()  # the dirty loop ended (stop, or an unexpected error)
        if self.jobs:
            self._scheduler = threading.Thread(
                target=self._schedule_forever, args=(halt,), name="tutorpulse-scheduler"
            )
            self._scheduler.start()
        try:
            while not self.stop.is_set():
                try:
                    done = self.run_once()
                except DBAPIError as exc:  # e.g. the data clock could not read the database
                    if not database_unavailable(exc):
                        raise
                    log.warning("database unavailable (%s); waiting", first_line(exc))
                    done = {}
                if not done.get("dirty"):
                    self._idle()
        finally:
            halt.set()
            if self._scheduler is not None:
                # SIGTERM: a job's running transaction finishes; its later write steps do not.
                self._scheduler.join()
                self._scheduler = None
            self.lock.release()
            log.info("pipeline worker stopped")

    def _schedule_forever(self, halt: threading.Event) -> None:
        while not (self.stop.is_set() or halt.is_set()):
            try:
                self.run_due_jobs(self.clock.now())
            except DBAPIError as exc:  # the data clock could not read the database
                if not database_unavailable(exc):
                    log.exception("scheduler: unexpected database error")
                else:
                    log.warning("scheduler: database unavailable (%s); waiting", first_line(exc))
            except Exception:
                log.exception("scheduler: unexpected error; going on")
            waited = 0.0
            while waited < self.poll_seconds and not (self.stop.is_set() or halt.is_set()):
                halt.wait(IDLE_SLICE_SECONDS)
                waited += IDLE_SLICE_SECONDS

    def _session(self) -> Session:
        """On SQLite, a job takes the write lock before it reads (BEGIN IMMEDIATE): every job
        writes, and a deferred transaction whose read phase overlaps another writer's commit
        (the simulator's, the web app's) fails at its first write with "database is locked"
        — in the demo every job lost that race. Readers are not blocked (WAL)."""
        bind = self.session_factory.kw.get("bind")
        if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
            return self.session_factory()
        return self.session_factory(bind=bind.execution_options(**SQLITE_IMMEDIATE))

    def _idle(self) -> None:
        """Wait up to ``poll_seconds``; a wake-up or a stop request ends the wait early."""
        waited = 0.0
        while waited < self.poll_seconds and not self.stop.is_set():
            step = min(IDLE_SLICE_SECONDS, self.poll_seconds - waited)
            if self.wake.wait(step):
                break
            waited += step
        self.wake.clear()

    def _run_job(self, job: Job, now: datetime) -> Any:
        if job.prepare is None:
            return self._in_transaction(job.name, job.run, now)
        started = time_module.perf_counter()
        steps = self._with_retries(job.name, lambda: self._read_phase(job, now))
        if not steps:
            return None
        read = time_module.perf_counter()
        result: Any = None
        longest = 0.0
        for number, step in enumerate(steps, start=1):
            if self.stop.is_set():
                # Committed steps stay (each tutor consistent); the rest is left to the next run.
                log.info(
                    "job %s: stopping after %d of %d write steps", job.name, number - 1, len(steps)
                )
                return None
            step_started = time_module.perf_counter()
            result = self._in_transaction(job.name, step, now, announce=number == len(steps))
            longest = max(longest, time_module.perf_counter() - step_started)
            if result is None:  # failed (logged): the later steps would build on a gap
                return None
        log.info(
            "job %s: read phase %.1f s, write phase %.1f s in %d steps (longest %.1f s)",
            job.name,
            read - started,
            time_module.perf_counter() - read,
            len(steps),
            longest,
        )
        return result

    def _read_phase(self, job: Job, now: datetime) -> list[JobFunction] | None:
        """A plain (deferred) session, rolled back: no write lock while the job computes."""
        assert job.prepare is not None
        with self.session_factory() as db:
            try:
                return job.prepare(db, now)
            except Exception as exc:
                _rollback_quietly(db)
                if database_unavailable(exc):
                    raise
                log.exception("job %s failed in its read phase", job.name)
                return None

    def _in_transaction(
        self, name: str, run: JobFunction, now: datetime, *, announce: bool = True
    ) -> Any:
        """Run a job in its own transaction, retrying with exponential backoff while the
        database is unreachable; after the last attempt, give up with a clear message (the
        dirty marks stay queued, so the next iteration picks the work up again)."""
        return self._with_retries(name, lambda: self._attempt(name, run, now, announce))

    def _with_retries(self, name: str, attempt_once: Callable[[], Any]) -> Any:
        for attempt, delay in enumerate((*self.retry_delays, None), start=1):
            try:
                return attempt_once()
            except DBAPIError as exc:
                if delay is None or self.stop.is_set():
                    log.error(
                        "job %s gave up after %d attempts: database unavailable (%s); "
                        "the next run retries",
                        name,
                        attempt,
                        first_line(exc),
                    )
                    return None
                log.warning(
                    "job %s: database unavailable (%s); retry %d in %.1f s",
                    name,
                    first_line(exc),
                    attempt,
                    delay,
                )
                (self.pause or self.stop.wait)(delay)
        return None

    def _attempt(self, name: str, run: JobFunction, now: datetime, announce: bool = True) -> Any:
        """Commits on success, rolls back on failure. An unreachable database is raised (to
        be retried); any other failure is logged and the worker carries on."""
        with self._session() as db:
            try:
                result = run(db, now)
                if announce and (name != "dirty" or result):
                    events.emit(
                        db,
                        topic="job.completed",
                        payload={"job": name, "result": str(result), "at": now.isoformat()},
                        now=now,
                    )
                db.commit()
                return result
            except Exception as exc:
                _rollback_quietly(db)
                if database_unavailable(exc):
                    raise
                log.exception("job %s failed", name)
                return None


def _rollback_quietly(db: Session) -> None:
    # The connection may be gone: then the server has rolled the transaction back already.
    with contextlib.suppress(DBAPIError):
        db.rollback()


class LatestDataClock:
    """Time as the data tells it: the start of the latest held or missed session.

    For the demo and for replays, where the simulator's time runs ahead of (or far behind)
    the wall clock; in production the two agree and ``SystemClock`` is used.
    """

    def __init__(self, session_factory: sessionmaker[Session], fallback: Clock) -> None:
        self._factory = session_factory
        self._fallback = fallback

    def now(self) -> datetime:
        from sqlalchemy import func, select

        from tutorpulse.marketplace.models import TutoringSession

        with self._factory() as db:
            latest = db.scalar(
                select(func.max(TutoringSession.scheduled_start)).where(
                    TutoringSession.status.in_(("completed", "no_show"))
                )
            )
        return latest if isinstance(latest, datetime) else self._fallback.now()
