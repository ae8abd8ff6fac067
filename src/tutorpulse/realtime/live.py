"""Waking the live views: the publisher (after commit) and the per-process live signal.

``install_publisher`` hooks a session factory: when a transaction that wrote outbox rows
commits, the newest of their ids (the new data version) is published; a rolled-back
transaction publishes nothing (DESIGN §2: events after commit, never before).

``LiveSignal`` is what a web process's pages and websockets wait on: the broker listener
thread calls ``notify``; the UI timers read ``version`` (no database query) and the update
websocket awaits ``wait``. The views still poll the database as before, so a lost message
only delays an update.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.events.models import OutboxMessage
from tutorpulse.realtime.broker import Broker

log = logging.getLogger("tutorpulse.realtime")
INFO_KEY = "tutorpulse.outbox_version"


class LiveSignal:
    """The newest data version this process has heard of, and its waiters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.version = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self, version: int) -> None:
        with self._lock:
            if version <= self.version:
                return
            self.version = version
            waiters = list(self._waiters)
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
                loop.call_soon_threadsafe(waiter.set)

    async def wait(self, *, newer_than: int, timeout: float) -> bool:
        """Until a version above ``newer_than`` is announced (True) or ``timeout`` (False)."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self.version > newer_than:
                return True
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(entry)


def install_publisher(
    factory: sessionmaker[Session],
    *,
    broker: Broker | None = None,
    local: Callable[[int], None] | None = None,
) -> None:
    """Announce each committed data version to ``broker`` (other processes) and ``local``."""

    def remember(session: Session, _context: Any) -> None:
        ids = [obj.id for obj in session.new if isinstance(obj, OutboxMessage) and obj.id]
        if ids:
            session.info[INFO_KEY] = max(session.info.get(INFO_KEY, 0), *ids)

    def announce(session: Session) -> None:
        version = session.info.pop(INFO_KEY, None)
        if version is None:
            return
        if local is not None:
            local(version)
        if broker is not None:
            broker.publish(version)

    def forget(session: Session) -> None:
        session.info.pop(INFO_KEY, None)

    event.listen(factory, "after_flush", remember)
    event.listen(factory, "after_commit", announce)
    event.listen(factory, "after_rollback", forget)


class Listener:
    """A daemon thread feeding a broker's messages into a ``LiveSignal``."""

    def __init__(self, broker: Broker, signal: LiveSignal) -> None:
        self._broker = broker
        self._signal = signal
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="tutorpulse-live-listener", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        try:
            self._broker.listen(self._signal.notify, self._stop)
        except Exception:  # the views keep polling: a dead listener only costs latency
            log.exception("live update listener stopped")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def publish_commits(settings: Any, factory: sessionmaker[Session]) -> Broker | None:
    """For workers and the CLI: with ``TUTORPULSE_REDIS_URL`` set, publish their commits."""
    if not settings.redis_url:
        return None
    from tutorpulse.realtime.broker import redis_broker

    broker = redis_broker(settings.redis_url, database_url=settings.effective_database_url)
    install_publisher(factory, broker=broker)
    return broker
