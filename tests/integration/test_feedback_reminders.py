"""The feedback reminder job, run by the scheduler on a simulated clock, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.dashboard import feedback as feedback_service
from tutorpulse.dashboard.feedback import REMINDER_TOPIC, queue_reminders
from tutorpulse.dashboard.jobs import (
    REMINDERS_EVERY,
    REMINDERS_JOB,
    feedback_reminders_job,
    register_jobs,
)
from tutorpulse.events.models import OutboxMessage
from tutorpulse.jobs import scheduler
from tutorpulse.jobs.locks import FileLock
from tutorpulse.jobs.scheduler import PipelineWorker

from .helpers import feedback, run_import, session, student, tutor, write_jsonl

SECRET = "reminder-test-secret-key-0123456789abcdef"
T0 = datetime(2025, 3, 3, 16, 0, tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _held(session_id: str, student_id: str, at: datetime) -> dict[str, object]:
    return session(
        session_id, student_id=student_id, scheduled_start=_stamp(at), actual_start=_stamp(at)
    )


@pytest.fixture
def sessions(db: Session, tmp_path: Path) -> Session:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor("t1")])
    write_jsonl(tmp_path / "students.jsonl", [student(f"s{i}") for i in range(1, 6)])
    write_jsonl(
        tmp_path / "sessions.jsonl",
        [
            _held("x1", "s1", T0),  # unanswered: one reminder at T0 + 24 h
            _held("x2", "s2", T0),  # answered: none
            _held("x3", "s3", T0 + timedelta(hours=10)),  # unanswered: one at T0 + 34 h
            session(  # missed: nothing to give feedback on
                "x4",
                student_id="s4",
                scheduled_start=_stamp(T0),
                actual_start=None,
                no_show=True,
                student_rating=None,
            ),
            # Unanswered, but its link (7 days) expires before the 24 h are up... long ago.
            _held("x5", "s5", T0 - timedelta(days=7)),
        ],
    )
    write_jsonl(
        tmp_path / "feedback.jsonl",
        [feedback("f2", session_id="x2", student_id="s2", timestamp=_stamp(T0))],
    )
    run_import(db, tmp_path)
    return db


def _reminders(db: Session) -> list[OutboxMessage]:
    return list(
        db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == REMINDER_TOPIC)
            .order_by(OutboxMessage.id)
        )
    )


def test_one_reminder_per_unanswered_session_however_often_the_job_runs(
    sessions: Session, tmp_path: Path
) -> None:
    db = sessions
    clock = FixedClock(T0 + timedelta(hours=20))
    worker = PipelineWorker(
        session_factory=sessionmaker(
            bind=db.connection(), join_transaction_mode="create_savepoint"
        ),
        clock=clock,
        lock=FileLock(tmp_path / "scheduler.lock"),
        jobs=[feedback_reminders_job(secret_key=SECRET, base_url="https://tp.example")],
    )
    runs = 0
    # Every 5 minutes for two days: far more runs than reminders.
    while clock.now() < T0 + timedelta(days=2, hours=20):
        done = worker.run_once()
        runs += REMINDERS_JOB in done
        clock.advance(timedelta(minutes=5))
    assert runs == 2 * 24 * 12
    reminders = _reminders(db)
    assert [r.payload["session_id"] for r in reminders] == ["x1", "x3"]
    sent_at = {r.payload["session_id"]: r.created_at for r in reminders}
    # The first run at or after the 24-hour mark (runs fall on T0 + 20 h + k x 5 min).
    assert sent_at["x1"] == T0 + timedelta(hours=24)
    assert sent_at["x3"] == T0 + timedelta(hours=34)
    for reminder in reminders:
        assert reminder.payload["student_id"] in {"s1", "s3"}
        token = reminder.payload["link"].removeprefix("https://tp.example/feedback/")
        form = feedback_service.feedback_form(
            db, secret_key=SECRET, token=token, now=reminder.created_at
        )
        assert form.session_id == reminder.payload["session_id"]


def test_a_backlog_larger_than_the_limit_is_worked_through(sessions: Session) -> None:
    now = T0 + timedelta(days=2)
    assert queue_reminders(sessions, secret_key=SECRET, now=now, limit=1) == 1
    sessions.flush()
    assert queue_reminders(sessions, secret_key=SECRET, now=now, limit=1) == 1
    sessions.flush()
    assert queue_reminders(sessions, secret_key=SECRET, now=now, limit=1) == 0
    assert sorted(r.payload["session_id"] for r in _reminders(sessions)) == ["x1", "x3"]


def test_no_reminder_once_the_link_has_expired(sessions: Session) -> None:
    late = T0 + feedback_service.LINK_LIFETIME + timedelta(minutes=1)
    assert queue_reminders(sessions, secret_key=SECRET, now=late) == 1  # x3 only
    assert [r.payload["session_id"] for r in _reminders(sessions)] == ["x3"]


def test_the_job_is_registered_once_with_the_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "EXTRA_JOBS", [])
    settings = Settings(env="test", secret_key=SECRET)
    register_jobs(settings)
    register_jobs(settings)  # the demo and the worker may both ask
    jobs = [job for job in scheduler.default_jobs() if job.name == REMINDERS_JOB]
    assert len(jobs) == 1
    assert jobs[0].every == REMINDERS_EVERY == timedelta(minutes=5)
