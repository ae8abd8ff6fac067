"""Build in-memory MarketData frames by hand, for exact metric expectations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from tutorpulse.metrics.data import (
    EVENT_COLUMNS,
    FEEDBACK_COLUMNS,
    SESSION_COLUMNS,
    TUTOR_COLUMNS,
    MarketData,
    market_data,
)

AS_OF = date(2025, 3, 31)


def at(days_before: float, hour: int = 16) -> datetime:
    """A moment ``days_before`` days before AS_OF (0 = on AS_OF) at ``hour`` UTC."""
    base = datetime(AS_OF.year, AS_OF.month, AS_OF.day, hour, tzinfo=UTC)
    return base - timedelta(days=days_before)


class MarketBuilder:
    def __init__(self) -> None:
        self.tutors: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.feedback: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._ids = 0

    def tutor(
        self, tutor_id: str, *, onboarded_days_before: int = 400, baseline: float = 10
    ) -> MarketBuilder:
        onboarding = AS_OF - timedelta(days=onboarded_days_before)
        self.tutors.append(
            {
                "tutor_id": tutor_id,
                "onboarding_date": onboarding,
                "baseline_sessions_per_week": baseline,
                "subjects": ["Mathematics"],
                "source": "synthetic",
            }
        )
        return self

    def session(
        self,
        tutor_id: str,
        when: datetime,
        *,
        rating: float | None = 5.0,
        no_show: bool = False,
        number: int = 2,
        student: str = "s1",
        rescheduled: bool = False,
        late: int = 0,
        objectives: bool = True,
        technical: bool = False,
        status: str | None = None,
    ) -> MarketBuilder:
        self._ids += 1
        self.sessions.append(
            {
                "session_id": f"x{self._ids}",
                "tutor_id": tutor_id,
                "student_id": student,
                "session_number": number,
                "scheduled_start": when,
                "status": status or ("no_show" if no_show else "completed"),
                "no_show": no_show,
                "tutor_initiated_reschedule": rescheduled,
                "late_start_minutes": None if no_show else late,
                "engagement_score": None if no_show else 0.8,
                "student_rating": None if no_show else rating,
                "learning_objectives_met": False if no_show else objectives,
                "technical_issues": technical,
                "subject": "Mathematics",
                "session_type": "1-on-1",
            }
        )
        return self

    def event(self, tutor_id: str, when: datetime, event_type: str, **meta: Any) -> MarketBuilder:
        record = dict.fromkeys(EVENT_COLUMNS)
        record |= {"tutor_id": tutor_id, "event_type": event_type, "event_timestamp": when}
        record |= meta
        self.events.append(record)
        return self

    def feedback_row(self, tutor_id: str, when: datetime, **values: Any) -> MarketBuilder:
        record = {
            "tutor_id": tutor_id,
            "session_id": f"x{self._ids}",
            "submitted_at": when,
            "overall_rating": 4,
            "is_first_session": True,
            "would_recommend": True,
            "would_work_again": "yes",
            "subject_knowledge_rating": 4,
        } | values
        self.feedback.append(record)
        return self

    def build(self) -> MarketData:
        return market_data(
            tutors=pd.DataFrame(self.tutors, columns=list(TUTOR_COLUMNS)),
            sessions=pd.DataFrame(self.sessions, columns=list(SESSION_COLUMNS)),
            feedback=pd.DataFrame(self.feedback, columns=list(FEEDBACK_COLUMNS)),
            events=pd.DataFrame(self.events, columns=list(EVENT_COLUMNS)),
        )
