"""Interventions: automated nudges and human-reviewed tasks (PRD Component 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tutorpulse.db.base import Base, TimestampMixin
from tutorpulse.db.types import JSONType, UTCDateTime


class Intervention(TimestampMixin, Base):
    __tablename__ = "interventions"

    intervention_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    intervention_type: Mapped[str] = mapped_column(String(32), nullable=False)
    trigger_reason: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    recommended_date: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    assigned_to: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_interventions_tutor_type_status", "tutor_id", "intervention_type", "status"),
        Index("ix_interventions_assignee_status", "assigned_to", "status"),
    )
