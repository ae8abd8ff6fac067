"""Scheduled work of the dashboard domain: the feedback reminders.

A reminder goes out once per session left unanswered 24 h after it (``feedback.
queue_reminders`` skips the sessions already reminded), so the job can run every few
minutes: a run finds only the sessions that crossed the 24-hour mark since the last one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tutorpulse.config import Settings
from tutorpulse.dashboard import feedback
from tutorpulse.jobs import scheduler

REMINDERS_JOB = "feedback_reminders"
REMINDERS_EVERY = timedelta(minutes=5)


def feedback_reminders_job(
    *, secret_key: str, base_url: str = "", every: timedelta = REMINDERS_EVERY
) -> scheduler.Job:
    def run(db: Session, now: datetime) -> int:
        return feedback.queue_reminders(db, secret_key=secret_key, now=now, base_url=base_url)

    return scheduler.Job(REMINDERS_JOB, run, every=every)


def register_jobs(settings: Settings) -> None:
    """Register the dashboard's jobs with the scheduler (once per process): called by the
    processes that run it (the pipeline worker, the demo) before they build their worker,
    because the links are signed with the settings' secret key."""
    if any(job.name == REMINDERS_JOB for job in scheduler.EXTRA_JOBS):
        return
    scheduler.register_job(
        feedback_reminders_job(
            secret_key=settings.secret_key, base_url=settings.public_base_url or ""
        )
    )
