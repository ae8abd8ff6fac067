"""Migrations: round trip on both backends, and the models match the migrated schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from tutorpulse.db.migrate import current_revision, downgrade, head_revision, upgrade
from tutorpulse.db.models import Base


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_is_at_head_and_tables_exist(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    expected = {"tutors", "students", "sessions", "student_feedback", "tutor_events"}
    expected |= {"tutor_performance_metrics", "churn_predictions", "interventions", "users"}
    expected |= {"audit_log", "ingest_batches", "ingest_rejects", "outbox", "model_versions"}
    assert expected <= tables


def test_downgrade_and_upgrade_again(tmp_path: object) -> None:
    from pathlib import Path

    from tutorpulse.db.engine import make_engine

    assert isinstance(tmp_path, Path)
    engine = make_engine(f"sqlite:///{tmp_path / 'roundtrip.db'}")
    upgrade(engine)
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert "tutors" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
