"""The API behind four Uvicorn worker processes on PostgreSQL (issue 10).

``tutorpulse serve --workers 4`` runs as a real subprocess on a private schema with Redis:
concurrent imports are each stored once, authenticated reads agree whichever worker answers,
the dashboard aggregates are shared through Redis, and a re-sent import stores nothing twice.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tutorpulse.auth import service as auth_service
from tutorpulse.auth.models import User
from tutorpulse.clock import SystemClock
from tutorpulse.ingest.models import IngestBatch
from tutorpulse.ingest.rows import TABLES
from tutorpulse.pipeline.service import run_pipeline
from tutorpulse.realtime.broker import CACHE_PREFIX, namespace_for

from ..conftest import NOW, _postgres_engine, service_url
from .helpers import session, student, tutor

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
TOKEN = "workers-test-ingest-token-0123456789"
WORKERS = 4


@pytest.fixture(scope="module")
def schema_engine() -> Iterator[Engine]:
    yield from _postgres_engine()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):  # a deadline, not a timing assertion: start-up on a loaded machine
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            if client.get("/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.2)
    raise AssertionError("server did not start")


@pytest.fixture
def server(
    schema_engine: Engine, redis_url: str, tmp_path: Path
) -> Iterator[tuple[httpx.Client, str]]:
    with schema_engine.connect() as connection:
        schema = connection.scalar(text("SELECT current_schema()"))
    base = make_url(service_url("TUTORPULSE_TEST_POSTGRES_URL", "PostgreSQL"))
    database_url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    database = database_url.render_as_string(hide_password=False)
    port = _free_port()
    env = os.environ | {
        "TUTORPULSE_ENV": "test",
        "TUTORPULSE_DATABASE_URL": database,
        "TUTORPULSE_REDIS_URL": redis_url,
        "TUTORPULSE_INGEST_TOKEN": TOKEN,
        "TUTORPULSE_DATA_DIR": str(tmp_path),
    }
    # The default (test) secret key, like this process: both read the encrypted PII columns.
    env.pop("TUTORPULSE_SECRET_KEY", None)
    cli = Path(sys.executable).with_name("tutorpulse")
    command = [str(cli), "serve", "--workers", str(WORKERS), "--port", str(port)]
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        _wait_for(client, process)
        yield client, database
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _manager_token(engine: Engine) -> str:
    with Session(engine) as db:
        user = User(email="workers@example.org", display_name="W", role="ops_manager")
        user.is_active = True
        db.add(user)
        db.flush()
        # The server runs on wall time (SystemClock), so the session must be valid now.
        token, _ = auth_service.start_session(
            db,
            user=user,
            method="test",
            ip="127.0.0.1",
            now=SystemClock().now(),
            lifetime=timedelta(hours=1),
        )
        db.commit()
    return token


def _post(client: httpx.Client, kind: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/ingest/{kind}", json=records, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_api_under_four_workers(
    server: tuple[httpx.Client, str], schema_engine: Engine, redis_url: str
) -> None:
    client, database = server
    tutors = [tutor(f"w-t{i}") for i in range(8)]
    students = [student(f"w-s{i}") for i in range(8)]
    sessions = [
        session(f"w-x{i}", tutor_id=f"w-t{i % 8}", student_id=f"w-s{i % 8}") for i in range(80)
    ]
    assert _post(client, "tutors", tutors)["inserted"] == 8
    assert _post(client, "students", students)["inserted"] == 8
    chunks = [sessions[i : i + 10] for i in range(0, len(sessions), 10)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent requests, all workers busy
        results = list(pool.map(lambda chunk: _post(client, "sessions", chunk), chunks))
    assert sum(r["inserted"] for r in results) == 80
    assert len({r["batch_id"] for r in results}) == len(chunks)  # one batch per request
    with ThreadPoolExecutor(max_workers=8) as pool:  # the same again: nothing stored twice
        again = list(pool.map(lambda chunk: _post(client, "sessions", chunk), chunks))
    assert sum(r["inserted"] for r in again) == 0
    assert sum(r["unchanged"] for r in again) == 80
    with schema_engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(TABLES["sessions"]))
        batches = connection.scalar(select(func.count()).select_from(IngestBatch))
    assert stored == 80
    assert batches == 2 + 2 * len(chunks)

    headers = {"Authorization": f"Bearer {_manager_token(schema_engine)}"}
    before = client.get("/api/v1/tutors", headers=headers)
    assert before.status_code == 200 and before.json()["total"] == 0  # nothing computed yet
    with Session(schema_engine) as db:  # a pipeline run: a new data version for every worker
        run_pipeline(db, as_of=date(2025, 2, 3), now=NOW)
        db.commit()
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(lambda _: client.get("/api/v1/tutors", headers=headers), range(16)))
        kpis = list(pool.map(lambda _: client.get("/api/v1/kpis", headers=headers), range(16)))
    assert all(p.status_code == 200 for p in pages + kpis)
    assert len({p.text for p in pages}) == 1 and len({k.text for k in kpis}) == 1
    assert pages[0].json()["total"] == 8
    assert client.get("/api/v1/tutors", headers={}).status_code == 401
    profile = client.get("/api/v1/tutors/w-t3", headers=headers)
    assert profile.status_code == 200 and profile.json()["tutor"]["tutor_id"] == "w-t3"
    ready = client.get("/readyz").json()
    assert ready["checks"] == {"database": "ok", "redis": "ok"}
    # The workers share their aggregates through Redis, under this database's namespace.
    shared = redis.Redis.from_url(redis_url)
    try:
        keys = shared.keys(f"{CACHE_PREFIX}{namespace_for(database)}:*")
    finally:
        shared.close()
    assert keys
