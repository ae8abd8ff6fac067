"""risk overrides: an ops manager's risk level beside the model's, with reason and expiry

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new table only: plain CREATE TABLE works on SQLite and PostgreSQL alike (no batch
    # mode needed, nothing existing is altered).
    op.create_table(
        "risk_overrides",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("risk_level", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("model_score", sa.Integer(), nullable=True),
        sa.Column("model_risk_level", sa.String(length=16), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "risk_level IN ('Low', 'Medium', 'High', 'Critical')",
            name=op.f("ck_risk_overrides_risk_level"),
        ),
        sa.CheckConstraint(
            "expires_at > starts_at", name=op.f("ck_risk_overrides_expiry_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_risk_overrides_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_overrides")),
    )
    op.create_index("ix_risk_overrides_tutor_expiry", "risk_overrides", ["tutor_id", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_risk_overrides_tutor_expiry", table_name="risk_overrides")
    op.drop_table("risk_overrides")
