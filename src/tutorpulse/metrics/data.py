"""Point-in-time market data as columnar frames: the one input of metrics, flags and features.

``load_market_data`` reads what the database holds up to the end of a day (timestamps strictly
before the next midnight UTC) so that every computation built on it is as-of correct; the same
frames serve one day (the pipeline) or many (training features).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import Connection, Select, bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Executable

from tutorpulse.marketplace.models import StudentFeedback, Tutor, TutorEvent, TutoringSession

# How far back one as-of computation looks, per kind: events cover the longest window (90
# days, which includes the 28-day baselines of the trends); sessions add enough history for
# "mean of the last 30 rated sessions"; feedback signals look back 30 days.
LOOKBACK_DAYS = 120
EVENT_LOOKBACK_DAYS = 91
FEEDBACK_LOOKBACK_DAYS = 31


def day_end(day: date) -> datetime:
    """The first instant after ``day`` (UTC): data "as of day" is strictly before it."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class MarketData:
    """Frames of tutors, sessions, feedback and events (UTC ``datetime64`` columns)."""

    tutors: pd.DataFrame
    sessions: pd.DataFrame
    feedback: pd.DataFrame
    events: pd.DataFrame

    def until(self, moment: datetime) -> MarketData:
        """Only what happened strictly before ``moment`` (removes the future)."""
        stamp = pd.Timestamp(moment)
        return MarketData(
            tutors=self.tutors[self.tutors["onboarding_date"] < stamp],
            sessions=self.sessions[self.sessions["scheduled_start"] < stamp],
            feedback=self.feedback[self.feedback["submitted_at"] < stamp],
            events=self.events[self.events["event_timestamp"] < stamp],
        )


SESSION_COLUMNS = (
    "session_id",
    "tutor_id",
    "student_id",
    "session_number",
    "scheduled_start",
    "status",
    "no_show",
    "tutor_initiated_reschedule",
    "late_start_minutes",
    "engagement_score",
    "student_rating",
    "learning_objectives_met",
    "technical_issues",
    "subject",
    "session_type",
)
FEEDBACK_COLUMNS = (
    "tutor_id",
    "session_id",
    "submitted_at",
    "overall_rating",
    "is_first_session",
    "would_recommend",
    "would_work_again",
    "subject_knowledge_rating",
)
EVENT_COLUMNS = (
    "tutor_id",
    "event_type",
    "event_timestamp",
    "initiated_by",
    "hours_notice",
    "response_minutes",
    "prep_minutes",
    "hours_before",
    "hours_after",
)
TUTOR_COLUMNS = ("tutor_id", "onboarding_date", "baseline_sessions_per_week", "subjects", "source")

# What PostgreSQL's COPY text is parsed as. Declared, not inferred: pandas infers each chunk
# of a large read on its own, so a column empty in one chunk and filled in the next came back
# mixed (DtypeWarning), and an id such as "0042" would have become the number 42. Text stays
# text (times and "t"/"f" booleans included: ``market_data`` converts them); NOT NULL integer
# columns are int64; the rest float64, as ``market_data`` makes them anyway.
TEXT, INTEGER, FLOAT = "str", "int64", "float64"
CSV_DTYPES: dict[str, str] = {
    "tutor_id": TEXT,
    "onboarding_date": TEXT,
    "baseline_sessions_per_week": FLOAT,
    "subjects": TEXT,
    "source": TEXT,
    "session_id": TEXT,
    "student_id": TEXT,
    "session_number": INTEGER,
    "scheduled_start": TEXT,
    "status": TEXT,
    "no_show": TEXT,
    "tutor_initiated_reschedule": TEXT,
    "late_start_minutes": FLOAT,
    "engagement_score": FLOAT,
    "student_rating": FLOAT,
    "learning_objectives_met": TEXT,
    "technical_issues": TEXT,
    "subject": TEXT,
    "session_type": TEXT,
    "submitted_at": TEXT,
    "overall_rating": INTEGER,
    "is_first_session": TEXT,
    "would_recommend": TEXT,
    "would_work_again": TEXT,
    "subject_knowledge_rating": INTEGER,
    "event_type": TEXT,
    "event_timestamp": TEXT,
    "initiated_by": TEXT,
    "hours_notice": FLOAT,
    "response_minutes": FLOAT,
    "prep_minutes": FLOAT,
    "hours_before": FLOAT,
    "hours_after": FLOAT,
}


def load_market_data(
    db: Session,
    *,
    as_of: date,
    lookback_days: int = LOOKBACK_DAYS,
    tutor_ids: list[str] | None = None,
    source: str | None = None,
) -> MarketData:
    """What one as-of computation needs, up to the end of ``as_of``."""
    end = day_end(as_of)
    return load_market_range(
        db,
        start=day_start(as_of - timedelta(days=lookback_days)),
        end=end,
        tutor_ids=tutor_ids,
        source=source,
        event_start=day_start(as_of - timedelta(days=min(lookback_days, EVENT_LOOKBACK_DAYS))),
        feedback_start=day_start(
            as_of - timedelta(days=min(lookback_days, FEEDBACK_LOOKBACK_DAYS))
        ),
    )


def load_market_range(
    db: Session,
    *,
    start: datetime,
    end: datetime,
    tutor_ids: list[str] | None = None,
    source: str | None = None,
    event_start: datetime | None = None,
    feedback_start: datetime | None = None,
) -> MarketData:
    """Everything in [start, end); events and feedback may start later (less to read)."""
    event_start = max(start, event_start or start)
    feedback_start = max(start, feedback_start or start)
    params: dict[str, Any] = {
        "start": start,
        "end": end,
        "end_day": end.date(),
        "event_start": event_start,
        "feedback_start": feedback_start,
    }
    if tutor_ids is not None:
        params["tutor_ids"] = list(tutor_ids)
    if source is not None:
        params["source"] = source
    queries = _queries(by_tutor=tutor_ids is not None, by_source=source is not None)
    # A few tutors (an incremental run) come back faster as ordinary rows than through COPY.
    bulk = tutor_ids is None or len(tutor_ids) > FEW_TUTORS
    frames = [
        _frame(db, query, columns, params, bulk=bulk)
        for query, columns in zip(
            queries,
            (TUTOR_COLUMNS, SESSION_COLUMNS, FEEDBACK_COLUMNS, EVENT_COLUMNS),
            strict=True,
        )
    ]
    return market_data(tutors=frames[0], sessions=frames[1], feedback=frames[2], events=frames[3])


FEW_TUTORS = 50


@functools.cache
def _queries(*, by_tutor: bool, by_source: bool) -> tuple[Select[*tuple[Any, ...]], ...]:
    """The four reads with bound parameters, built once: constructing the statements costs
    more than running them for one tutor, and a reused statement keeps its cache key."""
    tutor_query = select(
        Tutor.tutor_id,
        Tutor.onboarding_date,
        Tutor.baseline_sessions_per_week,
        Tutor.subjects,
        Tutor.source,
    ).where(Tutor.onboarding_date < bindparam("end_day"))
    session_query = select(*(getattr(TutoringSession, c) for c in SESSION_COLUMNS)).where(
        TutoringSession.scheduled_start >= bindparam("start"),
        TutoringSession.scheduled_start < bindparam("end"),
    )
    feedback_query = select(*(getattr(StudentFeedback, c) for c in FEEDBACK_COLUMNS)).where(
        StudentFeedback.submitted_at >= bindparam("feedback_start"),
        StudentFeedback.submitted_at < bindparam("end"),
    )
    meta = TutorEvent.event_metadata
    event_query = select(
        TutorEvent.tutor_id,
        TutorEvent.event_type,
        TutorEvent.event_timestamp,
        meta["initiated_by"].as_string(),
        meta["hours_notice"].as_float(),
        meta["response_minutes"].as_float(),
        meta["minutes"].as_float(),
        meta["weekly_hours_before"].as_float(),
        meta["weekly_hours_after"].as_float(),
    ).where(
        TutorEvent.event_timestamp >= bindparam("event_start"),
        TutorEvent.event_timestamp < bindparam("end"),
    )
    if by_tutor:
        tutor_query = tutor_query.where(Tutor.tutor_id.in_(bindparam("tutor_ids", expanding=True)))
        session_query = session_query.where(
            TutoringSession.tutor_id.in_(bindparam("tutor_ids", expanding=True))
        )
        feedback_query = feedback_query.where(
            StudentFeedback.tutor_id.in_(bindparam("tutor_ids", expanding=True))
        )
        event_query = event_query.where(
            TutorEvent.tutor_id.in_(bindparam("tutor_ids", expanding=True))
        )
    if by_source:
        tutor_query = tutor_query.where(Tutor.source == bindparam("source"))
        session_query = session_query.where(TutoringSession.source == bindparam("source"))
        feedback_query = feedback_query.where(StudentFeedback.source == bindparam("source"))
        event_query = event_query.where(TutorEvent.source == bindparam("source"))
    return tutor_query, session_query, feedback_query, event_query


def market_data(
    *, tutors: pd.DataFrame, sessions: pd.DataFrame, feedback: pd.DataFrame, events: pd.DataFrame
) -> MarketData:
    """Give raw frames (from the database or built by hand) the dtypes the metrics expect."""
    # Microseconds whatever the input (ISO text gives them, date objects would give seconds).
    tutors["onboarding_date"] = (
        pd.to_datetime(tutors["onboarding_date"]).dt.tz_localize(UTC).dt.as_unit("us")
    )
    tutors["subjects"] = tutors["subjects"].map(_json_list)
    tutors["baseline_sessions_per_week"] = tutors["baseline_sessions_per_week"].astype(float)
    _to_utc(sessions, "scheduled_start")
    for column in (
        "no_show",
        "tutor_initiated_reschedule",
        "learning_objectives_met",
        "technical_issues",
    ):
        sessions[column] = _boolean(sessions[column])
    for column in ("late_start_minutes", "engagement_score", "student_rating"):
        sessions[column] = sessions[column].astype(float)
    _to_utc(feedback, "submitted_at")
    for column in ("is_first_session", "would_recommend"):
        feedback[column] = _boolean(feedback[column])
    _to_utc(events, "event_timestamp")
    for column in EVENT_COLUMNS[4:]:
        events[column] = events[column].astype(float)
    return MarketData(tutors=tutors, sessions=sessions, feedback=feedback, events=events)


def _frame(
    db: Session,
    query: Select[*tuple[Any, ...]],
    columns: tuple[str, ...],
    params: dict[str, Any],
    *,
    bulk: bool = True,
) -> pd.DataFrame:
    # Bulk reads bypass ORM rows: building a Row per record costs more than the query itself
    # on hundreds of thousands of rows. Columns are converted afterwards, column by column.
    connection = db.connection()
    if bulk and connection.dialect.name == "postgresql":
        return _copy_frame(connection, query.params(params), columns)
    result = connection.execute(query, params)
    try:
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _copy_frame(
    connection: Connection, query: Executable, columns: tuple[str, ...]
) -> pd.DataFrame:
    """PostgreSQL streams the rows as CSV (``COPY ... TO STDOUT``), parsed by pandas in C."""
    assert isinstance(query, ClauseElement)
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.driver_connection
    assert driver is not None
    buffer = io.BytesIO()
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy,
    ):
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame(columns=list(columns))
    return pd.read_csv(
        buffer,
        names=list(columns),
        header=None,
        keep_default_na=True,
        dtype={column: CSV_DTYPES[column] for column in columns},
    )


# True/False also stand for 1/0 (SQLite) as dictionary keys.
BOOLEAN_TEXT = {"t": True, "f": False, True: True, False: False}


def _boolean(series: pd.Series) -> pd.Series:
    """Nullable booleans from bools, 1/0 or "t"/"f" (``BOOLEAN_TEXT``); anything else is NA.

    Element-wise comparisons rather than ``Series.map(dict)``, whose set-up dominates on the
    few rows of an incremental run."""
    if series.dtype == bool:
        return series.astype("boolean")
    values = series.to_numpy(dtype=object)
    true = (values == True) | (values == "t")  # noqa: E712 - 1 and True alike, as dict keys
    false = (values == False) | (values == "f")  # noqa: E712
    array = pd.arrays.BooleanArray(true, ~(true | false))
    return pd.Series(array, index=series.index, name=series.name)


def _json_list(value: Any) -> list[str]:
    if isinstance(value, str):
        decoded = orjson.loads(value)
        return list(decoded) if isinstance(decoded, list) else []
    return list(value or [])


def _to_utc(frame: pd.DataFrame, column: str) -> None:
    frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    if frame[column].dtype != "datetime64[ns, UTC]":
        frame[column] = frame[column].astype("datetime64[ns, UTC]")
