"""The broker Protocol (publish / listen / shared cache), Redis and in-memory implementations.

Redis is optional infrastructure: every Redis call is guarded. When Redis is down the broker
reports "degraded", logs a warning (at most once a minute) and answers as if the cache were
empty and nobody listened; after a failure it stops trying for a few seconds so that requests
and pipeline commits never wait on a dead Redis one connect timeout at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("tutorpulse.realtime")

CHANNEL = "tutorpulse:data-version"
CACHE_PREFIX = "tutorpulse:cache:"
CACHE_TTL_SECONDS = 15 * 60
WARN_EVERY_SECONDS = 60.0
PAUSE_AFTER_FAILURE_SECONDS = 5.0
LISTEN_RETRY_MAX_SECONDS = 5.0

VersionCallback = Callable[[int], None]


class Broker(Protocol):
    def publish(self, version: int) -> None:
        """Tell every listener that the data version is now ``version`` (best effort)."""

    def listen(self, on_version: VersionCallback, stop: threading.Event) -> None:
        """Block until ``stop`` is set, calling ``on_version`` for each published version."""

    def cache_get(self, key: str) -> bytes | None: ...

    def cache_set(
        self, key: str, value: bytes, *, ttl_seconds: int = CACHE_TTL_SECONDS
    ) -> None: ...

    def status(self) -> str:
        """ "ok", or "degraded: <reason>" (never raises)."""


class MemoryBroker:
    """In-process broker for tests and single-process runs: same contract, no Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[VersionCallback] = []
        self._cache: dict[str, bytes] = {}
        self.published: list[int] = []
        self.subscribed = threading.Event()  # set once a listener is registered

    def publish(self, version: int) -> None:
        with self._lock:
            self.published.append(version)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(version)

    def listen(self, on_version: VersionCallback, stop: threading.Event) -> None:
        with self._lock:
            self._listeners.append(on_version)
        self.subscribed.set()
        try:
            stop.wait()
        finally:
            with self._lock:
                self._listeners.remove(on_version)

    def cache_get(self, key: str) -> bytes | None:
        with self._lock:
            return self._cache.get(key)

    def cache_set(self, key: str, value: bytes, *, ttl_seconds: int = CACHE_TTL_SECONDS) -> None:
        with self._lock:
            self._cache[key] = value

    def status(self) -> str:
        return "ok"


class RateLimitedWarning:
    """Logs a warning at most once per ``every`` seconds (Redis down must not flood logs)."""

    def __init__(self, every: float = WARN_EVERY_SECONDS) -> None:
        self._every = every
        self._last: float | None = None
        self._lock = threading.Lock()
        self.suppressed = 0

    def __call__(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self._every:
                self.suppressed += 1
                return
            self._last, suppressed, self.suppressed = now, self.suppressed, 0
        log.warning(message + " (%d similar warnings suppressed)", *args, suppressed)


def namespace_for(database_url: str) -> str:
    """Keys and channel of one deployment: several databases may share one Redis (tests,
    staging beside production) without reading each other's cached figures."""
    return hashlib.sha256(database_url.encode()).hexdigest()[:12]


class RedisBroker:
    def __init__(self, url: str, *, namespace: str = "") -> None:
        import redis

        self._redis = redis
        self._url = url
        scope = f"{namespace}:" if namespace else ""
        self.channel = CHANNEL + (f":{namespace}" if namespace else "")
        self.prefix = CACHE_PREFIX + scope
        # Short timeouts: Redis is an accelerator; waiting long for it is worse than missing it.
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self._paused_until = 0.0
        self.warn = RateLimitedWarning()

    # ------------------------------------------------------------------------ guarded calls
    def _available(self) -> bool:
        return time.monotonic() >= self._paused_until

    def _failed(self, action: str, exc: Exception) -> None:
        self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_SECONDS
        self.warn("redis degraded: %s failed (%s); working without it", action, _reason(exc))

    def publish(self, version: int) -> None:
        if not self._available():
            return
        try:
            self._client.publish(self.channel, str(version))
        except self._redis.RedisError as exc:
            self._failed("publish", exc)

    def cache_get(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            value = self._client.get(self.prefix + key)
        except self._redis.RedisError as exc:
            self._failed("cache read", exc)
            return None
        return value if isinstance(value, bytes) else None

    def cache_set(self, key: str, value: bytes, *, ttl_seconds: int = CACHE_TTL_SECONDS) -> None:
        if not self._available():
            return
        try:
            self._client.set(self.prefix + key, value, ex=ttl_seconds)
        except self._redis.RedisError as exc:
            self._failed("cache write", exc)

    def status(self) -> str:
        try:
            self._client.ping()
            return "ok"
        except self._redis.RedisError as exc:
            return f"degraded: {_reason(exc)}"

    def listen(self, on_version: VersionCallback, stop: threading.Event) -> None:
        """Subscribe, and re-subscribe after a failure with a growing pause (up to 5 s)."""
        delay = 0.25
        while not stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                delay = 0.25
                while not stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        version = int(message["data"])
                    except (TypeError, ValueError):
                        continue  # not ours: a signal carries only an integer
                    on_version(version)
            except self._redis.RedisError as exc:
                self.warn("redis degraded: subscription lost (%s); polling only", _reason(exc))
                stop.wait(delay)
                delay = min(delay * 2, LISTEN_RETRY_MAX_SECONDS)
            finally:
                with contextlib.suppress(self._redis.RedisError):
                    pubsub.close()

    def close(self) -> None:
        self._client.close()


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_brokers: dict[tuple[str, str], RedisBroker] = {}
_brokers_lock = threading.Lock()


def redis_broker(url: str, *, database_url: str = "") -> RedisBroker:
    """One broker (one connection pool) per Redis URL, database and process."""
    namespace = namespace_for(database_url) if database_url else ""
    with _brokers_lock:
        broker = _brokers.get((url, namespace))
        if broker is None:
            broker = _brokers[(url, namespace)] = RedisBroker(url, namespace=namespace)
        return broker
