"""Engine and session factory for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_PRAGMAS = (
    "foreign_keys=ON",
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "busy_timeout=30000",
    # A 32 MiB page cache per connection (SQLite's default is 2 MiB): indexes of a few
    # hundred MB of sessions are written and read all over; with 2 MiB every chunk of an
    # import re-reads its index pages from the file (10x the reads, measured).
    "cache_size=-32768",
    # Checkpoint the WAL every 64 MiB instead of 4 MiB: a hot index page written by
    # every commit is copied back to the database once per checkpoint, not once per commit.
    # Durability is unchanged (it is set by journal_mode and synchronous).
    "wal_autocheckpoint=16384",
)


def configure_sqlite_connection(dbapi_connection: Any) -> None:
    """The settings of every SQLite connection (also used by the bare-driver benchmark)."""
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy emits BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    configure_sqlite_connection(dbapi_connection)


def json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# Execution option for a writer that must not lose a race: BEGIN IMMEDIATE takes the write
# lock at the start (waiting up to busy_timeout), where a deferred BEGIN that read first fails
# at once with "database is locked" if another connection committed in between.
SQLITE_IMMEDIATE = {"sqlite_begin": "immediate"}


def _begin_sqlite(connection: Any) -> None:
    immediate = connection.get_execution_options().get("sqlite_begin") == "immediate"
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for callers that own the transaction (CLI, workers)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
