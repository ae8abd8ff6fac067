"""Managers' notes on a tutor (internal) and tutors' own goals. Keyword-only; never commits.

Both writes check the acting user (``auth.guard``) and are audited in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.auth.guard import PermissionDenied, ensure_allowed
from tutorpulse.auth.models import User
from tutorpulse.auth.permissions import Permission, Role
from tutorpulse.dashboard.models import GOAL_KEYS, TutorGoal, TutorNote
from tutorpulse.dashboard.schemas import NoteRow
from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.events import service as events
from tutorpulse.marketplace.models import Tutor

MAX_NOTE = 4000
GOAL_LIMITS = {"avg_rating": (1.0, 5.0), "on_time": (0.0, 1.0), "first_sessions": (0.0, 1.0)}


def _row(note: TutorNote) -> NoteRow:
    return NoteRow(id=note.id, author=note.author_label, created_at=note.created_at, body=note.body)


def list_notes(db: Session, *, tutor_id: str, limit: int = 50) -> list[NoteRow]:
    return [
        _row(note)
        for note in db.scalars(
            select(TutorNote)
            .where(TutorNote.tutor_id == tutor_id)
            .order_by(TutorNote.created_at.desc(), TutorNote.id.desc())
            .limit(limit)
        )
    ]


def add_note(db: Session, *, tutor_id: str, body: str, author: User, now: datetime) -> NoteRow:
    ensure_allowed(author, Permission.RECORD_OUTCOMES)
    text = body.strip()
    if not text:
        raise TutorpulseError("a note cannot be empty")
    if len(text) > MAX_NOTE:
        raise TutorpulseError(f"a note holds at most {MAX_NOTE} characters")
    if db.get(Tutor, tutor_id) is None:
        raise NotFoundError("tutor", tutor_id)
    note = TutorNote(
        tutor_id=tutor_id,
        author_user_id=author.id,
        author_label=author.display_name or author.email,
        body=text,
        created_at=now,
    )
    db.add(note)
    db.flush()
    audit.record(
        db,
        actor=author,
        action="tutor.note_added",
        target_type="tutor",
        target_id=tutor_id,
        details={"note_id": note.id},
        now=now,
    )
    events.emit(db, topic="dashboard.note_added", payload={"tutor_id": tutor_id}, now=now)
    return _row(note)


def goals(db: Session, *, tutor_id: str) -> dict[str, float]:
    return {
        goal.key: goal.target
        for goal in db.scalars(select(TutorGoal).where(TutorGoal.tutor_id == tutor_id))
    }


def set_goal(
    db: Session, *, tutor_id: str, key: str, target: float, actor: audit.Actor, now: datetime
) -> None:
    """A tutor's own target for one measure (replaces the previous one)."""
    ensure_allowed(actor, Permission.READ_PORTAL)
    if isinstance(actor, User) and actor.role == Role.TUTOR and actor.tutor_id != tutor_id:
        raise PermissionDenied("a tutor sets their own goals only")
    if key not in GOAL_KEYS:
        raise TutorpulseError(f"goal must be one of {', '.join(GOAL_KEYS)}")
    low, high = GOAL_LIMITS[key]
    if not low <= target <= high:
        raise TutorpulseError(f"a {key} goal lies between {low:g} and {high:g}")
    goal = db.scalar(select(TutorGoal).where(TutorGoal.tutor_id == tutor_id, TutorGoal.key == key))
    previous = goal.target if goal is not None else None
    if goal is None:
        db.add(TutorGoal(tutor_id=tutor_id, key=key, target=target, set_at=now))
    else:
        goal.target, goal.set_at = target, now
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="tutor.goal_set",
        target_type="tutor",
        target_id=tutor_id,
        details={"key": key, "target": target, "previous": previous},
        now=now,
    )
