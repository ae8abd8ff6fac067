"""dashboard: covering indexes for the at-risk count and the alert queue's order

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 13:20:00

``ix_metrics_kpi`` gains ``tutor_id`` (the at-risk count leaves out tutors who have churned,
read from the index alone); ``ix_predictions_tutor_day_score`` lets the alert queue order
by each tutor's newest score without reading the predictions' JSON factors.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KPI_COLUMNS = [
    "calculation_date",
    "window_days",
    "churned_on",
    "sessions_due",
    "no_show_count",
    "first_rated",
    "first_successes",
]


def upgrade() -> None:
    op.drop_index("ix_metrics_kpi", table_name="tutor_performance_metrics")
    op.create_index("ix_metrics_kpi", "tutor_performance_metrics", [*KPI_COLUMNS, "tutor_id"])
    op.create_index(
        "ix_predictions_tutor_day_score",
        "churn_predictions",
        ["tutor_id", "prediction_date", "score_source", "churn_score", "risk_level"],
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_tutor_day_score", table_name="churn_predictions")
    op.drop_index("ix_metrics_kpi", table_name="tutor_performance_metrics")
    op.create_index("ix_metrics_kpi", "tutor_performance_metrics", KPI_COLUMNS)
