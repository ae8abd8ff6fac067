"""metrics: sample sizes and churn state as columns, covering indexes for the dashboard KPIs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 13:30:00

Rows computed before this revision get the figures from their ``details`` document; their
churn state is the inactivity rule only (15 days without a held session), which is what
the dashboard counted from those rows. The next pipeline run writes the full state.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "tutor_performance_metrics"
INDEX_COLUMNS = [
    "calculation_date",
    "window_days",
    "churned_on",
    "sessions_due",
    "no_show_count",
    "first_rated",
    "first_successes",
]


def _backfill() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":

        def number(*path: str) -> str:
            return f"(details #>> '{{{','.join(path)}}}')::float"

        idle = (
            f"COALESCE({number('overall', 'days_since_last_session')}, "
            f"{number('overall', 'tenure_days')})"
        )
        churned = f"calculation_date - (FLOOR({idle})::int - 15)"
    else:

        def number(*path: str) -> str:
            return f"json_extract(details, '$.{'.'.join(path)}')"

        idle = (
            f"COALESCE({number('overall', 'days_since_last_session')}, "
            f"{number('overall', 'tenure_days')})"
        )
        churned = f"date(calculation_date, '-' || (CAST({idle} AS INTEGER) - 15) || ' days')"
    rated = number("sample", "first_rated")
    op.execute(
        f"UPDATE {TABLE} SET "
        f"sessions_due = CAST({number('sample', 'due')} AS INTEGER), "
        f"first_rated = CAST({rated} AS INTEGER), "
        # The stored rate is rounded to 4 places: rate x count rounds back to the count.
        f"first_successes = CAST(ROUND(COALESCE("
        f"{number('raw', 'first_session_success_rate')}, 0) * COALESCE({rated}, 0)) AS INTEGER), "
        f"churned_on = CASE WHEN {idle} >= 15 THEN {churned} END, "
        f"churn_reason = CASE WHEN {idle} >= 15 THEN 'inactivity' END"
    )


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("sessions_due", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("first_rated", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("first_successes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("churned_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("churn_reason", sa.String(length=20), nullable=True))
    _backfill()
    op.create_index("ix_metrics_kpi", TABLE, INDEX_COLUMNS)
    op.create_index(
        "ix_predictions_day_level",
        "churn_predictions",
        ["prediction_date", "risk_level", "score_source", "tutor_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_day_level", table_name="churn_predictions")
    op.drop_index("ix_metrics_kpi", table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("churn_reason")
        batch.drop_column("churned_on")
        batch.drop_column("first_successes")
        batch.drop_column("first_rated")
        batch.drop_column("sessions_due")
