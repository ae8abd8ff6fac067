"""Retention: what is kept how long (PRD "Compliance & Security"), run by a job or the CLI.

- Audit log: 3 years (``audit_retention_days``), then purged. The purge is the one path
  allowed to delete audit rows (on PostgreSQL it sets ``tutorpulse.audit_purge`` for its own
  transaction, which the append-only trigger checks; on SQLite it lifts the DELETE trigger
  inside its own transaction, see ``purge_audit``) and it is itself audited.
- Educational records (sessions and student feedback, FERPA): 7 years
  (``records_retention_days``), then anonymized (free text removed) or deleted
  (``records_retention_mode``).
- Under-13 students (COPPA): see ``minimization``; applied on every run.
- Sign-in bookkeeping: login attempts after a day, ended sessions after 30 days.

Every function takes ``now`` (simulated clocks work) and never commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.auth.models import AuditEntry, AuthSession, LoginAttempt
from tutorpulse.config import Settings
from tutorpulse.marketplace.models import StudentFeedback, TutoringSession
from tutorpulse.privacy.minimization import minimize_under_13

LOGIN_ATTEMPTS_KEPT = timedelta(days=1)
ENDED_SESSIONS_KEPT = timedelta(days=30)
RETENTION_ACTOR = audit.MachineActor("system:retention")


@dataclass
class RetentionReport:
    as_of: str
    audit_purged: int = 0
    sessions_affected: int = 0
    feedback_affected: int = 0
    records_mode: str = "anonymize"
    under_13_minimized: int = 0
    login_attempts_purged: int = 0
    auth_sessions_purged: int = 0
    cutoffs: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SQLITE_DELETE_TRIGGER = "audit_log_no_delete"


def _sqlite_delete_trigger(db: Session) -> str | None:
    """The SQL that created the append-only DELETE trigger, or None if there is none."""
    sql: str | None = db.scalar(
        text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
        {"name": SQLITE_DELETE_TRIGGER},
    )
    return sql


def purge_audit(
    db: Session, *, now: datetime, retention_days: int, actor: audit.Actor = RETENTION_ACTOR
) -> int:
    """Delete audit entries older than the retention period; the purge is audited."""
    cutoff = now - timedelta(days=retention_days)
    dialect = db.get_bind().dialect.name
    # SQLite: the DELETE trigger (migration 0009) is lifted for this transaction only —
    # dropped and re-created from its stored SQL around the delete. SQLite's DDL is
    # transactional and this transaction holds the write lock, so no other connection runs
    # without it, and a failed purge rolls it back into place.
    sqlite_trigger = _sqlite_delete_trigger(db) if dialect == "sqlite" else None
    if dialect == "postgresql":
        db.execute(text("SELECT set_config('tutorpulse.audit_purge', 'on', true)"))
    elif sqlite_trigger is not None:
        db.execute(text(f"DROP TRIGGER {SQLITE_DELETE_TRIGGER}"))
    try:
        result = db.execute(
            delete(AuditEntry).where(AuditEntry.at < cutoff),
            execution_options={"synchronize_session": False},
        )
    finally:
        if dialect == "postgresql":
            db.execute(text("SELECT set_config('tutorpulse.audit_purge', 'off', true)"))
        elif sqlite_trigger is not None:
            db.execute(text(sqlite_trigger))
    purged = int(getattr(result, "rowcount", 0) or 0)
    audit.record(
        db,
        actor=actor,
        action="audit.purge",
        target_type="audit_log",
        details={"cutoff": cutoff.isoformat(), "purged": purged},
        now=now,
    )
    return purged


def apply_record_retention(
    db: Session, *, now: datetime, retention_days: int, mode: str
) -> tuple[int, int]:
    """(sessions, feedback) rows anonymized or deleted for being older than the period."""
    cutoff = now - timedelta(days=retention_days)
    old_session = TutoringSession.scheduled_start < cutoff
    old_feedback = StudentFeedback.submitted_at < cutoff
    if mode == "delete":
        # Feedback first: a recent feedback row may still point at an old session.
        feedback = db.execute(
            delete(StudentFeedback).where(
                or_(
                    old_feedback,
                    StudentFeedback.session_id.in_(
                        select(TutoringSession.session_id).where(old_session)
                    ),
                )
            ),
            execution_options={"synchronize_session": False},
        )
        sessions = db.execute(
            delete(TutoringSession).where(old_session),
            execution_options={"synchronize_session": False},
        )
    elif mode == "anonymize":
        # The numbers stay for aggregates; what a student wrote, in their own words, goes.
        feedback = db.execute(
            update(StudentFeedback)
            .where(old_feedback, StudentFeedback.free_text_feedback.is_not(None))
            .values(free_text_feedback=None),
            execution_options={"synchronize_session": False},
        )
        sessions = db.execute(
            update(TutoringSession)
            .where(old_session, TutoringSession.student_feedback_text.is_not(None))
            .values(student_feedback_text=None),
            execution_options={"synchronize_session": False},
        )
    else:
        raise ValueError(f"unknown retention mode {mode!r}")
    return (
        int(getattr(sessions, "rowcount", 0) or 0),
        int(getattr(feedback, "rowcount", 0) or 0),
    )


def purge_sign_in_records(db: Session, *, now: datetime) -> tuple[int, int]:
    attempts = db.execute(
        delete(LoginAttempt).where(LoginAttempt.at < now - LOGIN_ATTEMPTS_KEPT),
        execution_options={"synchronize_session": False},
    )
    ended = now - ENDED_SESSIONS_KEPT
    sessions = db.execute(
        delete(AuthSession).where(
            or_(AuthSession.expires_at < ended, AuthSession.revoked_at < ended)
        ),
        execution_options={"synchronize_session": False},
    )
    return (
        int(getattr(attempts, "rowcount", 0) or 0),
        int(getattr(sessions, "rowcount", 0) or 0),
    )


def run_retention(
    db: Session, *, now: datetime, settings: Settings, actor: audit.Actor = RETENTION_ACTOR
) -> RetentionReport:
    report = RetentionReport(as_of=now.isoformat(), records_mode=settings.records_retention_mode)
    report.cutoffs = {
        "audit": (now - timedelta(days=settings.audit_retention_days)).isoformat(),
        "records": (now - timedelta(days=settings.records_retention_days)).isoformat(),
    }
    report.sessions_affected, report.feedback_affected = apply_record_retention(
        db,
        now=now,
        retention_days=settings.records_retention_days,
        mode=settings.records_retention_mode,
    )
    report.under_13_minimized = minimize_under_13(db, key=settings.effective_pii_hmac_key)
    report.login_attempts_purged, report.auth_sessions_purged = purge_sign_in_records(db, now=now)
    report.audit_purged = purge_audit(
        db, now=now, retention_days=settings.audit_retention_days, actor=actor
    )
    audit.record(
        db,
        actor=actor,
        action="retention.run",
        details={k: v for k, v in report.as_dict().items() if k != "as_of"},
        now=now,
    )
    return report
