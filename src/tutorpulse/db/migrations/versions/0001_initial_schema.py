"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 09:40:53.747838
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column(
            "scopes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "counts", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_batches")),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("model_kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("artifact_path", sa.String(length=500), nullable=False),
        sa.Column("data_start", sa.Date(), nullable=True),
        sa.Column("data_end", sa.Date(), nullable=True),
        sa.Column(
            "features", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "metrics", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_model_versions_version")),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_model_versions_kind_status", ["model_kind", "status"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_undelivered", ["delivered_at", "id"], unique=False)

    op.create_table(
        "students",
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("age", sa.Integer(), nullable=False),
        sa.Column("grade_level", sa.String(length=32), nullable=False),
        sa.Column(
            "subjects_interested",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("extra", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("source IN ('synthetic', 'real')", name=op.f("ck_students_source")),
        sa.PrimaryKeyConstraint("student_id", name=op.f("pk_students")),
    )
    op.create_table(
        "tutors",
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("onboarding_date", sa.Date(), nullable=False),
        sa.Column(
            "subjects", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("education_level", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("baseline_sessions_per_week", sa.Float(), nullable=False),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("behavioral_archetype", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("extra", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("source IN ('synthetic', 'real')", name=op.f("ck_tutors_source")),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'churned')", name=op.f("ck_tutors_status")
        ),
        sa.PrimaryKeyConstraint("tutor_id", name=op.f("pk_tutors")),
    )
    with op.batch_alter_table("tutors", schema=None) as batch_op:
        batch_op.create_index("ix_tutors_onboarding_date", ["onboarding_date"], unique=False)

    op.create_table(
        "churn_predictions",
        sa.Column("prediction_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("prediction_date", sa.Date(), nullable=False),
        sa.Column("churn_score", sa.Integer(), nullable=False),
        sa.Column("risk_level", sa.String(length=16), nullable=False),
        sa.Column("score_source", sa.String(length=16), nullable=False),
        sa.Column("window_1day_probability", sa.Float(), nullable=True),
        sa.Column("window_7day_probability", sa.Float(), nullable=True),
        sa.Column("window_30day_probability", sa.Float(), nullable=True),
        sa.Column("window_90day_probability", sa.Float(), nullable=True),
        sa.Column(
            "contributing_factors",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_churn_predictions_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prediction_id", name=op.f("pk_churn_predictions")),
        sa.UniqueConstraint("tutor_id", "prediction_date", name="uq_prediction_day"),
    )
    with op.batch_alter_table("churn_predictions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_predictions_date_score", ["prediction_date", "churn_score"], unique=False
        )

    op.create_table(
        "dirty_tutors",
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_dirty_tutors_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tutor_id", name=op.f("pk_dirty_tutors")),
    )
    op.create_table(
        "ingest_rejects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("file", sa.String(length=500), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.String(length=200), nullable=True),
        sa.Column("field", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
            name=op.f("fk_ingest_rejects_batch_id_ingest_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_rejects")),
    )
    with op.batch_alter_table("ingest_rejects", schema=None) as batch_op:
        batch_op.create_index("ix_ingest_rejects_batch", ["batch_id", "kind"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("session_number", sa.Integer(), nullable=False),
        sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actual_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("session_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tutor_initiated_reschedule", sa.Boolean(), nullable=True),
        sa.Column("no_show", sa.Boolean(), nullable=True),
        sa.Column("late_start_minutes", sa.Integer(), nullable=True),
        sa.Column("engagement_score", sa.Float(), nullable=True),
        sa.Column("student_rating", sa.Float(), nullable=True),
        sa.Column("student_feedback_text", sa.Text(), nullable=True),
        sa.Column("learning_objectives_met", sa.Boolean(), nullable=True),
        sa.Column("technical_issues", sa.Boolean(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("extra", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "session_type IN ('1-on-1', 'group')", name=op.f("ck_sessions_session_type")
        ),
        sa.CheckConstraint("source IN ('synthetic', 'real')", name=op.f("ck_sessions_source")),
        sa.CheckConstraint(
            "status IN ('scheduled', 'completed', 'no_show', 'cancelled')",
            name=op.f("ck_sessions_status"),
        ),
        sa.CheckConstraint("session_number >= 1", name=op.f("ck_sessions_session_number")),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.student_id"],
            name=op.f("fk_sessions_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_sessions_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index("ix_sessions_scheduled_start", ["scheduled_start"], unique=False)
        batch_op.create_index("ix_sessions_student_tutor", ["student_id", "tutor_id"], unique=False)
        batch_op.create_index(
            "ix_sessions_tutor_time", ["tutor_id", "scheduled_start"], unique=False
        )

    op.create_table(
        "tutor_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("event_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("extra", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("source IN ('synthetic', 'real')", name=op.f("ck_tutor_events_source")),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_tutor_events_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_tutor_events")),
    )
    with op.batch_alter_table("tutor_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tutor_events_tutor_time", ["tutor_id", "event_timestamp"], unique=False
        )
        batch_op.create_index(
            "ix_tutor_events_type_time", ["event_type", "event_timestamp"], unique=False
        )

    op.create_table(
        "tutor_performance_metrics",
        sa.Column("metric_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("calculation_date", sa.Date(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("sessions_completed", sa.Integer(), nullable=False),
        sa.Column("avg_rating", sa.Float(), nullable=True),
        sa.Column("first_session_success_rate", sa.Float(), nullable=True),
        sa.Column("reschedule_rate", sa.Float(), nullable=True),
        sa.Column("no_show_count", sa.Integer(), nullable=False),
        sa.Column("no_show_rate", sa.Float(), nullable=True),
        sa.Column("engagement_score", sa.Float(), nullable=True),
        sa.Column("learning_objectives_met_pct", sa.Float(), nullable=True),
        sa.Column("response_time_avg_minutes", sa.Float(), nullable=True),
        sa.Column("performance_tier", sa.String(length=32), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_tutor_performance_metrics_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("metric_id", name=op.f("pk_tutor_performance_metrics")),
        sa.UniqueConstraint("tutor_id", "calculation_date", "window_days", name="uq_metric_window"),
    )
    with op.batch_alter_table("tutor_performance_metrics", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metrics_date_window", ["calculation_date", "window_days"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=True),
        sa.Column("student_id", sa.String(length=64), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'ops_manager', 'people_ops', 'tutor', 'student')",
            name=op.f("ck_users_role"),
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.student_id"],
            name=op.f("fk_users_student_id_students"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_users_tutor_id_tutors"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.String(length=200), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_actor", ["actor_user_id", "at"], unique=False)
        batch_op.create_index("ix_audit_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_target", ["target_type", "target_id"], unique=False)

    op.create_table(
        "interventions",
        sa.Column("intervention_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("intervention_type", sa.String(length=32), nullable=False),
        sa.Column("trigger_reason", sa.Text(), nullable=False),
        sa.Column(
            "evidence", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("recommended_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_to", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"],
            ["users.id"],
            name=op.f("fk_interventions_assigned_to_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_interventions_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("intervention_id", name=op.f("pk_interventions")),
    )
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interventions_assignee_status", ["assigned_to", "status"], unique=False
        )
        batch_op.create_index(
            "ix_interventions_tutor_type_status",
            ["tutor_id", "intervention_type", "status"],
            unique=False,
        )

    op.create_table(
        "student_feedback",
        sa.Column("feedback_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("tutor_id", sa.String(length=64), nullable=False),
        sa.Column("overall_rating", sa.Integer(), nullable=False),
        sa.Column("is_first_session", sa.Boolean(), nullable=False),
        sa.Column("subject_knowledge_rating", sa.Integer(), nullable=False),
        sa.Column("communication_rating", sa.Integer(), nullable=False),
        sa.Column("patience_rating", sa.Integer(), nullable=False),
        sa.Column("engagement_rating", sa.Integer(), nullable=False),
        sa.Column("helpfulness_rating", sa.Integer(), nullable=False),
        sa.Column("would_recommend", sa.Boolean(), nullable=False),
        sa.Column("would_work_again", sa.String(length=16), nullable=True),
        sa.Column(
            "improvement_areas",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.Column("free_text_feedback", sa.String(length=500), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("extra", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "source IN ('synthetic', 'real')", name=op.f("ck_student_feedback_source")
        ),
        sa.CheckConstraint(
            "overall_rating BETWEEN 1 AND 5", name=op.f("ck_student_feedback_overall_rating")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.session_id"],
            name=op.f("fk_student_feedback_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.student_id"],
            name=op.f("fk_student_feedback_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"],
            ["tutors.tutor_id"],
            name=op.f("fk_student_feedback_tutor_id_tutors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_student_feedback")),
        sa.UniqueConstraint("session_id", name=op.f("uq_student_feedback_session_id")),
    )
    with op.batch_alter_table("student_feedback", schema=None) as batch_op:
        batch_op.create_index(
            "ix_student_feedback_tutor_time", ["tutor_id", "submitted_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("student_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_student_feedback_tutor_time")

    op.drop_table("student_feedback")
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.drop_index("ix_interventions_tutor_type_status")
        batch_op.drop_index("ix_interventions_assignee_status")

    op.drop_table("interventions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_target")
        batch_op.drop_index("ix_audit_at")
        batch_op.drop_index("ix_audit_actor")

    op.drop_table("audit_log")
    op.drop_table("users")
    with op.batch_alter_table("tutor_performance_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_metrics_date_window")

    op.drop_table("tutor_performance_metrics")
    with op.batch_alter_table("tutor_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tutor_events_type_time")
        batch_op.drop_index("ix_tutor_events_tutor_time")

    op.drop_table("tutor_events")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_tutor_time")
        batch_op.drop_index("ix_sessions_student_tutor")
        batch_op.drop_index("ix_sessions_scheduled_start")

    op.drop_table("sessions")
    with op.batch_alter_table("ingest_rejects", schema=None) as batch_op:
        batch_op.drop_index("ix_ingest_rejects_batch")

    op.drop_table("ingest_rejects")
    op.drop_table("dirty_tutors")
    with op.batch_alter_table("churn_predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_date_score")

    op.drop_table("churn_predictions")
    with op.batch_alter_table("tutors", schema=None) as batch_op:
        batch_op.drop_index("ix_tutors_onboarding_date")

    op.drop_table("tutors")
    op.drop_table("students")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_undelivered")

    op.drop_table("outbox")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_model_versions_kind_status")

    op.drop_table("model_versions")
    op.drop_table("ingest_batches")
    op.drop_table("api_tokens")
