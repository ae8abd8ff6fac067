"""The marketplace's own records (PRD "Data Model" core entities), as ingested."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from tutorpulse.db.base import Base, TimestampMixin
from tutorpulse.db.types import JSONType, UTCDateTime
from tutorpulse.privacy.crypto import EncryptedInt, EncryptedText, email_hmac

ID_LENGTH = 64


class IngestedMixin(TimestampMixin):
    """Columns every ingested record carries: provenance, unknown fields, change detection."""

    source: Mapped[str] = mapped_column(String(16), nullable=False, default="real")
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(32), nullable=False)


def _email_hmac_default(context: Any) -> str:
    # Inserts that do not give the hash (ORM objects, Core inserts) get it from the email.
    return email_hmac(str(context.get_current_parameters()["email"]))


class Tutor(IngestedMixin, Base):
    __tablename__ = "tutors"

    tutor_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    # PII is encrypted at the application layer (privacy/crypto.py): SQL can neither compare
    # nor sort these columns. Email equality goes through ``email_hmac``.
    name: Mapped[str] = mapped_column(EncryptedText("tutors.name"), nullable=False)
    email: Mapped[str] = mapped_column(EncryptedText("tutors.email"), nullable=False)
    email_hmac: Mapped[str] = mapped_column(
        String(64), nullable=False, index=True, default=_email_hmac_default
    )
    onboarding_date: Mapped[date] = mapped_column(Date, nullable=False)
    subjects: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    education_level: Mapped[str] = mapped_column(String(64), nullable=False)
    location: Mapped[str] = mapped_column(String(200), nullable=False)
    baseline_sessions_per_week: Mapped[float] = mapped_column(Float, nullable=False)
    age: Mapped[int | None] = mapped_column(EncryptedInt("tutors.age"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    behavioral_archetype: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('active', 'inactive', 'churned')", name="status"),
        CheckConstraint("source IN ('synthetic', 'real')", name="source"),
        Index("ix_tutors_onboarding_date", "onboarding_date"),
    )

    @validates("email")
    def _keep_email_hmac(self, key: str, value: str) -> str:
        # An email changed through the ORM keeps its search hash in step.
        self.email_hmac = email_hmac(value)
        return value


class Student(IngestedMixin, Base):
    __tablename__ = "students"

    student_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(EncryptedText("students.name"), nullable=False)
    age: Mapped[int] = mapped_column(EncryptedInt("students.age"), nullable=False)
    grade_level: Mapped[str] = mapped_column(String(32), nullable=False)
    subjects_interested: Mapped[list[str]] = mapped_column(JSONType, nullable=False)

    __table_args__ = (CheckConstraint("source IN ('synthetic', 'real')", name="source"),)


class TutoringSession(IngestedMixin, Base):
    """One booked session: scheduled ahead, then completed / missed / cancelled."""

    __tablename__ = "sessions"

    session_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    student_id: Mapped[str] = mapped_column(
        ForeignKey("students.student_id", ondelete="CASCADE"), nullable=False
    )
    session_number: Mapped[int] = mapped_column(Integer, nullable=False)
    scheduled_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actual_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    subject: Mapped[str] = mapped_column(String(100), nullable=False)
    session_type: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    tutor_initiated_reschedule: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    no_show: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    late_start_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    engagement_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    student_rating: Mapped[float | None] = mapped_column(Float, nullable=True)
    student_feedback_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    learning_objectives_met: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    technical_issues: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    __table_args__ = (
        CheckConstraint(
            "status IN ('scheduled', 'completed', 'no_show', 'cancelled')", name="status"
        ),
        CheckConstraint("session_type IN ('1-on-1', 'group')", name="session_type"),
        CheckConstraint("session_number >= 1", name="session_number"),
        CheckConstraint("source IN ('synthetic', 'real')", name="source"),
        Index("ix_sessions_tutor_time", "tutor_id", "scheduled_start"),
        Index("ix_sessions_student_tutor", "student_id", "tutor_id"),
        Index("ix_sessions_scheduled_start", "scheduled_start"),
    )


class StudentFeedback(IngestedMixin, Base):
    __tablename__ = "student_feedback"

    feedback_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.session_id", ondelete="CASCADE"), nullable=False, unique=True
    )
    student_id: Mapped[str] = mapped_column(
        ForeignKey("students.student_id", ondelete="CASCADE"), nullable=False
    )
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    overall_rating: Mapped[int] = mapped_column(Integer, nullable=False)
    is_first_session: Mapped[bool] = mapped_column(Boolean, nullable=False)
    subject_knowledge_rating: Mapped[int] = mapped_column(Integer, nullable=False)
    communication_rating: Mapped[int] = mapped_column(Integer, nullable=False)
    patience_rating: Mapped[int] = mapped_column(Integer, nullable=False)
    engagement_rating: Mapped[int] = mapped_column(Integer, nullable=False)
    helpfulness_rating: Mapped[int] = mapped_column(Integer, nullable=False)
    would_recommend: Mapped[bool] = mapped_column(Boolean, nullable=False)
    would_work_again: Mapped[str | None] = mapped_column(String(16), nullable=True)
    improvement_areas: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    free_text_feedback: Mapped[str | None] = mapped_column(String(500), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        CheckConstraint("overall_rating BETWEEN 1 AND 5", name="overall_rating"),
        CheckConstraint("source IN ('synthetic', 'real')", name="source"),
        Index("ix_student_feedback_tutor_time", "tutor_id", "submitted_at"),
    )


class TutorEvent(IngestedMixin, Base):
    __tablename__ = "tutor_events"

    event_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    event_timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # "metadata" is reserved on declarative classes, hence the attribute name.
    event_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False)

    __table_args__ = (
        CheckConstraint("source IN ('synthetic', 'real')", name="source"),
        Index("ix_tutor_events_tutor_time", "tutor_id", "event_timestamp"),
        Index("ix_tutor_events_type_time", "event_type", "event_timestamp"),
    )
