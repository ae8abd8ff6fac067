"""Backup and restore round trips on SQLite and on a throwaway PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tutorpulse.db.backup import backup, default_backup_path, restore
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade
from tutorpulse.errors import TutorpulseError

from ..conftest import SAMPLE_DIR, service_url
from .helpers import run_import, table_checksums


def _load_sample(engine: Engine) -> dict[str, tuple[int, str]]:
    upgrade(engine)
    with make_session_factory(engine)() as db:
        run_import(db, SAMPLE_DIR)
        db.commit()
        return table_checksums(db)


def _checksums(engine: Engine) -> dict[str, tuple[int, str]]:
    with Session(engine) as db:
        return table_checksums(db)


def _wipe(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM student_feedback"))
        connection.execute(text("DELETE FROM sessions"))


def test_sqlite_round_trip(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    before = _load_sample(engine)
    target = default_backup_path(tmp_path, engine, datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert target.name == "tutorpulse-20250102T030405Z.db"
    backup(engine, out=target)
    with pytest.raises(TutorpulseError, match="already exists"):
        backup(engine, out=target)
    _wipe(engine)
    assert _checksums(engine) != before
    restore(engine, source=target)
    assert _checksums(make_engine(f"sqlite:///{tmp_path / 'live.db'}")) == before


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    upgrade(engine)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    with pytest.raises(TutorpulseError, match="not a SQLite backup"):
        restore(engine, source=junk)
    with pytest.raises(TutorpulseError, match="not found"):
        restore(engine, source=tmp_path / "missing.db")


@pytest.fixture
def throwaway_database() -> Iterator[str]:
    base = make_url(service_url("TUTORPULSE_TEST_POSTGRES_URL", "PostgreSQL"))
    name = f"tp_backup_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_postgresql_round_trip(throwaway_database: str, tmp_path: Path) -> None:
    assert os.environ.get("TUTORPULSE_TEST_POSTGRES_URL")
    engine = make_engine(throwaway_database)
    before = _load_sample(engine)
    target = backup(engine, out=tmp_path / "pg.dump")
    _wipe(engine)
    restore(engine, source=target)
    assert _checksums(engine) == before
    engine.dispose()
