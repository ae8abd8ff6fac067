"""pipeline: per-tutor counter of incremental recomputes (full runs overlap micro-batches)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 16:10:00

The pipeline worker runs its scheduled full recompute beside the dirty-tutor micro-batches.
A micro-batch raises its tutors' counters; a full run compares them with what it saw before
reading its data and marks the tutors whose counter moved dirty again (issue #10).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pipeline_incremental_recomputes",
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("recomputes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_pipeline_incremental_recomputes_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tutor_id", name=op.f("pk_pipeline_incremental_recomputes")),
    )


def downgrade() -> None:
    op.drop_table("pipeline_incremental_recomputes")
