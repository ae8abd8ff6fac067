"""One scheduler at a time: a PostgreSQL advisory lock, or a file lock next to SQLite.

Whoever holds the lock runs the scheduled jobs; every worker may still drain the dirty-tutor
queue (rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
"""

from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text


class SchedulerLock(Protocol):
    def acquire(self) -> bool: ...

    def release(self) -> None: ...


def _lock_key(name: str) -> int:
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock:
    """A session-level advisory lock held on a dedicated connection while the worker lives."""

    def __init__(self, engine: Engine, name: str = "tutorpulse-scheduler") -> None:
        self._engine = engine
        self._key = _lock_key(name)
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        if self._connection is not None:
            return True
        connection = self._engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
        connection.commit()
        if got.scalar():
            self._connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            self._connection.commit()
            self._connection.close()
            self._connection = None


class FileLock:
    """An exclusive, non-blocking ``flock`` on a file in the data directory."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        if self._handle is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def scheduler_lock(engine: Engine, data_dir: Path) -> SchedulerLock:
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    return FileLock(data_dir / "scheduler.lock")
