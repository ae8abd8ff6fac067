"""Per-tutor windowed performance metrics (PRD tutor_performance_metrics)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tutorpulse.db.base import Base, TimestampMixin
from tutorpulse.db.types import JSONType


class TutorPerformanceMetric(TimestampMixin, Base):
    __tablename__ = "tutor_performance_metrics"

    metric_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    window_days: Mapped[int] = mapped_column(Integer, nullable=False)
    sessions_completed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    avg_rating: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_session_success_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    reschedule_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    no_show_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    no_show_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    engagement_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    learning_objectives_met_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    response_time_avg_minutes: Mapped[float | None] = mapped_column(Float, nullable=True)
    performance_tier: Mapped[str | None] = mapped_column(String(32), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # The window's sample sizes and the tutor's churn state as plain columns (also in
    # ``details``), so that the dashboard KPIs are SQL sums over one narrow index instead of
    # reading every tutor's JSON document (seconds on 10x data, after every write).
    sessions_due: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_rated: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_successes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The churn date of the tutor's current activity spell (DESIGN §5) when the tutor is
    # churned as of ``calculation_date``; NULL while active.
    churned_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    churn_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)

    __table_args__ = (
        UniqueConstraint("tutor_id", "calculation_date", "window_days", name="uq_metric_window"),
        Index("ix_metrics_date_window", "calculation_date", "window_days"),
        # Covering index of the KPI sums: answered from the index alone on SQLite.
        Index(
            "ix_metrics_kpi",
            "calculation_date",
            "window_days",
            "churned_on",
            "sessions_due",
            "no_show_count",
            "first_rated",
            "first_successes",
            "tutor_id",
        ),
    )


class TutorFlag(TimestampMixin, Base):
    """A red flag or retention pattern: when it was raised, on what evidence, when it cleared."""

    __tablename__ = "tutor_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    flag_type: Mapped[str] = mapped_column(String(40), nullable=False)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    raised_on: Mapped[date] = mapped_column(Date, nullable=False)
    last_seen_on: Mapped[date] = mapped_column(Date, nullable=False)
    cleared_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_tutor_flags_tutor_type", "tutor_id", "flag_type", "cleared_on"),
        Index("ix_tutor_flags_open", "cleared_on", "flag_type"),
    )


class TierChange(Base):
    """Tier history: every change with its reason, and the monthly review of each tutor."""

    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    changed_on: Mapped[date] = mapped_column(Date, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    from_tier: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_tier: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)

    __table_args__ = (
        UniqueConstraint("tutor_id", "changed_on", "kind", name="uq_tier_change_day"),
        Index("ix_tier_changes_tutor_day", "tutor_id", "changed_on"),
    )
