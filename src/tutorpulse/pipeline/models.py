"""How a full recompute learns which tutors were recomputed incrementally while it ran."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from tutorpulse.db.base import Base


class IncrementalRecompute(Base):
    """A counter per tutor, raised by every dirty micro-batch that recomputes the tutor.

    A full run reads the counters before it reads its data; a counter that moved by the time
    it writes means a micro-batch committed fresher figures meanwhile, so the full run marks
    that tutor dirty again instead of leaving its own, older figures last.
    """

    __tablename__ = "pipeline_incremental_recomputes"

    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), primary_key=True
    )
    recomputes: Mapped[int] = mapped_column(BigInteger, nullable=False)
