"""PostgreSQL outage during ingestion and pipeline work (issue 10).

A TCP proxy stands between the app and the shared PostgreSQL server; the test cuts it in
the middle of an HTTP import and of a pipeline batch. Expected: clear 503 answers (no
traceback), retries with backoff in the worker, nothing the API reported as accepted is
missing after recovery, and re-sending the failed requests completes the import.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.engine import make_url

from tutorpulse.api.app import create_app
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.events.models import DirtyTutor
from tutorpulse.ingest.rows import TABLES
from tutorpulse.jobs.locks import FileLock
from tutorpulse.jobs.scheduler import PipelineWorker

from ..conftest import NOW, _postgres_engine, service_url
from .helpers import session, student, tutor
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres
TOKEN = "outage-test-ingest-token-0123456789"


@pytest.fixture(scope="module")
def direct() -> Iterator[Engine]:
    """A private schema on the shared server (the server itself is never touched)."""
    yield from _postgres_engine()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    url = make_url(service_url("TUTORPULSE_TEST_POSTGRES_URL", "PostgreSQL"))
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


def _through(proxy: TcpProxy, direct: Engine) -> Engine:
    with direct.connect() as connection:
        schema = connection.scalar(text("SELECT current_schema()"))
    url = make_url(service_url("TUTORPULSE_TEST_POSTGRES_URL", "PostgreSQL")).set(
        host="127.0.0.1", port=proxy.port
    )
    return make_engine(
        url.render_as_string(hide_password=False),
        connect_args={"options": f"-csearch_path={schema}", "connect_timeout": 5},
    )


def _count(direct: Engine, kind: str, ids: list[str], id_field: str) -> int:
    table = TABLES[kind]
    with direct.connect() as connection:
        return int(
            connection.scalar(
                select(func.count()).select_from(table).where(table.c[id_field].in_(ids))
            )
            or 0
        )


def _post(client: TestClient, kind: str, records: list[dict[str, Any]]) -> Any:
    return client.post(
        f"/api/v1/ingest/{kind}", json=records, headers={"Authorization": f"Bearer {TOKEN}"}
    )


def test_http_import_cut_mid_request_loses_nothing_it_accepted(
    direct: Engine, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _through(proxy, direct)
    app = create_app(
        Settings(env="test", ingest_token=TOKEN),
        session_factory=make_session_factory(engine),
        clock=FixedClock(NOW),
    )
    tutors = [tutor(f"out-t{i}") for i in range(10)]
    students = [student(f"out-s{i}") for i in range(10)]
    sessions = [
        session(f"out-x{i}", tutor_id=f"out-t{i % 10}", student_id=f"out-s{i % 10}")
        for i in range(30)
    ]
    accepted: dict[str, int] = {}
    with TestClient(app, raise_server_exceptions=False) as client:
        first = _post(client, "tutors", tutors)
        assert first.status_code == 200, first.text
        accepted["tutors"] = first.json()["inserted"]

        # Cut the connection in the middle of the next request's transaction: after its
        # first INSERT has gone to the server, before the commit.
        def cut_on_insert(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT"):
                proxy.cut()

        event.listen(engine, "before_cursor_execute", cut_on_insert)
        with caplog.at_level(logging.WARNING, logger="tutorpulse.api"):
            failed = _post(client, "students", students)
        event.remove(engine, "before_cursor_execute", cut_on_insert)
        assert failed.status_code == 503
        assert failed.headers["Retry-After"] == "5"
        assert failed.json() == {
            "detail": "database unavailable: the request was not completed; retry it later"
        }
        assert "Traceback" not in failed.text
        assert any(
            "database unavailable: POST /api/v1/ingest/students" in r.getMessage()
            for r in caplog.records
        )
        # Rolled back as a whole: not one of the students of the failed request is stored.
        assert _count(direct, "students", [s["student_id"] for s in students], "student_id") == 0
        # While the database stays unreachable, requests keep failing cleanly.
        assert _post(client, "sessions", sessions).status_code == 503

        proxy.restore()  # the database is back: re-sending completes the import
        for kind, records in (("students", students), ("sessions", sessions)):
            response = _post(client, kind, records)
            assert response.status_code == 200, response.text
            accepted[kind] = response.json()["inserted"]
        # Re-running the whole import stores nothing twice.
        for kind, records in (("tutors", tutors), ("students", students), ("sessions", sessions)):
            again = _post(client, kind, records)
            assert again.status_code == 200, again.text
            assert again.json()["inserted"] == 0
            assert again.json()["unchanged"] == len(records)
    assert accepted == {"tutors": 10, "students": 10, "sessions": 30}
    assert _count(direct, "tutors", [t["tutor_id"] for t in tutors], "tutor_id") == 10
    assert _count(direct, "students", [s["student_id"] for s in students], "student_id") == 10
    assert _count(direct, "sessions", [s["session_id"] for s in sessions], "session_id") == 30
    engine.dispose()


def _dirty(direct: Engine) -> int:
    with direct.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(DirtyTutor)) or 0)


def test_pipeline_worker_retries_with_backoff_and_recovers(
    direct: Engine, proxy: TcpProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _through(proxy, direct)
    app = create_app(
        Settings(env="test", ingest_token=TOKEN),
        session_factory=make_session_factory(engine),
        clock=FixedClock(NOW),
    )
    with TestClient(app) as client:
        assert _post(client, "tutors", [tutor("retry-t1"), tutor("retry-t2")]).status_code == 200
        assert _post(client, "students", [student("retry-s1")]).status_code == 200
        sessions = [
            session("retry-x1", tutor_id="retry-t1", student_id="retry-s1"),
            session("retry-x2", tutor_id="retry-t2", student_id="retry-s1"),
        ]
        assert _post(client, "sessions", sessions).status_code == 200
    queued = _dirty(direct)
    assert queued >= 2

    pauses: list[float] = []

    def pause_then_recover(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:  # the database comes back during the second pause
            proxy.restore()

    worker = PipelineWorker(
        session_factory=make_session_factory(engine),
        clock=FixedClock(NOW),
        lock=FileLock(tmp_path / "scheduler.lock"),
        jobs=[],
        retry_delays=(0.5, 1.0, 2.0, 4.0),
        pause=pause_then_recover,
    )
    proxy.cut()
    with caplog.at_level(logging.WARNING, logger="tutorpulse.jobs"):
        done = worker.run_once()
    assert pauses == [0.5, 1.0]  # exponential backoff, stopped by the recovery
    assert done["dirty"] == queued
    assert _dirty(direct) == 0
    retries = [r.getMessage() for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(retries) == 2 and "retry 1 in 0.5 s" in retries[0]
    engine.dispose()


def test_pipeline_worker_gives_up_clearly_and_keeps_the_queue(
    direct: Engine, proxy: TcpProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _through(proxy, direct)
    app = create_app(
        Settings(env="test", ingest_token=TOKEN),
        session_factory=make_session_factory(engine),
        clock=FixedClock(NOW),
    )
    with TestClient(app) as client:
        assert _post(client, "tutors", [tutor("gone-t1")]).status_code == 200
        assert _post(client, "students", [student("gone-s1")]).status_code == 200
        one = session("gone-x1", tutor_id="gone-t1", student_id="gone-s1")
        assert _post(client, "sessions", [one]).status_code == 200
    queued = _dirty(direct)
    assert queued >= 1
    pauses: list[float] = []
    worker = PipelineWorker(
        session_factory=make_session_factory(engine),
        clock=FixedClock(NOW),
        lock=FileLock(tmp_path / "scheduler.lock"),
        jobs=[],
        retry_delays=(0.5, 1.0, 2.0),
        pause=pauses.append,
    )
    proxy.cut()
    with caplog.at_level(logging.WARNING, logger="tutorpulse.jobs"):
        assert worker.run_once()["dirty"] is None
    assert pauses == [0.5, 1.0, 2.0]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("job dirty gave up after 4 attempts: database unavailable")
    assert _dirty(direct) == queued  # nothing was lost: the marks wait for the next run
    proxy.restore()
    assert worker.run_once()["dirty"] == queued
    assert _dirty(direct) == 0
    engine.dispose()
