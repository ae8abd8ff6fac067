"""Change propagation: the outbox (delivered after commit) and the dirty-tutor queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tutorpulse.db.base import Base
from tutorpulse.db.types import JSONType, UTCDateTime


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_outbox_undelivered", "delivered_at", "id"),)


class DirtyTutor(Base):
    """A tutor whose derived data (metrics, scores) must be recomputed."""

    __tablename__ = "dirty_tutors"

    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), primary_key=True
    )
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
