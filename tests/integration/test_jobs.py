"""Scheduler, locks, the pipeline worker loop and email delivery, with a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from tutorpulse.clock import FixedClock
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade
from tutorpulse.events import service as events
from tutorpulse.events.models import DirtyTutor, OutboxMessage
from tutorpulse.interventions.models import Notification
from tutorpulse.interventions.notify import RecordingSender, notify
from tutorpulse.jobs.locks import AdvisoryLock, FileLock
from tutorpulse.jobs.notifier import deliver_emails
from tutorpulse.jobs.scheduler import Job, PipelineWorker, default_jobs
from tutorpulse.metrics.models import TutorPerformanceMetric

from ..conftest import SAMPLE_DIR
from .helpers import run_import

SAMPLE_END = datetime(2025, 1, 19, 22, 0, tzinfo=UTC)


def test_interval_and_daily_jobs_are_due_at_the_right_times() -> None:
    every = Job("x", lambda db, now: None, every=timedelta(minutes=15))
    start = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    assert every.due(start)
    every.last_run = start
    assert not every.due(start + timedelta(minutes=14))
    assert every.due(start + timedelta(minutes=15))
    nightly = Job("n", lambda db, now: None, at=time(0, 5))
    assert not nightly.due(start)  # 00:00, before 00:05
    assert nightly.due(start + timedelta(minutes=5))
    nightly.last_run = start + timedelta(minutes=6)
    assert not nightly.due(start + timedelta(hours=23))
    assert nightly.due(start + timedelta(days=1, minutes=5))


def test_file_lock_admits_one_scheduler(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "s.lock"), FileLock(tmp_path / "s.lock")
    assert first.acquire() and first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


@pytest.mark.postgres
def test_advisory_lock_admits_one_scheduler(postgres_engine: Engine) -> None:
    first, second = AdvisoryLock(postgres_engine, "t-lock"), AdvisoryLock(postgres_engine, "t-lock")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def _factory(db: Session) -> sessionmaker[Session]:
    return sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")


def test_worker_drains_dirty_queue_and_runs_due_jobs(db: Session, tmp_path: Path) -> None:
    run_import(db, SAMPLE_DIR)
    assert db.scalar(select(func.count()).select_from(DirtyTutor)) == 8
    clock = FixedClock(SAMPLE_END)
    worker = PipelineWorker(
        session_factory=_factory(db),
        clock=clock,
        lock=FileLock(tmp_path / "scheduler.lock"),
        jobs=default_jobs(),
    )
    done = worker.run_once()
    assert done["dirty"] == 8 and done["full"] == 8 and done["sla"] == 0
    assert "nightly" in done  # 22:00 is after 00:05: yesterday's rollup ran too
    assert db.scalar(select(func.count()).select_from(DirtyTutor)) == 0
    days = set(db.scalars(select(TutorPerformanceMetric.calculation_date)))
    assert days == {SAMPLE_END.date(), SAMPLE_END.date() - timedelta(days=1)}
    clock.advance(timedelta(minutes=1))
    again = worker.run_once()
    assert again == {"dirty": 0}  # nothing due a minute later
    completed = db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "job.completed"))
    assert {m.payload["job"] for m in completed} == {"dirty", "full", "nightly", "sla"}


def test_a_failing_job_is_rolled_back_and_the_worker_goes_on(db: Session, tmp_path: Path) -> None:
    def broken(session: Session, now: datetime) -> None:
        raise RuntimeError("boom")

    worker = PipelineWorker(
        session_factory=_factory(db),
        clock=FixedClock(SAMPLE_END),
        lock=FileLock(tmp_path / "scheduler.lock"),
        jobs=[Job("broken", broken, every=timedelta(minutes=1))],
    )
    assert worker.run_once() == {"dirty": 0, "broken": None}


def test_emails_are_delivered_once_and_kept_when_the_server_fails(db: Session) -> None:
    now = SAMPLE_END
    for i in range(3):
        notify(db, subject=f"s{i}", body="b", now=now, email=f"t{i}@example.org")

    class Unreachable:
        def send(self, *, to: str, subject: str, body: str) -> None:
            raise ConnectionRefusedError("smtp down")

    assert deliver_emails(db, sender=Unreachable(), now=now) == 0
    sender = RecordingSender()
    assert deliver_emails(db, sender=sender, now=now) == 3
    assert deliver_emails(db, sender=sender, now=now) == 0
    assert [to for to, _, _ in sender.sent] == [f"t{i}@example.org" for i in range(3)]
    assert db.scalar(select(func.count()).where(Notification.sent_at.is_(None))) == 0


def test_a_sqlite_job_takes_the_write_lock_before_reading(tmp_path: Path) -> None:
    """A job begins IMMEDIATE: a writer arriving during its read phase waits, instead of
    committing and making the job's first write fail with "database is locked"."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    engine = make_engine(url)
    upgrade(engine)
    other = make_engine(url, poolclass=NullPool)
    seen: list[str] = []

    def racy(session: Session, now: datetime) -> int:
        session.scalar(select(func.count()).select_from(OutboxMessage))  # the read phase
        with Session(other) as writer:
            writer.connection().exec_driver_sql("PRAGMA busy_timeout=100")
            events.emit(writer, topic="other.writer", payload={}, now=now)
            try:
                writer.commit()
                seen.append("other writer committed")
            except OperationalError:
                seen.append("other writer waited")
        events.emit(session, topic="job.write", payload={}, now=now)
        session.flush()
        return len(seen)

    worker = PipelineWorker(
        session_factory=make_session_factory(engine),
        clock=FixedClock(SAMPLE_END),
        lock=FileLock(tmp_path / "scheduler.lock"),
        jobs=[Job("racy", racy, every=timedelta(minutes=1))],
        retry_delays=(0.0,),
        pause=lambda _seconds: None,
    )
    assert worker.run_once()["racy"] == 1
    assert seen == ["other writer waited"]
    with Session(engine) as check:
        topics = check.scalars(select(OutboxMessage.topic)).all()
    assert topics.count("job.write") == 1 and topics.count("other.writer") == 0
    engine.dispose()
