"""Wire format helpers: synthetic ids, UTC timestamps, DESIGN.md §3 field order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

# Every synthetic id starts with this prefix, so it can never collide with real data.
ID_PREFIX: Final = "syn_"
SOURCE: Final = "synthetic"
KINDS: Final = ("tutors", "students", "sessions", "feedback", "tutor_events")
FILE_NAMES: Final = {kind: f"{kind}.jsonl" for kind in KINDS}

SESSION_FIELDS: Final = (
    "session_id",
    "tutor_id",
    "student_id",
    "session_number",
    "scheduled_start",
    "actual_start",
    "duration_minutes",
    "subject",
    "session_type",
    "tutor_initiated_reschedule",
    "no_show",
    "late_start_minutes",
    "engagement_score",
    "student_rating",
    "student_feedback_text",
    "learning_objectives_met",
    "technical_issues",
    "status",
)


def tutor_id(index: int) -> str:
    return f"syn_t{index + 1:06d}"


def student_id(index: int) -> str:
    return f"syn_s{index + 1:07d}"


def session_id(number: int) -> str:
    return f"syn_ses{number:09d}"


def feedback_id(number: int) -> str:
    return f"syn_fb{number:09d}"


def event_id(number: int) -> str:
    return f"syn_ev{number:010d}"


# Bulk forms of the id helpers above (one ``str.format`` per id, no Python-level call).
_ID_FORMATS = {
    "tutor": "syn_t{:06d}",
    "student": "syn_s{:07d}",
    "session": "syn_ses{:09d}",
    "feedback": "syn_fb{:09d}",
    "event": "syn_ev{:010d}",
}


def many_ids(kind: str, numbers: npt.NDArray[np.integer[Any]]) -> list[str]:
    """Ids of ``kind`` for sequence numbers (tutors and students: for 0-based indices)."""
    values = np.asarray(numbers, dtype=np.int64)
    if kind in ("tutor", "student"):
        values = values + 1
    return list(map(_ID_FORMATS[kind].format, values.tolist()))


def tutor_index(identifier: str) -> int:
    return int(identifier.removeprefix("syn_t")) - 1


def epoch_seconds(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def to_datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def iso_times(seconds: npt.NDArray[np.int64]) -> list[str]:
    """``2025-01-06T10:00:00Z`` strings, vectorised."""
    if len(seconds) == 0:
        return []
    text = np.datetime_as_string(np.asarray(seconds, dtype="datetime64[s]"), unit="s")
    return [t + "Z" for t in text.tolist()]


def iso_time(seconds: int) -> str:
    return iso_times(np.array([seconds], dtype=np.int64))[0]


def iso_dates(seconds: npt.NDArray[np.int64]) -> list[str]:
    if len(seconds) == 0:
        return []
    days = np.datetime_as_string(np.asarray(seconds, dtype="datetime64[s]"), unit="D")
    return [str(d) for d in days.tolist()]


def dumps_lines(records: Iterable[dict[str, Any]]) -> bytes:
    """Compact JSON lines, ``\n``-terminated; key order is each record's (fixed) order.

    Each line is copied as soon as it is made: holding orjson's own output buffers until the
    join would keep their spare capacity alive (peak RSS doubled at 10x volume).
    """
    dumps, newline = orjson.dumps, b"\n"
    return b"".join([dumps(record) + newline for record in records])
