"""A full recompute in progress does not hold up the dirty-tutor micro-batches (issue #10),
and a tutor whose data changes during a full run ends as fresh as a clean recompute.

Real databases with real commits (a private SQLite file or PostgreSQL schema per test) and a
real worker thread; the full run is held between its read and write phases by an event, so
the ordering is certain, not timed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.clock import FixedClock
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade
from tutorpulse.events.models import DirtyTutor, OutboxMessage
from tutorpulse.jobs.locks import FileLock
from tutorpulse.jobs.scheduler import Job, JobFunction, PipelineWorker, default_jobs
from tutorpulse.metrics.models import TutorPerformanceMetric
from tutorpulse.pipeline import concurrency
from tutorpulse.pipeline.service import (
    prepare_run,
    process_dirty,
    run_pipeline,
    write_run,
    write_steps,
)

from ..conftest import SAMPLE_DIR, _postgres_engine
from .helpers import run_import, session, write_jsonl

SAMPLE_END = datetime(2025, 1, 19, 22, 0, tzinfo=UTC)
TODAY = SAMPLE_END.date()
TUTOR = "tutor_001"
WAIT = 120.0  # generous: a bound on a hang, never a measurement
# The figures of a tutor's metric rows that depend on its data alone (tiers rank against the
# population and follow the last full run).
FIGURES = (
    "window_days",
    "sessions_completed",
    "avg_rating",
    "first_session_success_rate",
    "reschedule_rate",
    "no_show_count",
    "no_show_rate",
    "engagement_score",
    "learning_objectives_met_pct",
    "sessions_due",
    "first_rated",
    "first_successes",
    "churned_on",
)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def committed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own, where commits are real (threads see each other's writes)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'concurrency.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
    else:
        yield from _postgres_engine()


@pytest.fixture
def factory(committed: Engine) -> sessionmaker[Session]:
    factory = make_session_factory(committed)
    with factory() as db:
        run_import(db, SAMPLE_DIR)
        process_dirty(db, as_of=TODAY, now=SAMPLE_END)  # the import's marks: a clean start
        db.commit()
    return factory


def _new_session(factory: sessionmaker[Session], tmp_path: Path, session_id: str) -> None:
    """A completed session of TUTOR ingested (and committed) like any import: marks it dirty."""
    record = session(
        session_id,
        tutor_id=TUTOR,
        student_id="student_013",
        scheduled_start="2025-01-19T20:00:00Z",
        actual_start="2025-01-19T20:00:00Z",
        student_rating=1,
        engagement_score=0.1,
    )
    folder = tmp_path / session_id
    write_jsonl(folder / "sessions.jsonl", [record])
    with factory() as db:
        run_import(db, folder)
        db.commit()


def _figures(factory: sessionmaker[Session], tutor_id: str = TUTOR) -> list[tuple[Any, ...]]:
    columns = [getattr(TutorPerformanceMetric, name) for name in FIGURES]
    with factory() as db:
        return [
            tuple(row)
            for row in db.execute(
                select(*columns)
                .where(
                    TutorPerformanceMetric.tutor_id == tutor_id,
                    TutorPerformanceMetric.calculation_date == TODAY,
                )
                .order_by(TutorPerformanceMetric.window_days)
            )
        ]


def _clean_recompute(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    """What a full recompute from scratch stores for TUTOR now (rolled back afterwards)."""
    with factory() as db:
        run_pipeline(db, as_of=TODAY, now=SAMPLE_END)
        db.flush()
        columns = [getattr(TutorPerformanceMetric, name) for name in FIGURES]
        rows = [
            tuple(row)
            for row in db.execute(
                select(*columns)
                .where(
                    TutorPerformanceMetric.tutor_id == TUTOR,
                    TutorPerformanceMetric.calculation_date == TODAY,
                )
                .order_by(TutorPerformanceMetric.window_days)
            )
        ]
        db.rollback()
    return rows


def _thirty_day_sessions(factory: sessionmaker[Session]) -> int:
    return next(row[1] for row in _figures(factory) if row[0] == 30)


def _queued(factory: sessionmaker[Session]) -> int:
    with factory() as db:
        return int(db.scalar(select(func.count()).select_from(DirtyTutor)) or 0)


def _full_runs_completed(factory: sessionmaker[Session]) -> int:
    with factory() as db:
        return int(
            db.scalar(
                select(func.count()).where(
                    OutboxMessage.topic == "job.completed",
                    OutboxMessage.payload["job"].as_string() == "full",
                )
            )
            or 0
        )


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def _held_full_job(read_done: threading.Event, release: threading.Event) -> Job:
    """The scheduler's real full job, held after its read phase until ``release``."""
    real = next(job for job in default_jobs() if job.name == "full")
    assert real.prepare is not None
    prepare = real.prepare

    def held(db: Session, now: datetime) -> list[JobFunction]:
        steps = prepare(db, now)
        read_done.set()
        assert release.wait(WAIT), "the test never released the full run"
        return steps

    return Job("full", real.run, every=timedelta(hours=1), prepare=held)


def test_micro_batches_run_while_a_full_recompute_is_in_progress(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    before = _thirty_day_sessions(factory)
    read_done, release = threading.Event(), threading.Event()
    worker = PipelineWorker(
        session_factory=factory,
        clock=FixedClock(SAMPLE_END),
        lock=FileLock(tmp_path / "scheduler.lock"),
        jobs=[_held_full_job(read_done, release)],
        poll_seconds=0.05,
    )
    runner = threading.Thread(target=worker.run_forever, daemon=True)
    runner.start()
    try:
        assert read_done.wait(WAIT), "the full run never started"
        # The full run has read its data; a session of TUTOR arrives now.
        _new_session(factory, tmp_path, "late-1")
        worker.wake.set()
        _until(lambda: _queued(factory) == 0, "the micro-batch during the full run")
        # Recomputed while the full run is still in progress (held: nothing written yet).
        assert _full_runs_completed(factory) == 0
        assert _thirty_day_sessions(factory) == before + 1
        release.set()
        _until(lambda: _full_runs_completed(factory) == 1, "the full run")
        # The full run wrote figures read before the session: it marked TUTOR dirty again,
        # and the next micro-batch brings TUTOR back to its latest data.
        _until(lambda: _queued(factory) == 0, "the recompute after the full run")
    finally:
        release.set()
        worker.stop.set()
        runner.join(timeout=WAIT)
    assert not runner.is_alive()
    assert _thirty_day_sessions(factory) == before + 1
    assert _figures(factory) == _clean_recompute(factory)


def test_a_full_run_that_read_before_a_micro_batch_marks_the_tutor_dirty_again(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """The two phases of a full run, with a micro-batch committed in between (no threads)."""
    before = _thirty_day_sessions(factory)
    with factory() as reader:
        prepared = prepare_run(reader, as_of=TODAY)
    _new_session(factory, tmp_path, "late-2")
    with factory() as db:
        assert process_dirty(db, as_of=TODAY, now=SAMPLE_END) == 1
        db.commit()
    assert _thirty_day_sessions(factory) == before + 1
    with factory() as db:
        write_run(db, prepared, now=SAMPLE_END)
        db.commit()
    # The full run's figures are older than the micro-batch's: TUTOR (only) is queued again.
    assert _thirty_day_sessions(factory) == before
    with factory() as db:
        queued = list(db.execute(select(DirtyTutor.tutor_id, DirtyTutor.reason)))
    assert queued == [(TUTOR, concurrency.REMARK_REASON)]
    with factory() as db:
        assert process_dirty(db, as_of=TODAY, now=SAMPLE_END) == 1
        db.commit()
    assert _thirty_day_sessions(factory) == before + 1
    assert _figures(factory) == _clean_recompute(factory)


@pytest.mark.parametrize("after_steps", [0, 1, 2])
def test_a_chunked_full_run_leaves_a_tutor_changed_between_its_steps_fresh(
    factory: sessionmaker[Session], tmp_path: Path, after_steps: int
) -> None:
    """The worker's form of a full run: chunks of 3 tutors (TUTOR is in the first), each in a
    transaction of its own, a micro-batch committed before, between or after the chunks."""
    before = _thirty_day_sessions(factory)
    with factory() as reader:
        prepared = prepare_run(reader, as_of=TODAY)
    steps = write_steps(prepared, now=SAMPLE_END, chunk_size=3)
    assert len(steps) == 4  # 8 tutors in chunks of 3, then the population-wide step
    for number, step in enumerate(steps):
        if number == after_steps:
            _new_session(factory, tmp_path, f"between-{after_steps}")
            with factory() as db:
                assert process_dirty(db, as_of=TODAY, now=SAMPLE_END) == 1
                db.commit()
        with factory() as db:
            step(db)
            db.commit()
    # Whatever the order, the full run marked TUTOR dirty again: it had read older data.
    with factory() as db:
        assert db.scalar(select(DirtyTutor.reason).where(DirtyTutor.tutor_id == TUTOR)) == (
            concurrency.REMARK_REASON
        )
        assert process_dirty(db, as_of=TODAY, now=SAMPLE_END) == 1
        db.commit()
    assert _thirty_day_sessions(factory) == before + 1
    assert _figures(factory) == _clean_recompute(factory)


def test_a_full_run_with_nothing_recomputed_meanwhile_queues_nothing(
    factory: sessionmaker[Session],
) -> None:
    with factory() as reader:
        prepared = prepare_run(reader, as_of=TODAY)
    with factory() as db:
        write_run(db, prepared, now=SAMPLE_END)
        db.commit()
    assert _queued(factory) == 0


def test_a_stop_during_the_read_phase_writes_nothing(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """SIGTERM while a full run computes: the worker stops without the full run's write."""
    read_done, release = threading.Event(), threading.Event()
    worker = PipelineWorker(
        session_factory=factory,
        clock=FixedClock(SAMPLE_END),
        lock=FileLock(tmp_path / "scheduler.lock"),
        jobs=[_held_full_job(read_done, release)],
        poll_seconds=0.05,
    )
    runner = threading.Thread(target=worker.run_forever, daemon=True)
    runner.start()
    try:
        assert read_done.wait(WAIT)
        worker.stop.set()
        release.set()
        runner.join(timeout=WAIT)
    finally:
        release.set()
        worker.stop.set()
    assert not runner.is_alive()
    assert _full_runs_completed(factory) == 0
    assert FileLock(tmp_path / "scheduler.lock").acquire()  # released on the way out
