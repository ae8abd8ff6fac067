"""Interventions (automated nudges and human tasks), manager alerts and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tutorpulse.db.base import Base, TimestampMixin
from tutorpulse.db.types import JSONType, UTCDateTime

OPEN_STATUSES = ("pending", "in_progress", "holdout")
STATUSES = ("pending", "in_progress", "completed", "cancelled", "holdout", "sent")
OUTCOMES = ("improved", "no_change", "declined", "churned")


class Intervention(TimestampMixin, Base):
    """One decision of the engine for one tutor (and, for per-session rules, one session).

    Holdout decisions are recorded like the others (``holdout``) but nothing is sent or
    assigned: they are the control group that uplift is measured against.
    """

    __tablename__ = "interventions"

    intervention_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    intervention_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_key: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    mode: Mapped[str] = mapped_column(String(16), nullable=False, default="human")
    trigger_reason: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    recommended_date: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    assigned_to: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    owner_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    holdout: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    variant: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rule_version: Mapped[str | None] = mapped_column(String(16), nullable=True)
    risk_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    churn_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("interventions.intervention_id", ondelete="CASCADE"), nullable=True
    )

    __table_args__ = (
        Index("ix_interventions_tutor_type_status", "tutor_id", "intervention_type", "status"),
        Index("ix_interventions_assignee_status", "assigned_to", "status"),
        Index("ix_interventions_status_due", "status", "due_date"),
    )


class Alert(TimestampMixin, Base):
    """A manager-facing alert with its lifecycle: acknowledge, snooze, dismiss with reason."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    rule: Mapped[str] = mapped_column(String(32), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dismiss_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The end of the episode: the condition no longer holds. A new episode raises a new alert.
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    intervention_id: Mapped[int | None] = mapped_column(
        ForeignKey("interventions.intervention_id", ondelete="SET NULL"), nullable=True
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_alerts_status_rule", "status", "rule"),
        Index("ix_alerts_tutor_rule", "tutor_id", "rule", "status"),
    )


class Notification(Base):
    """A message to a person: in-app, or email (delivered through the outbox when no SMTP)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    recipient_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    recipient_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    tutor_id: Mapped[str | None] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=True
    )
    intervention_id: Mapped[int | None] = mapped_column(
        ForeignKey("interventions.intervention_id", ondelete="SET NULL"), nullable=True
    )
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_notifications_user_read", "recipient_user_id", "read_at"),
        Index("ix_notifications_tutor", "tutor_id", "created_at"),
    )
