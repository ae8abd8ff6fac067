"""Cross-process push and the shared cache (issue 10): after-commit publishing on both
backends, the dashboard cache shared through a broker, Redis pub/sub between two processes,
and the app with its Redis gone (degraded, still answering)."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.api.app import create_app
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.dashboard import service
from tutorpulse.dashboard.cache import ResultCache
from tutorpulse.dashboard.schemas import KpiResponse
from tutorpulse.events import service as events
from tutorpulse.events.models import OutboxMessage
from tutorpulse.realtime.broker import MemoryBroker, RedisBroker, namespace_for
from tutorpulse.realtime.live import Listener, LiveSignal, install_publisher

from .test_dashboard_data import NOW, SECRET, Market, as_user, market, sign_in

__all__ = ["market"]  # fixture


def _factory(db: Session) -> sessionmaker[Session]:
    return sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")


def test_commit_publishes_the_new_data_version_and_rollback_nothing(db: Session) -> None:
    broker, local = MemoryBroker(), LiveSignal()
    factory = _factory(db)
    install_publisher(factory, broker=broker, local=local.notify)
    with factory() as session:
        events.emit(session, topic="test.rolled_back", payload={}, now=NOW)
        session.flush()
        session.rollback()
    assert broker.published == []
    with factory() as session:
        first = events.emit(session, topic="test.a", payload={}, now=NOW)
        second = events.emit(session, topic="test.b", payload={}, now=NOW)
        session.commit()
        newest = max(first.id, second.id)
    assert broker.published == [newest]  # one message per commit: the newest id
    assert local.version == newest
    with factory() as session:  # a commit without outbox rows says nothing
        session.commit()
    assert broker.published == [newest]


def test_shared_cache_computes_once_per_version_across_processes(market: Market) -> None:
    db = market.db
    broker = MemoryBroker()  # stands for Redis: two caches = two web processes
    first, second = ResultCache(shared=broker), ResultCache(shared=broker)
    calls: list[int] = []

    def compute() -> KpiResponse:
        calls.append(1)
        return service.kpis(db)

    a = first.get_or_compute(db, ("kpis", 30), compute, model=KpiResponse)
    b = second.get_or_compute(db, ("kpis", 30), compute, model=KpiResponse)
    assert b == a and len(calls) == 1 and second.shared_hits == 1
    # A write moves the data version: both processes recompute (once between them).
    events.emit(db, topic="test.write", payload={}, now=NOW)
    db.flush()
    second.get_or_compute(db, ("kpis", 30), compute, model=KpiResponse)
    first.get_or_compute(db, ("kpis", 30), compute, model=KpiResponse)
    assert len(calls) == 2 and first.shared_hits == 1


def test_shared_cache_ignores_an_unreadable_entry(market: Market) -> None:
    db = market.db
    broker = MemoryBroker()
    cache = ResultCache(shared=broker)
    cache.get_or_compute(db, ("kpis", 30), lambda: service.kpis(db), model=KpiResponse)
    for key in list(broker._cache):
        broker.cache_set(key, b"{not json")
    fresh = ResultCache(shared=broker)
    result = fresh.get_or_compute(db, ("kpis", 30), lambda: service.kpis(db), model=KpiResponse)
    assert result == service.kpis(db) and fresh.misses == 1


# ------------------------------------------------------------------------- real Redis
def _wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Synchronisation with a deadline (not a timing assertion)."""
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        done.wait(0.05)
    return predicate()


PUBLISHER = """
import sys
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.events import service as events
from tutorpulse.clock import SystemClock
from tutorpulse.realtime.live import publish_commits

settings = Settings(env="test", database_url=sys.argv[1], redis_url=sys.argv[2])
factory = make_session_factory(make_engine(sys.argv[1]))
publish_commits(settings, factory)
with factory() as db:
    message = events.emit(db, topic="test.cross_process", payload={}, now=SystemClock().now())
    db.commit()
    print(message.id)
"""


@pytest.mark.redis
def test_a_commit_in_one_process_wakes_a_subscriber_in_another(
    redis_url: str, sqlite_engine: Any
) -> None:
    signal = RecordingSignal()
    subscriber = RedisBroker(redis_url, namespace=namespace_for(str(sqlite_engine.url)))
    listener = Listener(subscriber, signal)
    listener.start()
    client = redis.Redis.from_url(redis_url)
    try:
        assert _wait_until(lambda: _subscribers(client, subscriber.channel) > 0), "no subscription"
        published = subprocess.run(
            [sys.executable, "-c", PUBLISHER, str(sqlite_engine.url), redis_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        version = int(published.stdout.strip())
        assert _wait_until(lambda: version in signal.seen), f"{version} not in {signal.seen}"
        assert signal.version >= version
    finally:
        listener.stop()
        client.close()


def _subscribers(client: redis.Redis, channel: str) -> int:
    counts = dict(client.pubsub_numsub(channel))
    return int(counts.get(channel.encode(), 0))


class RecordingSignal(LiveSignal):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def notify(self, version: int) -> None:
        self.seen.append(version)
        super().notify(version)


# ---------------------------------------------------------------------- Redis goes down
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A private redis-server (never the shared one), to be killed by the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        assert _wait_until(lambda: _pings(client)), "throwaway redis did not start"
        yield url, process
    finally:
        client.close()
        process.kill()
        process.wait(timeout=30)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.mark.redis
def test_dashboard_keeps_answering_when_redis_dies(
    market: Market,
    throwaway_redis: tuple[str, subprocess.Popen[bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, process = throwaway_redis
    db = market.db
    app = create_app(
        Settings(env="test", secret_key=SECRET, redis_url=url),
        session_factory=_factory(db),
        clock=FixedClock(NOW),
    )
    manager = market.users["manager"]
    sign_in(db, manager)
    headers = as_user(manager)
    with TestClient(app) as client:
        before = client.get("/api/v1/kpis", headers=headers)
        assert before.status_code == 200
        stored = redis.Redis.from_url(url).keys("tutorpulse:cache:*")
        assert stored, "the KPIs were not shared through Redis"
        process.kill()
        process.wait(timeout=30)
        with caplog.at_level(logging.WARNING, logger="tutorpulse.realtime"):
            # A write: its "re-read now" message cannot be published; the figures must still
            # be recomputed for the new data version, without Redis.
            note = client.post(
                f"/api/v1/tutors/{market.task.tutor_id}/notes",
                json={"body": "called, will follow up"},
                headers=headers,
            )
            assert note.status_code in (200, 201), note.text
            after = client.get("/api/v1/kpis", headers=headers)
            alerts = client.get("/api/v1/alerts", headers=headers)
            ready = client.get("/readyz")
        assert after.status_code == 200 and alerts.status_code == 200
        assert after.json() == before.json()  # a note changes no KPI: same figures
        assert ready.status_code == 200
        assert ready.json()["checks"]["redis"].startswith("degraded")
        warnings = [r.getMessage() for r in caplog.records if "redis degraded" in r.getMessage()]
        assert warnings, "Redis outage was not logged"
        assert len(warnings) == 1  # rate-limited, not one line per call
        newest = db.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1))
        assert app.state.live.version == newest  # this process's own views still woke up


# ------------------------------------------------------------- the websocket wakes at once
def _receive_within(socket: Any, deadline: float) -> dict[str, Any]:
    """A safety net against hanging, far above any wake-up: the poll is set to an hour."""
    box: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: box.append(socket.receive_json()), daemon=True)
    reader.start()
    reader.join(deadline)
    assert box, "the websocket was not woken (its poll alone would take an hour)"
    return box[0]


def _emit_outside_the_app(db: Session) -> int:
    # Through the test's own session, not the app's factory: no local "re-read now".
    message = events.emit(db, topic="pipeline.tutors_updated", payload={"count": 1}, now=NOW)
    db.flush()
    return message.id


def test_update_socket_wakes_on_the_live_signal_not_the_poll(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tutorpulse.dashboard import api as dashboard_api

    monkeypatch.setattr(dashboard_api, "UPDATE_POLL_SECONDS", 3600.0)
    db = market.db
    app = create_app(
        Settings(env="test", secret_key=SECRET), session_factory=_factory(db), clock=FixedClock(NOW)
    )
    manager = market.users["manager"]
    sign_in(db, manager)
    with (
        TestClient(app) as client,
        client.websocket_connect("/api/v1/ws/updates", headers=as_user(manager)) as socket,
    ):
        first = _receive_within(socket, 120)
        assert first["events"] == []
        version = _emit_outside_the_app(db)
        app.state.live.notify(version)  # what the listener does for another process's commit
        pushed = _receive_within(socket, 120)
    assert [e["id"] for e in pushed["events"]] == [version]


@pytest.mark.redis
def test_update_socket_wakes_on_a_redis_message(
    market: Market, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tutorpulse.dashboard import api as dashboard_api

    monkeypatch.setattr(dashboard_api, "UPDATE_POLL_SECONDS", 3600.0)
    db = market.db
    settings = Settings(env="test", secret_key=SECRET, redis_url=redis_url)
    app = create_app(settings, session_factory=_factory(db), clock=FixedClock(NOW))
    manager = market.users["manager"]
    sign_in(db, manager)
    # Another process's broker on the same Redis and database namespace.
    other = RedisBroker(redis_url, namespace=namespace_for(settings.effective_database_url))
    client_redis = redis.Redis.from_url(redis_url)
    try:
        with (
            TestClient(app) as client,
            client.websocket_connect("/api/v1/ws/updates", headers=as_user(manager)) as socket,
        ):
            _receive_within(socket, 120)
            assert _wait_until(lambda: _subscribers(client_redis, other.channel) > 0)
            version = _emit_outside_the_app(db)
            other.publish(version)
            pushed = _receive_within(socket, 120)
        assert [e["id"] for e in pushed["events"]] == [version]
    finally:
        client_redis.close()
        other.close()


# ------------------------------------------------------- the pipeline worker wakes at once
def test_idle_pipeline_worker_starts_on_a_message_not_the_poll(
    market: Market, tmp_path: Path
) -> None:
    import queue

    from tutorpulse.events.models import DirtyTutor
    from tutorpulse.jobs.locks import FileLock
    from tutorpulse.jobs.scheduler import PipelineWorker

    db = market.db
    results: queue.Queue[dict[str, Any]] = queue.Queue()

    class Recording(PipelineWorker):
        def run_once(self) -> dict[str, Any]:
            done = super().run_once()
            results.put(done)
            return done

    broker = MemoryBroker()
    worker = Recording(
        session_factory=_factory(db),
        clock=FixedClock(NOW),
        lock=FileLock(tmp_path / "scheduler.lock"),
        jobs=[],
        poll_seconds=3600.0,  # the poll alone would not run again within the test
    )
    waker = threading.Thread(
        target=broker.listen, args=(lambda _v: worker.wake.set(), worker.stop), daemon=True
    )
    waker.start()
    runner = threading.Thread(target=worker.run_forever, daemon=True)
    runner.start()
    try:
        # The sample's dirty marks are processed, then the worker goes idle.
        while results.get(timeout=300).get("dirty"):
            pass
        assert broker.subscribed.wait(timeout=30)
        events.mark_dirty(db, tutor_ids=["tutor_003"], now=NOW, reason="test")
        db.flush()
        broker.publish(1)  # an import committed elsewhere
        assert results.get(timeout=300)["dirty"] == 1
        assert db.query(DirtyTutor).count() == 0
    finally:
        worker.stop.set()
        runner.join(timeout=60)
        waker.join(timeout=60)
    assert not runner.is_alive()
