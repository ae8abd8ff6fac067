"""Turning simulated arrays into DESIGN.md §3 records (fixed key order, ISO-8601 UTC)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tutorpulse.simulator import catalog
from tutorpulse.simulator.records import iso_times, many_ids
from tutorpulse.simulator.tables import BookingTable

SUBJECT_NAMES = np.array(catalog.SUBJECTS, dtype=object)


def session_records(
    bookings: BookingTable,
    *,
    status: str,
    actual_start: list[str | None] | None = None,
    tutor_reschedule: npt.NDArray[np.bool_] | None = None,
    no_show: npt.NDArray[np.bool_] | None = None,
    late_minutes: npt.NDArray[np.int64] | None = None,
    engagement_score: npt.NDArray[np.float64] | None = None,
    rating: list[int | None] | None = None,
    text: list[str | None] | None = None,
    objectives_met: npt.NDArray[np.bool_] | None = None,
    technical_issues: npt.NDArray[np.bool_] | None = None,
) -> list[dict[str, Any]]:
    """Records of booked sessions; outcome arrays left out are written as null."""
    n = len(bookings)
    nulls: list[Any] = [None] * n
    starts = iso_times(bookings.start)
    subjects = SUBJECT_NAMES[bookings.subject.astype(np.int64)].tolist()
    columns = zip(
        many_ids("session", bookings.session),
        many_ids("tutor", bookings.tutor),
        many_ids("student", bookings.student),
        bookings.number.tolist(),
        starts,
        actual_start if actual_start is not None else nulls,
        bookings.duration.tolist(),
        subjects,
        np.where(bookings.group, "group", "1-on-1").tolist(),
        tutor_reschedule.tolist() if tutor_reschedule is not None else nulls,
        no_show.tolist() if no_show is not None else nulls,
        late_minutes.tolist() if late_minutes is not None else nulls,
        engagement_score.tolist() if engagement_score is not None else nulls,
        rating if rating is not None else nulls,
        text if text is not None else nulls,
        objectives_met.tolist() if objectives_met is not None else nulls,
        technical_issues.tolist() if technical_issues is not None else nulls,
        strict=True,
    )
    return [
        {
            "session_id": c[0],
            "tutor_id": c[1],
            "student_id": c[2],
            "session_number": c[3],
            "scheduled_start": c[4],
            "actual_start": c[5],
            "duration_minutes": c[6],
            "subject": c[7],
            "session_type": c[8],
            "tutor_initiated_reschedule": c[9],
            "no_show": c[10],
            "late_start_minutes": c[11],
            "engagement_score": c[12],
            "student_rating": c[13],
            "student_feedback_text": c[14],
            "learning_objectives_met": c[15],
            "technical_issues": c[16],
            "status": status,
        }
        for c in columns
    ]


def event_records(
    numbers: npt.NDArray[np.int64],
    tutors: npt.NDArray[np.int64],
    event_type: str,
    at: npt.NDArray[np.int64],
    metadata: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    n = len(numbers)
    metas: list[dict[str, Any]] = metadata if metadata is not None else [{} for _ in range(n)]
    return [
        {
            "event_id": event,
            "tutor_id": tutor,
            "event_type": event_type,
            "event_timestamp": ts,
            "metadata": meta,
        }
        for event, tutor, ts, meta in zip(
            many_ids("event", numbers), many_ids("tutor", tutors), iso_times(at), metas, strict=True
        )
    ]
