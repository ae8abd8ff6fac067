"""From validated wire records to table rows, and the rules for re-sent records."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy import Table

from tutorpulse.db.base import table_of
from tutorpulse.ingest.schemas import (
    FeedbackIn,
    SessionIn,
    StudentIn,
    TutorEventIn,
    TutorIn,
    WireRecord,
)
from tutorpulse.marketplace.models import (
    Student,
    StudentFeedback,
    Tutor,
    TutorEvent,
    TutoringSession,
)
from tutorpulse.privacy.crypto import email_hmac

TABLES: dict[str, Table] = {
    "tutors": table_of(Tutor),
    "students": table_of(Student),
    "sessions": table_of(TutoringSession),
    "feedback": table_of(StudentFeedback),
    "tutor_events": table_of(TutorEvent),
}

# Fields a re-sent record may change (a booking that happened, a tutor who moved). A change to
# any other field means two different records share one id: that is rejected, not merged.
MUTABLE_FIELDS: dict[str, frozenset[str]] = {
    "tutors": frozenset(
        {
            "name",
            "email",
            "email_hmac",  # follows the email
            "subjects",
            "education_level",
            "location",
            "baseline_sessions_per_week",
            "age",
            "status",
            "extra",
        }
    ),
    "students": frozenset({"name", "age", "grade_level", "subjects_interested", "extra"}),
    "sessions": frozenset(
        {
            "scheduled_start",
            "actual_start",
            "duration_minutes",
            "subject",
            "tutor_initiated_reschedule",
            "no_show",
            "late_start_minutes",
            "engagement_score",
            "student_rating",
            "student_feedback_text",
            "learning_objectives_met",
            "technical_issues",
            "status",
            "extra",
        }
    ),
    "feedback": frozenset({"extra"}),
    "tutor_events": frozenset({"extra"}),
}

# Columns that are bookkeeping, not content: never compared, never part of the hash.
NON_CONTENT = frozenset({"source", "content_hash", "created_at", "updated_at"})
# Columns derived from content with a key (the keyed email hash): compared, so that a changed
# email updates its hash too, but never hashed — the content hash stays a function of the
# plaintext record alone, whatever the keys.
DERIVED = frozenset({"email_hmac"})


def tutor_row(record: TutorIn) -> dict[str, Any]:
    return {
        "tutor_id": record.tutor_id,
        "name": record.name,
        "email": record.email,
        "onboarding_date": record.onboarding_date,
        "subjects": record.subjects,
        "education_level": record.education_level,
        "location": record.location,
        "baseline_sessions_per_week": record.baseline_sessions_per_week,
        "age": record.age,
        "status": record.status or "active",
        "behavioral_archetype": record.behavioral_archetype,
        "extra": record.extra_fields(),
    }


def student_row(record: StudentIn) -> dict[str, Any]:
    return {
        "student_id": record.student_id,
        "name": record.name,
        "age": record.age,
        "grade_level": record.grade_level,
        "subjects_interested": record.subjects_interested,
        "extra": record.extra_fields(),
    }


def session_row(record: SessionIn) -> dict[str, Any]:
    return {
        "session_id": record.session_id,
        "tutor_id": record.tutor_id,
        "student_id": record.student_id,
        "session_number": record.session_number,
        "scheduled_start": record.scheduled_start,
        "actual_start": record.actual_start,
        "duration_minutes": record.duration_minutes,
        "subject": record.subject,
        "session_type": record.session_type,
        "status": record.status,
        "tutor_initiated_reschedule": record.tutor_initiated_reschedule,
        "no_show": record.no_show,
        "late_start_minutes": record.late_start_minutes,
        "engagement_score": record.engagement_score,
        "student_rating": record.student_rating,
        "student_feedback_text": record.student_feedback_text,
        "learning_objectives_met": record.learning_objectives_met,
        "technical_issues": record.technical_issues,
        "extra": record.extra_fields(),
    }


def feedback_row(record: FeedbackIn) -> dict[str, Any]:
    ratings = record.ratings
    return {
        "feedback_id": record.feedback_id,
        "session_id": record.session_id,
        "student_id": record.student_id,
        "tutor_id": record.tutor_id,
        "overall_rating": record.overall_rating,
        "is_first_session": record.first_session,
        "subject_knowledge_rating": ratings.subject_knowledge,
        "communication_rating": ratings.communication,
        "patience_rating": ratings.patience,
        "engagement_rating": ratings.engagement,
        "helpfulness_rating": ratings.helpfulness,
        "would_recommend": record.would_recommend,
        "would_work_again": record.would_work_again,
        "improvement_areas": record.improvement_areas,
        "free_text_feedback": record.free_text_feedback,
        "submitted_at": record.timestamp,
        "extra": record.extra_fields(),
    }


def tutor_event_row(record: TutorEventIn) -> dict[str, Any]:
    return {
        "event_id": record.event_id,
        "tutor_id": record.tutor_id,
        "event_type": record.event_type,
        "event_timestamp": record.event_timestamp,
        "metadata": record.metadata,
        "extra": record.extra_fields(),
    }


ROW_BUILDERS: dict[str, Any] = {
    "tutors": tutor_row,
    "students": student_row,
    "sessions": session_row,
    "feedback": feedback_row,
    "tutor_events": tutor_event_row,
}


def to_row(kind: str, record: WireRecord) -> dict[str, Any]:
    row: dict[str, Any] = ROW_BUILDERS[kind](record)
    # A row fresh from its builder holds content only: hashed as is, same as content_hash().
    # The hash is of plaintext: the encrypted columns get a fresh nonce on every write, so
    # only the plaintext tells an unchanged re-sent record from a changed one.
    row["content_hash"] = _digest(row)
    if isinstance(record, TutorIn):
        row["email_hmac"] = email_hmac(record.email)
    return row


def content_hash(row: dict[str, Any]) -> str:
    return _digest({k: v for k, v in row.items() if k not in NON_CONTENT | DERIVED})


def _digest(content: dict[str, Any]) -> str:
    encoded = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(
        key for key, value in new.items() if key not in NON_CONTENT and old.get(key) != value
    )
