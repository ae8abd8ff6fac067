"""Request-scoped dependencies shared by every router (HTTP and WebSocket alike)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection

from tutorpulse.clock import Clock
from tutorpulse.config import Settings


def get_settings(request: HTTPConnection) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session_factory(request: HTTPConnection) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def get_db(request: HTTPConnection) -> Iterator[Session]:
    """One session per request; the route owns the transaction (commit on success)."""
    session = get_session_factory(request)()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_clock(request: HTTPConnection) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


DbSession = Annotated[Session, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]
AppClock = Annotated[Clock, Depends(get_clock)]
