"""The live signal, the in-memory broker and the rate-limited Redis warning."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from tutorpulse.realtime.broker import MemoryBroker, RateLimitedWarning, RedisBroker
from tutorpulse.realtime.live import Listener, LiveSignal

T = TypeVar("T")


def test_live_signal_keeps_the_newest_version_only() -> None:
    signal = LiveSignal()
    signal.notify(5)
    signal.notify(3)  # a late, older message never moves the version back
    assert signal.version == 5


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: the browser tests may leave a loop running here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_live_signal_wakes_a_waiter_from_another_thread() -> None:
    signal = LiveSignal()

    async def scenario() -> tuple[bool, bool]:
        # Already newer: returns at once; then a thread's notify wakes a pending waiter.
        signal.notify(1)
        immediate = await signal.wait(newer_than=0, timeout=30)
        pending = asyncio.ensure_future(signal.wait(newer_than=1, timeout=30))
        await asyncio.sleep(0)  # let the waiter register
        threading.Thread(target=signal.notify, args=(2,)).start()
        return immediate, await pending

    assert _run(scenario()) == (True, True)
    assert signal.version == 2


def test_live_signal_wait_times_out_without_news() -> None:
    signal = LiveSignal()
    assert _run(signal.wait(newer_than=0, timeout=0.01)) is False


def test_memory_broker_delivers_to_a_listener_thread_and_caches() -> None:
    broker = MemoryBroker()
    signal = LiveSignal()
    listener = Listener(broker, signal)
    listener.start()
    try:
        assert broker.subscribed.wait(timeout=30)
        broker.publish(7)
        assert signal.version == 7
    finally:
        listener.stop()
    broker.cache_set("k", b"v")
    assert broker.cache_get("k") == b"v"
    assert broker.cache_get("missing") is None
    assert broker.status() == "ok"


def test_rate_limited_warning_logs_once_per_window(caplog: pytest.LogCaptureFixture) -> None:
    warn = RateLimitedWarning(every=3600)
    with caplog.at_level(logging.WARNING, logger="tutorpulse.realtime"):
        for n in range(5):
            warn("redis degraded: try %d", n)
    assert [r.getMessage() for r in caplog.records] == [
        "redis degraded: try 0 (0 similar warnings suppressed)"
    ]
    assert warn.suppressed == 4


def test_redis_broker_with_redis_down_degrades_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = RedisBroker("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with caplog.at_level(logging.WARNING, logger="tutorpulse.realtime"):
        broker.publish(1)
        assert broker.cache_get("k") is None  # paused after the failure: no second connect
        broker.cache_set("k", b"v")
    assert broker.status().startswith("degraded: ConnectionError")
    assert len(caplog.records) == 1
    assert "redis degraded: publish failed" in caplog.records[0].getMessage()
