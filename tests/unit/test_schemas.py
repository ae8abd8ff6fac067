"""Validation rules of the wire schemas, record by record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tutorpulse.ingest.rows import content_hash, to_row
from tutorpulse.ingest.schemas import FeedbackIn, SessionIn, StudentIn, TutorEventIn, TutorIn

from ..integration.helpers import session

SESSION: dict[str, Any] = session()


def test_status_is_derived_from_no_show() -> None:
    assert SessionIn.model_validate(SESSION).status == "completed"
    missed = SESSION | {"no_show": True, "actual_start": None}
    assert SessionIn.model_validate(missed).status == "no_show"


def test_offsets_are_normalised_to_utc_so_equal_instants_hash_equal() -> None:
    shifted = SESSION | {"scheduled_start": "2025-02-03T17:00:00+01:00"}
    a, b = SessionIn.model_validate(SESSION), SessionIn.model_validate(shifted)
    assert a.scheduled_start == datetime(2025, 2, 3, 16, tzinfo=UTC)
    assert content_hash(to_row("sessions", a)) == content_hash(to_row("sessions", b))


def test_scheduled_booking_has_no_outcome() -> None:
    booking = {k: v for k, v in SESSION.items() if k not in ("actual_start", "student_rating")}
    booking |= {"status": "scheduled", "no_show": None, "late_start_minutes": None}
    assert SessionIn.model_validate(booking).status == "scheduled"
    with pytest.raises(ValidationError, match="cannot be rated yet"):
        SessionIn.model_validate(booking | {"student_rating": 5})


def test_status_and_no_show_must_agree() -> None:
    with pytest.raises(ValidationError, match="contradicts status"):
        SessionIn.model_validate(SESSION | {"status": "no_show"})


def test_unknown_fields_are_kept_as_extra() -> None:
    record = SessionIn.model_validate(SESSION | {"room": "B12"})
    assert to_row("sessions", record)["extra"] == {"room": "B12"}


def test_feedback_ratings_are_whole_stars() -> None:
    feedback = {
        "feedback_id": "f1",
        "session_id": "x1",
        "student_id": "s1",
        "tutor_id": "t1",
        "overall_rating": 4,
        "first_session": True,
        "ratings": dict.fromkeys(
            ("subject_knowledge", "communication", "patience", "engagement", "helpfulness"), 4
        ),
        "would_recommend": True,
        "timestamp": "2025-02-03T17:00:00Z",
    }
    row = to_row("feedback", FeedbackIn.model_validate(feedback))
    assert row["is_first_session"] is True and row["patience_rating"] == 4
    with pytest.raises(ValidationError):
        FeedbackIn.model_validate(feedback | {"overall_rating": 4.5})
    with pytest.raises(ValidationError):
        FeedbackIn.model_validate(feedback | {"improvement_areas": ["rude"]})
    with pytest.raises(ValidationError):
        FeedbackIn.model_validate(feedback | {"free_text_feedback": "x" * 501})


@pytest.mark.parametrize(
    ("event_type", "metadata", "ok"),
    [
        ("login", {}, True),
        ("reschedule_request", {"hours_notice": 12, "initiated_by": "tutor"}, True),
        ("reschedule_request", {"hours_notice": -1, "initiated_by": "tutor"}, False),
        ("reschedule_request", {"hours_notice": 3, "initiated_by": "parent"}, False),
        ("availability_change", {"weekly_hours_before": 20, "weekly_hours_after": 10}, True),
        ("availability_change", {"weekly_hours_before": 20}, False),
        ("training_completed", {"module_id": "fs-101"}, True),
        ("message_response", {"response_minutes": 30}, True),
        ("session_prep", {"minutes": "ten"}, False),
        ("vacation", {}, False),
    ],
)
def test_event_metadata_is_typed_per_event(
    event_type: str, metadata: dict[str, Any], ok: bool
) -> None:
    record = {
        "event_id": "e1",
        "tutor_id": "t1",
        "event_type": event_type,
        "event_timestamp": "2025-02-03T09:00:00Z",
        "metadata": metadata,
    }
    if ok:
        TutorEventIn.model_validate(record)
    else:
        with pytest.raises(ValidationError):
            TutorEventIn.model_validate(record)


def test_tutor_email_and_dates() -> None:
    tutor = {
        "tutor_id": "t1",
        "name": "Ada",
        "email": "ada@example.org",
        "onboarding_date": "2024-09-01",
        "subjects": ["Mathematics"],
        "education_level": "Master",
        "location": "London",
        "baseline_sessions_per_week": 15,
    }
    assert to_row("tutors", TutorIn.model_validate(tutor))["status"] == "active"
    for bad in ({"email": "ada"}, {"onboarding_date": "01/09/2024"}, {"subjects": []}):
        with pytest.raises(ValidationError):
            TutorIn.model_validate(tutor | bad)


def test_student_grade_level_accepts_numbers() -> None:
    student = {
        "student_id": "s1",
        "name": "Alex",
        "age": 16,
        "grade_level": 11,
        "subjects_interested": [],
    }
    assert StudentIn.model_validate(student).grade_level == "11"


def test_nul_characters_are_refused_with_their_place() -> None:
    with pytest.raises(ValidationError, match="subject: contains a NUL character"):
        SessionIn.model_validate(SESSION | {"subject": "Ma\x00th"})
    with pytest.raises(ValidationError, match="NUL"):
        SessionIn.model_validate(SESSION | {"extra\x00key": 1})
