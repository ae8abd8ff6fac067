"""Declarative base shared by every domain's tables."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import MetaData, Table, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tutorpulse.db.types import UTCDateTime

# Deterministic constraint names keep Alembic batch migrations on SQLite workable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """Bookkeeping times of the row itself (not business time, which is always explicit)."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class (for bulk statements)."""
    return cast(Table, model.__table__)
