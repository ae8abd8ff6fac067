"""Telling "the database is unreachable" (retry later) from errors in the work itself."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

UNAVAILABLE_HINTS = (
    "connection",
    "could not connect",
    "server closed",
    "terminating",
    "database is locked",
)


def database_unavailable(exc: BaseException) -> bool:
    """A lost or refused connection (worth retrying), not an error in the work itself.

    SQLite reports a missing table as an OperationalError too: only connection-like
    messages count, so a broken statement fails at once instead of being retried.
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return isinstance(exc, OperationalError) and any(hint in text for hint in UNAVAILABLE_HINTS)


def first_line(exc: DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
