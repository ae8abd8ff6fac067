"""The bulk insert's value shortcuts send exactly what the column types' own processors send."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from sqlalchemy import JSON, TypeDecorator
from sqlalchemy.engine import Dialect

from tutorpulse.db.engine import make_engine
from tutorpulse.ingest.bulk import _processor
from tutorpulse.ingest.rows import TABLES
from tutorpulse.privacy.crypto import EncryptedInt, EncryptedText

DIALECTS = {
    "sqlite": make_engine("sqlite://").dialect,
    "postgresql": make_engine("postgresql+psycopg://nobody@localhost/none").dialect,
}
PARIS = timezone(timedelta(hours=1))
SAMPLES: list[Any] = [
    None,
    "Ada Lovelace",
    7,
    4.5,
    True,
    False,
    datetime(2025, 2, 3, 16, 5, tzinfo=UTC),
    datetime(2025, 2, 3, 16, 5, 7, 123456, tzinfo=UTC),
    datetime(2025, 2, 3, 17, 5, tzinfo=PARIS),
    date(2024, 9, 1),
    {"room": "B12", "nested": {"a": [1, 2.5, None]}},
    ["Mathematics", "Physics"],
    {},
]


def _accepted(column_type: Any, value: Any) -> bool:
    """Values of the column's Python type (what the importer's rows hold), and None."""
    if value is None:
        return True
    if isinstance(column_type, JSON):
        return isinstance(value, (dict, list))
    if isinstance(column_type, EncryptedInt):
        return isinstance(value, int)  # stored as text, given as an integer
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(value, column_type.python_type)


def _comparable(value: Any) -> Any:
    # PostgreSQL's standard processor wraps JSON in psycopg's Jsonb; the shortcut sends the
    # JSON text COPY takes: compare the JSON values they stand for.
    if type(value).__name__ == "Jsonb":
        return ("json", value.obj)
    if isinstance(value, str) and (value[:1] in ("{", "[") or value == "null"):
        return ("json", orjson.loads(value))
    return value


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
def test_every_shortcut_matches_the_standard_processor(dialect_name: str) -> None:
    dialect: Dialect = DIALECTS[dialect_name]
    checked = 0
    for table in TABLES.values():
        for column in table.columns:
            fast = _processor(column, dialect)
            standard = column.type.dialect_impl(dialect).bind_processor(dialect)
            for value in SAMPLES:
                if not _accepted(column.type, value):
                    continue
                sent = value if standard is None else standard(value)
                shortcut = value if fast is None else fast(value)
                if isinstance(column.type, EncryptedText | EncryptedInt) and value is not None:
                    # A fresh nonce per value: the two ciphertexts differ, their plaintext not.
                    assert shortcut.startswith("pii1:"), column
                    sent = column.type.process_result_value(sent, dialect)
                    shortcut = column.type.process_result_value(shortcut, dialect)
                assert _comparable(shortcut) == _comparable(sent), (column, value)
                checked += 1
    assert checked > 100


def test_sqlite_datetime_text_is_sqlalchemys_storage_format() -> None:
    column = TABLES["sessions"].c.scheduled_start
    fast = _processor(column, DIALECTS["sqlite"])
    assert fast is not None
    assert fast(datetime(2025, 2, 3, 16, 5, tzinfo=UTC)) == "2025-02-03 16:05:00.000000"
    assert fast(datetime(2025, 2, 3, 17, 5, tzinfo=PARIS)) == "2025-02-03 16:05:00.000000"
    with pytest.raises(ValueError, match="naive datetime"):
        fast(datetime(2025, 2, 3, 16, 5))
