"""dashboard: managers' notes on tutors and tutors' own goals

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # New tables only: plain CREATE TABLE on SQLite and PostgreSQL alike.
    op.create_table(
        "tutor_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("author_label", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_tutor_notes_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_tutor_notes_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tutor_notes")),
    )
    op.create_index("ix_tutor_notes_tutor_time", "tutor_notes", ["tutor_id", "created_at"])
    op.create_table(
        "tutor_goals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "key IN ('avg_rating', 'on_time', 'first_sessions')", name=op.f("ck_tutor_goals_key")
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_tutor_goals_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tutor_goals")),
    )
    op.create_index("ix_tutor_goals_tutor_key", "tutor_goals", ["tutor_id", "key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_tutor_goals_tutor_key", table_name="tutor_goals")
    op.drop_table("tutor_goals")
    op.drop_index("ix_tutor_notes_tutor_time", table_name="tutor_notes")
    op.drop_table("tutor_notes")
