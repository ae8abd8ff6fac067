"""Backups: SQLite through its online backup API, PostgreSQL through pg_dump / pg_restore.

Both produce one file; ``restore`` replaces the database's content with the file's. A SQLite
backup is consistent while the app runs (the backup API copies a snapshot); restoring
should happen with the app and workers stopped.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from tutorpulse.errors import TutorpulseError


def default_backup_path(data_dir: Path, engine: Engine, now: datetime) -> Path:
    suffix = ".db" if engine.dialect.name == "sqlite" else ".dump"
    return data_dir / "backups" / f"tutorpulse-{now:%Y%m%dT%H%M%SZ}{suffix}"


def backup(engine: Engine, *, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        raise TutorpulseError(f"{out} already exists; choose another file name")
    if engine.dialect.name == "sqlite":
        source = sqlite3.connect(_sqlite_path(engine))
        target = sqlite3.connect(out)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return out
    _run_pg_tool(engine, "pg_dump", "--format=custom", f"--file={out}")
    return out


def restore(engine: Engine, *, source: Path) -> None:
    if not source.is_file():
        raise TutorpulseError(f"backup file not found: {source}")
    if engine.dialect.name == "sqlite":
        _check_sqlite_file(source)
        engine.dispose()
        backup_connection = sqlite3.connect(source)
        target = sqlite3.connect(_sqlite_path(engine))
        try:
            backup_connection.backup(target)
        finally:
            target.close()
            backup_connection.close()
        return
    _run_pg_tool(engine, "pg_restore", "--clean", "--if-exists", "--no-owner", str(source))


def _sqlite_path(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        raise TutorpulseError("an in-memory SQLite database cannot be backed up or restored")
    return database


def _check_sqlite_file(path: Path) -> None:
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise TutorpulseError(f"{path} is not a SQLite backup")


def _run_pg_tool(engine: Engine, tool: str, *arguments: str) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise TutorpulseError(f"{tool} not found: install the PostgreSQL client tools")
    url = make_url(engine.url.render_as_string(hide_password=False))
    connection = [f"--dbname={url.database}"]
    connection += [f"--host={url.host}"] if url.host else []
    connection += [f"--port={url.port}"] if url.port else []
    connection += [f"--username={url.username}"] if url.username else []
    # The password goes through the environment, never the command line (ps shows it).
    environment = os.environ | ({"PGPASSWORD": url.password} if url.password else {})
    result = subprocess.run(
        [executable, *connection, *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
        env=environment,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise TutorpulseError(f"{tool} failed: {reason}")
