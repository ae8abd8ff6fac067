"""The dashboard's own tables: managers' notes on a tutor (internal) and tutors' goals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tutorpulse.db.base import Base
from tutorpulse.db.types import UTCDateTime

GOAL_KEYS = ("avg_rating", "on_time", "first_sessions")


class TutorNote(Base):
    """A staff annotation on a tutor: internal, never shown to the tutor."""

    __tablename__ = "tutor_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    author_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    author_label: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_tutor_notes_tutor_time", "tutor_id", "created_at"),)


class TutorGoal(Base):
    """A goal a tutor set for themself (one per measure; setting it again replaces it)."""

    __tablename__ = "tutor_goals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(32), nullable=False)
    target: Mapped[float] = mapped_column(Float, nullable=False)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        CheckConstraint("key IN ('avg_rating', 'on_time', 'first_sessions')", name="key"),
        Index("ix_tutor_goals_tutor_key", "tutor_id", "key", unique=True),
    )
