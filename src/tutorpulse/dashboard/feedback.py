"""The student feedback flow: a signed, expiring link per session; one submission per session.

The link carries ``{"s": session_id, "e": expiry (Unix seconds)}`` signed with itsdangerous
(HMAC-SHA256 over the app's secret key, its own salt); the expiry is checked against the
injected clock, so tests and simulated time behave like production. A submission goes
through the ingest service (the same validation as files and the HTTP ingest API). A negative
first-session answer recomputes that tutor at once, which raises the poor-first-session flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.dashboard.schemas import FeedbackForm, FeedbackReceipt, FeedbackSubmission
from tutorpulse.errors import TutorpulseError
from tutorpulse.events import service as events
from tutorpulse.events.models import OutboxMessage
from tutorpulse.ingest.files import ingest_records
from tutorpulse.marketplace.models import StudentFeedback, Tutor, TutoringSession
from tutorpulse.pipeline.service import run_pipeline

SALT = "tutorpulse.feedback-link.v1"
LINK_LIFETIME = timedelta(days=7)
NEGATIVE_ANSWERS = frozenset({"probably_not", "no"})
ORIGIN = "feedback-form"


class InvalidLink(TutorpulseError):
    """The link is forged, damaged or expired (all answered the same way)."""


class AlreadySubmitted(TutorpulseError):
    pass


class FeedbackRejected(TutorpulseError):
    pass


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def make_token(*, secret_key: str, session_id: str, expires_at: datetime) -> str:
    payload = {"s": session_id, "e": int(expires_at.timestamp())}
    token: str = _serializer(secret_key).dumps(payload)
    return token


def link_for_session(db: Session, *, secret_key: str, session_id: str, base_url: str = "") -> str:
    """The link sent to the student after a session (valid 7 days after its start)."""
    session = db.get(TutoringSession, session_id)
    if session is None:
        raise TutorpulseError(f"session {session_id!r} not found")
    token = make_token(
        secret_key=secret_key,
        session_id=session_id,
        expires_at=session.scheduled_start + LINK_LIFETIME,
    )
    return f"{base_url.rstrip('/')}/feedback/{token}"


@dataclass(frozen=True)
class LinkTarget:
    session: TutoringSession
    expires_at: datetime


def read_token(db: Session, *, secret_key: str, token: str, now: datetime) -> LinkTarget:
    try:
        payload: Any = _serializer(secret_key).loads(token)
    except BadSignature as exc:
        raise InvalidLink("this feedback link is not valid") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), str):
        raise InvalidLink("this feedback link is not valid")
    expires_at = datetime.fromtimestamp(int(payload.get("e", 0)), tz=now.tzinfo)
    if expires_at <= now:
        raise InvalidLink("this feedback link has expired")
    session = db.get(TutoringSession, payload["s"])
    if session is None:
        raise InvalidLink("this feedback link is not valid")
    return LinkTarget(session=session, expires_at=expires_at)


def link_actor(session_id: str) -> audit.MachineActor:
    """The audit actor of a signed feedback link (there is no account behind it)."""
    return audit.MachineActor(f"feedback-link:session:{session_id}")


def _already(db: Session, session_id: str) -> bool:
    return (
        db.scalar(
            select(StudentFeedback.feedback_id).where(StudentFeedback.session_id == session_id)
        )
        is not None
    )


def feedback_form(db: Session, *, secret_key: str, token: str, now: datetime) -> FeedbackForm:
    """What the form needs to show: no student data, the tutor's first name only."""
    target = read_token(db, secret_key=secret_key, token=token, now=now)
    session = target.session
    tutor = db.get(Tutor, session.tutor_id)
    first_name = (tutor.name.split() or ["your tutor"])[0] if tutor else "your tutor"
    return FeedbackForm(
        session_id=session.session_id,
        tutor_first_name=first_name,
        subject=session.subject,
        session_date=session.scheduled_start.date(),
        first_session=session.session_number == 1,
        already_submitted=_already(db, session.session_id),
        expires_at=target.expires_at,
    )


def _record(session: TutoringSession, body: FeedbackSubmission, now: datetime) -> dict[str, Any]:
    first = session.session_number == 1
    answer = body.would_work_again if first else None
    negative = answer in NEGATIVE_ANSWERS
    recommend = body.would_recommend
    if recommend is None:
        recommend = (answer in ("yes", "maybe")) if answer else body.overall_rating >= 4
    text = (body.free_text_feedback or "").strip() or None
    return {
        "feedback_id": f"fbf_{session.session_id}"[:64],
        "session_id": session.session_id,
        "student_id": session.student_id,
        "tutor_id": session.tutor_id,
        "overall_rating": body.overall_rating,
        "first_session": first,
        "ratings": {
            "subject_knowledge": body.subject_knowledge,
            "communication": body.communication,
            "patience": body.patience,
            "engagement": body.engagement,
            "helpfulness": body.helpfulness,
        },
        "would_recommend": recommend,
        "free_text_feedback": text,
        "timestamp": now.isoformat(),
        "would_work_again": answer,
        "improvement_areas": sorted(set(body.improvement_areas)) if negative else None,
    }


def submit_feedback(
    db: Session,
    *,
    secret_key: str,
    token: str,
    body: FeedbackSubmission,
    now: datetime,
) -> FeedbackReceipt:
    """Store one student's feedback (once per session); never commits.

    A negative first-session answer ("probably not" / "no") marks the tutor dirty and
    recomputes that tutor as of today, which raises the poor-first-session flag at once.
    """
    target = read_token(db, secret_key=secret_key, token=token, now=now)
    session = target.session
    if session.status not in ("completed",):
        raise FeedbackRejected("feedback opens once the session has taken place")
    if _already(db, session.session_id):
        raise AlreadySubmitted("feedback for this session was already received")
    record = _record(session, body, now)
    report = ingest_records(
        db, kind="feedback", records=[record], source="real", origin=ORIGIN, now=now
    )
    if report.total_rejected:
        reasons = "; ".join(f"{r.field}: {r.reason}" for r in report.rejections) or "rejected"
        if "already has feedback" in reasons:
            raise AlreadySubmitted("feedback for this session was already received")
        raise FeedbackRejected(reasons)
    events.emit(
        db,
        topic="feedback.received",
        payload={"tutor_id": session.tutor_id, "id": record["feedback_id"]},
        now=now,
    )
    # No account stands behind a link: the actor is the link itself, named by its session.
    # Nothing about the student goes in the entry (kept three years): no id, name or text.
    audit.record(
        db,
        actor=link_actor(session.session_id),
        action="feedback.submit",
        target_type="feedback",
        target_id=record["feedback_id"],
        details={"session_id": session.session_id, "tutor_id": session.tutor_id},
        now=now,
    )
    if record["first_session"] and record["would_work_again"] in NEGATIVE_ANSWERS:
        events.mark_dirty(
            db, tutor_ids=[session.tutor_id], now=now, reason="feedback:first_session_negative"
        )
        run_pipeline(db, as_of=now.date(), now=now, tutor_ids=[session.tutor_id])
    return FeedbackReceipt(status="received", feedback_id=record["feedback_id"])


REMINDER_AFTER = timedelta(hours=24)
REMINDER_TOPIC = "feedback.reminder"


def queue_reminders(
    db: Session, *, secret_key: str, now: datetime, base_url: str = "", limit: int = 5000
) -> int:
    """Remind students who have not answered 24 h after their session (once per session).

    Each reminder is an outbox row (``feedback.reminder``: session, student and the link),
    written in the caller's transaction and delivered by the notifier after commit; the
    data contract has no student e-mail, so delivery is the notifier's integration. Run by
    the ``feedback_reminders`` job every few minutes (``dashboard/jobs.py``); never commits.

    Only sessions whose link is still valid are reminded (an expired link helps nobody);
    the sessions already reminded are left out before ``limit`` applies, so a backlog
    larger than ``limit`` is worked through run after run.
    """
    first = now - LINK_LIFETIME
    already = {
        payload.get("session_id")
        for payload in db.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.topic == REMINDER_TOPIC, OutboxMessage.created_at >= first
            )
        )
    }
    # NOT EXISTS rather than NOT IN (all feedback): PostgreSQL re-scans a NOT IN subquery
    # per session once it outgrows work_mem, minutes at 10x, holding up the worker's jobs.
    answered = select(StudentFeedback.session_id).where(
        StudentFeedback.session_id == TutoringSession.session_id
    )
    waiting = db.execute(
        select(TutoringSession.session_id, TutoringSession.student_id)
        .where(
            TutoringSession.status == "completed",
            TutoringSession.scheduled_start > first,
            TutoringSession.scheduled_start <= now - REMINDER_AFTER,
            ~answered.exists(),
        )
        .order_by(TutoringSession.scheduled_start, TutoringSession.session_id)
    ).all()
    due = [(sid, student) for sid, student in waiting if sid not in already][:limit]
    sent = 0
    for session_id, student_id in due:
        link = link_for_session(db, secret_key=secret_key, session_id=session_id, base_url=base_url)
        events.emit(
            db,
            topic=REMINDER_TOPIC,
            payload={"session_id": session_id, "student_id": student_id, "link": link},
            now=now,
        )
        sent += 1
    return sent
