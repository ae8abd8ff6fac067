"""metrics and interventions: flags, tier history, alerts, notifications, richer interventions

Churn predictions become unique per tutor, day and score source (rules and model side by side).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tutor_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("flag_type", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("last_seen_on", sa.Date(), nullable=False),
        sa.Column("cleared_on", sa.Date(), nullable=True),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_tutor_flags_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tutor_flags")),
    )
    op.create_index(
        "ix_tutor_flags_tutor_type", "tutor_flags", ["tutor_id", "flag_type", "cleared_on"]
    )
    op.create_index("ix_tutor_flags_open", "tutor_flags", ["cleared_on", "flag_type"])
    op.create_table(
        "tier_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("changed_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_tier", sa.String(length=32), nullable=True),
        sa.Column("to_tier", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_tier_changes_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_changes")),
        sa.UniqueConstraint("tutor_id", "changed_on", "kind", name="uq_tier_change_day"),
    )
    op.create_index("ix_tier_changes_tutor_day", "tier_changes", ["tutor_id", "changed_on"])
    with op.batch_alter_table("churn_predictions") as batch:
        batch.drop_constraint("uq_prediction_day", type_="unique")
        batch.create_unique_constraint(
            "uq_prediction_day_source", ["tutor_id", "prediction_date", "score_source"]
        )

    with op.batch_alter_table("interventions") as batch:
        batch.add_column(
            sa.Column("subject_key", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("mode", sa.String(length=16), nullable=False, server_default="human")
        )
        batch.add_column(sa.Column("last_triggered_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("owner_role", sa.String(length=16)))
        batch.add_column(
            sa.Column("holdout", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("variant", sa.String(length=32)))
        batch.add_column(sa.Column("rule_version", sa.String(length=16)))
        batch.add_column(sa.Column("risk_level", sa.String(length=16)))
        batch.add_column(sa.Column("churn_score", sa.Integer()))
        batch.add_column(sa.Column("acted_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("closed_reason", sa.String(length=32)))
        batch.add_column(sa.Column("parent_id", sa.Integer()))
        batch.create_foreign_key(
            "fk_interventions_parent_id_interventions",
            "interventions",
            ["parent_id"],
            ["intervention_id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_interventions_status_due", ["status", "due_date"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dismiss_reason", sa.String(length=32), nullable=True),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("intervention_id", sa.Integer(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_alerts_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_alerts_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["intervention_id"],
            ["interventions.intervention_id"],
            name=op.f("fk_alerts_intervention_id_interventions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_status_rule", "alerts", ["status", "rule"])
    op.create_index("ix_alerts_tutor_rule", "alerts", ["tutor_id", "rule", "status"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient_user_id", sa.Integer(), nullable=True),
        sa.Column("recipient_role", sa.String(length=16), nullable=True),
        sa.Column("tutor_id", sa.String(length=64), nullable=True),
        sa.Column("intervention_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_user_id"],
            ["users.id"],
            name=op.f("fk_notifications_recipient_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_notifications_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["intervention_id"],
            ["interventions.intervention_id"],
            name=op.f("fk_notifications_intervention_id_interventions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_user_read", "notifications", ["recipient_user_id", "read_at"])
    op.create_index("ix_notifications_tutor", "notifications", ["tutor_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_tutor", table_name="notifications")
    op.drop_index("ix_notifications_user_read", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_alerts_tutor_rule", table_name="alerts")
    op.drop_index("ix_alerts_status_rule", table_name="alerts")
    op.drop_table("alerts")
    with op.batch_alter_table("interventions") as batch:
        batch.drop_index("ix_interventions_status_due")
        batch.drop_constraint("fk_interventions_parent_id_interventions", type_="foreignkey")
        for column in (
            "parent_id",
            "closed_reason",
            "escalated_at",
            "acted_at",
            "churn_score",
            "risk_level",
            "rule_version",
            "variant",
            "holdout",
            "owner_role",
            "last_triggered_at",
            "mode",
            "subject_key",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("churn_predictions") as batch:
        batch.drop_constraint("uq_prediction_day_source", type_="unique")
        batch.create_unique_constraint("uq_prediction_day", ["tutor_id", "prediction_date"])
    op.drop_index("ix_tier_changes_tutor_day", table_name="tier_changes")
    op.drop_table("tier_changes")
    op.drop_index("ix_tutor_flags_open", table_name="tutor_flags")
    op.drop_index("ix_tutor_flags_tutor_type", table_name="tutor_flags")
    op.drop_table("tutor_flags")
