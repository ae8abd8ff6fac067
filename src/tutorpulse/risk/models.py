"""Churn predictions and the model registry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tutorpulse.db.base import Base, TimestampMixin
from tutorpulse.db.types import JSONType, UTCDateTime


class ChurnPrediction(TimestampMixin, Base):
    __tablename__ = "churn_predictions"

    prediction_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    prediction_date: Mapped[date] = mapped_column(Date, nullable=False)
    churn_score: Mapped[int] = mapped_column(Integer, nullable=False)
    risk_level: Mapped[str] = mapped_column(String(16), nullable=False)
    score_source: Mapped[str] = mapped_column(String(16), nullable=False)
    window_1day_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    window_7day_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    window_30day_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    window_90day_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    contributing_factors: Mapped[dict[str, Any]] = mapped_column(
        JSONType, nullable=False, default=dict
    )
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        UniqueConstraint(
            "tutor_id", "prediction_date", "score_source", name="uq_prediction_day_source"
        ),
        Index("ix_predictions_date_score", "prediction_date", "churn_score"),
        # The dashboard's at-risk count: the day's high/critical rows without the JSON.
        Index(
            "ix_predictions_day_level",
            "prediction_date",
            "risk_level",
            "score_source",
            "tutor_id",
        ),
        # The alert queue's order (each alert's tutor's newest score) without the JSON.
        Index(
            "ix_predictions_tutor_day_score",
            "tutor_id",
            "prediction_date",
            "score_source",
            "churn_score",
            "risk_level",
        ),
    )


class ModelVersion(TimestampMixin, Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    model_kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="challenger")
    artifact_path: Mapped[str] = mapped_column(String(500), nullable=False)
    data_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    data_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    features: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_model_versions_kind_status", "model_kind", "status"),)


class RiskOverride(TimestampMixin, Base):
    """An ops manager's risk level for a tutor, shown beside the model's figures until expiry.

    The model's score and level at the time are kept so that the monthly report can compare
    the override with what the model said against what happened.
    """

    __tablename__ = "risk_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tutor_id: Mapped[str] = mapped_column(
        ForeignKey("tutors.tutor_id", ondelete="CASCADE"), nullable=False
    )
    risk_level: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    model_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model_risk_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        CheckConstraint("risk_level IN ('Low', 'Medium', 'High', 'Critical')", name="risk_level"),
        CheckConstraint("expires_at > starts_at", name="expiry_after_start"),
        Index("ix_risk_overrides_tutor_expiry", "tutor_id", "expires_at"),
    )
