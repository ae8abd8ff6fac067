"""Shared fixtures: real SQLite and PostgreSQL backends, Redis, and the no-silent-skip rule.

Under ``CI=true`` a test that needs PostgreSQL, Redis or the browser must run: a missing
service fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tutorpulse.db.engine import make_engine
from tutorpulse.db.migrate import upgrade

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "examples" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SERVICE_MARKERS = ("postgres", "redis", "browser")
IN_CI = os.environ.get("CI", "").lower() == "true"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def service_url(env_var: str, what: str) -> str:
    url = os.environ.get(env_var)
    if not url:
        message = f"{what} not configured: set {env_var}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: service tests may not be skipped)")
        pytest.skip(message)
    return url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and any(item.get_closest_marker(m) for m in SERVICE_MARKERS):
        report.outcome = "failed"
        report.longrepr = f"skipped a service test under CI=true: {report.longrepr}"


def _postgres_engine() -> Iterator[Engine]:
    base_url = service_url("TUTORPULSE_TEST_POSTGRES_URL", "PostgreSQL")
    schema = f"tp_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(base_url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _sqlite_engine(tmp_dir: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_dir / 'test.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from _sqlite_engine(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    yield from _postgres_engine()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def engine(request: pytest.FixtureRequest) -> Engine:
    """Every database test runs on both backends."""
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    resolved: Engine = request.getfixturevalue(name)
    return resolved


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test.

    Code under test may call ``commit()``: with ``create_savepoint`` that only releases a
    savepoint, so nothing outlives the test.
    """
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def redis_url() -> str:
    return service_url("TUTORPULSE_TEST_REDIS_URL", "Redis")
