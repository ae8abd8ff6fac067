"""The market-data frames come back with the same, declared dtypes on both backends, and
reading them raises no pandas warning (PostgreSQL's COPY is parsed in chunks: a text column
empty in one chunk and filled in another used to come back mixed, with a DtypeWarning)."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import insert
from sqlalchemy.orm import Session

from tutorpulse.marketplace.models import Tutor, TutorEvent
from tutorpulse.metrics import data
from tutorpulse.metrics.data import load_market_range

START = datetime(2025, 1, 1, tzinfo=UTC)
# More rows than pandas' C parser reads in one chunk (65,536 lines for nine columns), the
# first chunk without any ``initiated_by``: the shape that produced the warning.
QUIET_EVENTS = 70_000
RESCHEDULES = 3_000
# An id that reads as a number: it must stay the text it is (the joins are on text).
NUMERIC_LOOKING_ID = "0042"


def _seed(db: Session) -> None:
    for tutor_id in ("t_dtypes", NUMERIC_LOOKING_ID):
        db.add(
            Tutor(
                tutor_id=tutor_id,
                name=f"Tutor {tutor_id}",
                email=f"{tutor_id}@example.org",
                onboarding_date=date(2024, 9, 1),
                subjects=["Mathematics"],
                education_level="Master",
                location="London",
                baseline_sessions_per_week=12,
                source="synthetic",
                content_hash="x" * 32,
            )
        )
    db.flush()
    rows = [
        {
            "event_id": f"e{i:06d}",
            "tutor_id": "t_dtypes",
            "event_type": "login",
            "event_timestamp": START + timedelta(seconds=i),
            "event_metadata": {},
            "source": "synthetic",
            "content_hash": "x" * 32,
        }
        for i in range(QUIET_EVENTS)
    ]
    rows += [
        {
            "event_id": f"r{i:06d}",
            "tutor_id": NUMERIC_LOOKING_ID,
            "event_type": "reschedule_request",
            "event_timestamp": START + timedelta(seconds=QUIET_EVENTS + i),
            "event_metadata": {"initiated_by": "tutor", "hours_notice": 6},
            "source": "synthetic",
            "content_hash": "x" * 32,
        }
        for i in range(RESCHEDULES)
    ]
    db.execute(insert(TutorEvent), rows)
    db.flush()


def test_market_frames_load_without_warnings_and_with_declared_dtypes(db: Session) -> None:
    _seed(db)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # DtypeWarning (or any other) fails the test
        market = load_market_range(db, start=START, end=START + timedelta(days=2))
    events = market.events
    assert len(events) == QUIET_EVENTS + RESCHEDULES
    assert events["initiated_by"].value_counts().to_dict() == {"tutor": RESCHEDULES}
    assert int(events["initiated_by"].isna().sum()) == QUIET_EVENTS
    assert events["hours_notice"].sum() == 6 * RESCHEDULES
    assert set(events["tutor_id"]) == {"t_dtypes", NUMERIC_LOOKING_ID}
    assert set(market.tutors["tutor_id"]) == {"t_dtypes", NUMERIC_LOOKING_ID}
    for column in ("tutor_id", "event_type", "initiated_by"):
        assert pd.api.types.is_string_dtype(events[column]), column
    assert str(events["event_timestamp"].dtype) == "datetime64[ns, UTC]"


def test_every_column_read_has_a_declared_dtype() -> None:
    """A column added to a read without a dtype would bring the chunked inference back."""
    for columns in (
        data.TUTOR_COLUMNS,
        data.SESSION_COLUMNS,
        data.FEEDBACK_COLUMNS,
        data.EVENT_COLUMNS,
    ):
        assert set(columns) <= set(data.CSV_DTYPES), set(columns) - set(data.CSV_DTYPES)
