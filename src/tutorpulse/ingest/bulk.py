"""Bulk writes of the import: new rows with the bare driver, updates grouped by columns.

For a list of dicts, SQLAlchemy's executemany builds, checks and processes one parameter set
per row, which costs more than the database's own work on SQLite and sends row-by-row
statements on PostgreSQL. The rows the importer inserts are already validated and all have
the same keys, so here each value goes through its column type's bind processor — exactly the
value SQLAlchemy would send, with shortcuts for the common values (see ``_processor``) — and
the rows go to the driver in one call: ``executemany`` on sqlite3, ``COPY ... FROM STDIN`` on
psycopg 3. Converting ("preparing") can happen ahead of the insert, in the process that
parses the input (``RowPreparer``). Other drivers take the ordinary SQLAlchemy path.
Constraints, foreign keys and indexes are checked by the database exactly as before; driver
errors are re-raised as the usual SQLAlchemy exceptions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Connection, Table, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import JSON, Boolean, Date

from tutorpulse.db.engine import json_dumps
from tutorpulse.db.types import UTCDateTime

Processor = Callable[[Any], Any]
FAST_DRIVERS = (("sqlite", "pysqlite"), ("postgresql", "psycopg"))


def has_fast_path(dialect: Dialect) -> bool:
    return (dialect.name, dialect.driver) in FAST_DRIVERS


class RowPreparer:
    """Turns a table's rows into the values the driver receives, in place.

    Preparing is separate from inserting so that it can happen early — in the helper process
    that parses a large file, while this one writes. A prepared row holds exactly what
    ``insert_rows`` sends (the column types' bind processors, see ``_processor``); typed values
    are gone, so a prepared row is for inserting, not for comparing.
    """

    def __init__(self, dialect: Dialect, table: Table) -> None:
        self._dialect = dialect
        self._table = table
        self._by_columns: dict[tuple[str, ...], list[tuple[str, Processor]]] = {}

    def __call__(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = tuple(rows[0])
        processed = self._by_columns.get(columns)
        if processed is None:
            processed = self._by_columns[columns] = [
                (name, process)
                for name in columns
                if (process := _processor(self._table.c[name], self._dialect)) is not None
            ]
        for row in rows:
            for name, process in processed:
                row[name] = process(row[name])


def preparer(dialect: Dialect, table: Table) -> RowPreparer | None:
    """The preparer for ``table`` on this dialect; None where inserts go through SQLAlchemy."""
    return RowPreparer(dialect, table) if has_fast_path(dialect) else None


def portable_dialect(dialect: Dialect) -> str | None:
    """``name+driver`` from which another process rebuilds an identical preparer, if any.

    True of engines made by ``make_engine`` (same JSON serializer); None otherwise, and then
    rows are prepared in this process.
    """
    if has_fast_path(dialect) and getattr(dialect, "_json_serializer", None) is json_dumps:
        return f"{dialect.name}+{dialect.driver}"
    return None


def insert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    prepared: bool = False,
) -> None:
    """INSERT ``rows`` (same keys in every row) into ``table`` in the connection's transaction.

    ``prepared``: the rows went through this dialect's ``RowPreparer`` already.
    """
    if not rows:
        return
    dialect = connection.dialect
    if not has_fast_path(dialect):
        if prepared:
            raise ValueError(f"no prepared rows on {dialect.name}+{dialect.driver}")
        connection.execute(table.insert(), list(rows))
        return
    if not prepared:
        rows = [dict(row) for row in rows]  # the caller's rows stay typed
        RowPreparer(dialect, table)(rows)
    columns = tuple(rows[0])
    sql = _sql(dialect, table, columns)
    get = itemgetter(*columns)
    values = list(map(get, rows))
    driver_connection: Any = connection.connection.driver_connection
    try:
        if dialect.name == "sqlite":
            driver_connection.executemany(sql, values)
        else:
            _copy(driver_connection, sql, values)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect
        ) from exc


def update_rows(
    connection: Connection,
    table: Table,
    id_column: str,
    updates: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """UPDATE the given columns of each id: one executemany per distinct set of columns.

    A re-sent record usually changes the same few fields as its peers (a booking that
    happened: status, actual start, ratings...), so a chunk's updates fall into a handful of
    statements instead of one statement per record.
    """
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for record_id, values in updates:
        columns = tuple(sorted(values))
        groups[columns].append({"_id": record_id} | {f"_{c}": values[c] for c in columns})
    for columns, parameters in groups.items():
        statement = (
            table.update()
            .where(table.c[id_column] == bindparam("_id"))
            .values({c: bindparam(f"_{c}", type_=table.c[c].type) for c in columns})
        )
        connection.execute(statement, parameters)


def _sql(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    preparer = dialect.identifier_preparer
    names = ", ".join(preparer.quote(table.c[c].name) for c in columns)
    target = preparer.format_table(table)
    if dialect.name == "sqlite":
        marks = ", ".join("?" for _ in columns)
        return f"INSERT INTO {target} ({names}) VALUES ({marks})"
    return f"COPY {target} ({names}) FROM STDIN"


def _copy(driver_connection: Any, sql: str, values: list[Any]) -> None:
    with driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in values:
            copy.write_row(row)


# ---------------------------------------------------------------- values
def _processor(column: Column[Any], dialect: Dialect) -> Processor | None:
    """The column type's bind processor, short-circuited where its result is known.

    Each shortcut returns what the standard processor returns for the same value (tested in
    tests/unit/test_ingest_bulk.py) and hands any other value to the standard processor.
    """
    standard: Processor | None = column.type.dialect_impl(dialect).bind_processor(dialect)
    if standard is None:
        return None
    sqlite = dialect.name == "sqlite"
    if isinstance(column.type, UTCDateTime):
        return _sqlite_utc_text(standard) if sqlite else _utc_as_is(standard)
    if sqlite and isinstance(column.type, Date):
        return _sqlite_date_text(standard)
    if sqlite and isinstance(column.type, Boolean):
        return _sqlite_bool(standard)
    if isinstance(column.type, JSON):
        return _json_text(standard, dialect) if not sqlite else _json_null_shortcut(standard)
    return standard


def _sqlite_utc_text(standard: Processor) -> Processor:
    # SQLAlchemy stores SQLite DATETIME as naive "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
    def process(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC:
            return value.isoformat(" ", "microseconds")[:26]  # drop the "+00:00"
        return standard(value)

    return process


def _utc_as_is(standard: Processor) -> Processor:
    def process(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC:
            return value  # already what UTCDateTime would make of it
        return standard(value)

    return process


def _sqlite_date_text(standard: Processor) -> Processor:
    def process(value: Any) -> Any:
        return value.isoformat() if type(value) is date else standard(value)

    return process


def _sqlite_bool(standard: Processor) -> Processor:
    # The processor's int(value), without its call overhead. Ints, not bools, either way:
    # sqlite3 binds a bool (an int subclass) only after a failed adapter look-up, which costs
    # more than the insert of the value itself.
    def process(value: Any) -> Any:
        if value is True:
            return 1
        if value is False:
            return 0
        return standard(value)

    return process


def _json_null_shortcut(standard: Processor) -> Processor:
    # Most rows have no extra fields (None) and most events no metadata ({}): each is
    # serialised once, not once per row.
    null = standard(None)
    empty = standard({})

    def process(value: Any) -> Any:
        if value is None:
            return null
        if type(value) is dict and not value:
            return empty
        return standard(value)

    return process


def _json_text(standard: Processor, dialect: Dialect) -> Processor:
    # COPY's text format takes a JSON column as its JSON text, so the engine's serializer
    # output goes straight in, instead of through a psycopg Jsonb wrapper and its dumper.
    serialize: Processor = getattr(dialect, "_json_serializer", None) or json.dumps
    null = serialize(None)

    def process(value: Any) -> Any:
        return null if value is None else serialize(value)

    return process
