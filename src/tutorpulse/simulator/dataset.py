"""Reading a generated directory back into dataframes (for the realism report and tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from tutorpulse.errors import TutorpulseError
from tutorpulse.simulator.records import FILE_NAMES

MANIFEST = "manifest.json"
SESSION_COLUMNS = (
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
FEEDBACK_COLUMNS = (
    "feedback_id",
    "session_id",
    "student_id",
    "tutor_id",
    "overall_rating",
    "first_session",
    "would_recommend",
    "free_text_feedback",
    "timestamp",
    "would_work_again",
    "improvement_areas",
)
RATING_NAMES = ("subject_knowledge", "communication", "patience", "engagement", "helpfulness")
EVENT_COLUMNS = ("event_id", "tutor_id", "event_type", "event_timestamp")
METADATA_COLUMNS = ("session_id", "hours_notice", "initiated_by", "reason")


@dataclass
class Dataset:
    directory: Path
    manifest: dict[str, Any]
    tutors: pd.DataFrame
    students: pd.DataFrame
    sessions: pd.DataFrame
    feedback: pd.DataFrame
    events: pd.DataFrame
    start: date
    days: int

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise TutorpulseError(f"missing file: {path}")
    with path.open("rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def _frame(records: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: [r.get(c) for r in records] for c in columns})


def load_dataset(directory: Path) -> Dataset:
    if not directory.is_dir():
        raise TutorpulseError(f"not a directory: {directory}")
    manifest_path = directory / MANIFEST
    if not manifest_path.exists():
        raise TutorpulseError(f"{directory} has no {MANIFEST}: not a generated dataset")
    manifest = orjson.loads(manifest_path.read_bytes())
    try:
        start = date.fromisoformat(manifest["start"])
        days = int(manifest["days"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TutorpulseError(f"{manifest_path}: needs 'start' (YYYY-MM-DD) and 'days'") from exc

    tutors = pd.DataFrame(_lines(directory / FILE_NAMES["tutors"]))
    students = pd.DataFrame(_lines(directory / FILE_NAMES["students"]))
    session_records = _lines(directory / FILE_NAMES["sessions"])
    sessions = _frame(session_records, SESSION_COLUMNS)
    del session_records
    feedback_records = _lines(directory / FILE_NAMES["feedback"])
    feedback = _frame(feedback_records, FEEDBACK_COLUMNS)
    for name in RATING_NAMES:
        feedback[f"rating_{name}"] = [(r.get("ratings") or {}).get(name) for r in feedback_records]
    del feedback_records
    event_records = _lines(directory / FILE_NAMES["tutor_events"])
    events = _frame(event_records, EVENT_COLUMNS)
    for name in METADATA_COLUMNS:
        events[f"meta_{name}"] = [(r.get("metadata") or {}).get(name) for r in event_records]
    del event_records

    for frame, column in (
        (sessions, "scheduled_start"),
        (sessions, "actual_start"),
        (feedback, "timestamp"),
        (events, "event_timestamp"),
    ):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    if not tutors.empty:
        tutors["onboarding_date"] = pd.to_datetime(tutors["onboarding_date"]).dt.date
    return Dataset(directory, manifest, tutors, students, sessions, feedback, events, start, days)
