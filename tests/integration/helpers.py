"""Helpers for database tests: writing input files, table checksums."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.ingest.files import import_directory, plan_directory
from tutorpulse.ingest.rows import TABLES
from tutorpulse.ingest.schemas import ID_FIELDS
from tutorpulse.ingest.service import ImportReport

from ..conftest import NOW

BOOKKEEPING = {"created_at", "updated_at"}


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def run_import(db: Session, directory: Path, *, source: str = "auto") -> ImportReport:
    return import_directory(
        db,
        plan=plan_directory(directory, source=source),
        now=NOW,
        chunk_size=50,
        checkpoint=db.commit,
    )


def table_checksums(db: Session) -> dict[str, tuple[int, str]]:
    """Row count and a content digest of each marketplace table (bookkeeping times excluded)."""
    result: dict[str, tuple[int, str]] = {}
    for kind, table in TABLES.items():
        digest = hashlib.sha256()
        rows = db.execute(select(table).order_by(table.c[ID_FIELDS[kind]])).mappings().all()
        for row in rows:
            content = {str(k): v for k, v in row.items() if k not in BOOKKEEPING}
            digest.update(orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=str))
        result[kind] = (len(rows), digest.hexdigest())
    return result


def tutor(tutor_id: str = "t1", **overrides: Any) -> dict[str, Any]:
    record = {
        "tutor_id": tutor_id,
        "name": "Ada Lovelace",
        "email": f"{tutor_id}@example.org",
        "onboarding_date": "2024-09-01",
        "subjects": ["Mathematics"],
        "education_level": "Master",
        "location": "London, UK",
        "baseline_sessions_per_week": 12,
    }
    return record | overrides


def student(student_id: str = "s1", **overrides: Any) -> dict[str, Any]:
    record = {
        "student_id": student_id,
        "name": "Alex Doe",
        "age": 16,
        "grade_level": "11",
        "subjects_interested": ["Mathematics"],
    }
    return record | overrides


def session(session_id: str = "x1", **overrides: Any) -> dict[str, Any]:
    record = {
        "session_id": session_id,
        "tutor_id": "t1",
        "student_id": "s1",
        "session_number": 1,
        "scheduled_start": "2025-02-03T16:00:00Z",
        "actual_start": "2025-02-03T16:05:00Z",
        "duration_minutes": 60,
        "subject": "Mathematics",
        "session_type": "1-on-1",
        "tutor_initiated_reschedule": False,
        "no_show": False,
        "late_start_minutes": 5,
        "engagement_score": 0.8,
        "student_rating": 4.5,
        "student_feedback_text": "Great",
        "learning_objectives_met": True,
        "technical_issues": False,
    }
    return record | overrides


def feedback(feedback_id: str = "f1", **overrides: Any) -> dict[str, Any]:
    record = {
        "feedback_id": feedback_id,
        "session_id": "x1",
        "student_id": "s1",
        "tutor_id": "t1",
        "overall_rating": 4,
        "first_session": True,
        "ratings": {
            "subject_knowledge": 5,
            "communication": 4,
            "patience": 5,
            "engagement": 3,
            "helpfulness": 4,
        },
        "would_recommend": True,
        "free_text_feedback": "Knowledgeable",
        "timestamp": "2025-02-03T17:10:00Z",
        "would_work_again": "yes",
    }
    return record | overrides


def event(event_id: str = "e1", **overrides: Any) -> dict[str, Any]:
    record = {
        "event_id": event_id,
        "tutor_id": "t1",
        "event_type": "login",
        "event_timestamp": "2025-02-03T09:00:00Z",
        "metadata": {},
    }
    return record | overrides
