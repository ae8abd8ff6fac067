"""Integrity of a generated dataset: ids, references, ranges, churn, time order, numbering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tutorpulse.simulator.dataset import RATING_NAMES, Dataset
from tutorpulse.simulator.records import ID_PREFIX

EXAMPLES = 3


@dataclass
class IntegrityCheck:
    name: str
    description: str
    checked: int
    violations: int
    examples: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.violations == 0

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "checked": self.checked,
            "violations": self.violations,
            "examples": self.examples,
            "verdict": self.verdict,
        }


def _check(
    name: str, description: str, bad: pd.Series | np.ndarray, labels: pd.Series
) -> IntegrityCheck:
    mask = np.asarray(bad, dtype=bool)
    examples = [str(x) for x in labels[mask].head(EXAMPLES).tolist()] if mask.any() else []
    return IntegrityCheck(name, description, int(mask.size), int(mask.sum()), examples)


def _by_id(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Index by id for look-ups; duplicated ids are reported by ``check_unique_ids``."""
    return frame.drop_duplicates(column).set_index(column)


def check_unique_ids(data: Dataset) -> list[IntegrityCheck]:
    result = []
    for frame_name, frame, column in (
        ("tutors", data.tutors, "tutor_id"),
        ("students", data.students, "student_id"),
        ("sessions", data.sessions, "session_id"),
        ("feedback", data.feedback, "feedback_id"),
        ("tutor_events", data.events, "event_id"),
    ):
        ids = frame[column].astype(str)
        duplicated = ids.duplicated(keep="first")
        result.append(
            _check(f"unique_{frame_name}", f"{column} unique in {frame_name}", duplicated, ids)
        )
        foreign = ~ids.str.startswith(ID_PREFIX)
        result.append(
            _check(
                f"prefixed_{frame_name}", f"{column} carries the '{ID_PREFIX}' prefix", foreign, ids
            )
        )
    one_per_session = data.feedback["session_id"].duplicated()
    result.append(
        _check(
            "one_feedback_per_session",
            "at most one feedback per session",
            one_per_session,
            data.feedback["session_id"],
        )
    )
    return result


def check_references(data: Dataset) -> list[IntegrityCheck]:
    tutors = set(data.tutors["tutor_id"])
    students = set(data.students["student_id"])
    s, f, e = data.sessions, data.feedback, data.events
    session_index = _by_id(s, "session_id")
    joined = f.join(
        session_index[["tutor_id", "student_id", "status"]].add_suffix("_session"), on="session_id"
    )
    reschedules = e[e["event_type"] == "reschedule_request"]
    sessions = set(s["session_id"])
    return [
        _check(
            "session_tutor_exists",
            "sessions reference a known tutor",
            ~s["tutor_id"].isin(tutors),
            s["session_id"],
        ),
        _check(
            "session_student_exists",
            "sessions reference a known student",
            ~s["student_id"].isin(students),
            s["session_id"],
        ),
        _check(
            "event_tutor_exists",
            "events reference a known tutor",
            ~e["tutor_id"].isin(tutors),
            e["event_id"],
        ),
        _check(
            "feedback_session_matches",
            "feedback references a held session of the same tutor and student",
            joined["tutor_id_session"].isna()
            | (joined["tutor_id_session"] != joined["tutor_id"])
            | (joined["student_id_session"] != joined["student_id"])
            | (joined["status_session"] != "completed"),
            joined["feedback_id"],
        ),
        _check(
            "reschedule_session_exists",
            "reschedule requests reference a known session",
            ~reschedules["meta_session_id"].isin(sessions),
            reschedules["event_id"],
        ),
    ]


def check_ranges(data: Dataset) -> list[IntegrityCheck]:
    s, f, t = data.sessions, data.feedback, data.tutors
    held = s["status"] == "completed"
    missed = s["status"] == "no_show"
    done = held | missed
    rating_bad = np.zeros(len(f), dtype=bool)
    for name in ("overall_rating", *(f"rating_{r}" for r in RATING_NAMES)):
        values = pd.to_numeric(f[name], errors="coerce")
        rating_bad |= ~values.between(1, 5).to_numpy() | (values % 1 != 0).to_numpy()
    engagement = pd.to_numeric(s["engagement_score"], errors="coerce")
    text_length = f["free_text_feedback"].fillna("").str.len()
    baseline = pd.to_numeric(t["baseline_sessions_per_week"], errors="coerce")
    return [
        _check(
            "ratings_in_range", "feedback ratings are integers 1-5", rating_bad, f["feedback_id"]
        ),
        _check(
            "session_values_in_range",
            "engagement 0-1, late start >= 0, duration > 0, known type and status",
            (held & ~engagement.between(0, 1))
            | (done & ~(pd.to_numeric(s["late_start_minutes"], errors="coerce") >= 0))
            | ~(pd.to_numeric(s["duration_minutes"], errors="coerce") > 0)
            | ~s["session_type"].isin(["1-on-1", "group"])
            | ~s["status"].isin(["scheduled", "completed", "no_show", "cancelled"]),
            s["session_id"],
        ),
        _check(
            "session_status_consistent",
            "no_show matches status; actual_start set exactly for held sessions",
            (done & (s["no_show"].astype("boolean") != missed))
            | (held & s["actual_start"].isna())
            | (~held & s["actual_start"].notna()),
            s["session_id"],
        ),
        _check(
            "free_text_length",
            "free-text feedback at most 500 characters",
            text_length > 500,
            f["feedback_id"],
        ),
        _check(
            "baseline_in_range",
            "baseline sessions per week within 5-30",
            ~baseline.between(5, 30),
            t["tutor_id"],
        ),
    ]


def check_feedback_consistency(data: Dataset) -> list[IntegrityCheck]:
    s, f = data.sessions, data.feedback
    joined = f.join(
        _by_id(s, "session_id")[
            ["session_number", "actual_start", "duration_minutes", "student_rating"]
        ],
        on="session_id",
    )
    ends = joined["actual_start"] + pd.to_timedelta(joined["duration_minutes"].fillna(0), unit="m")
    first = joined["session_number"] == 1
    rated = s[s["student_rating"].notna()]
    unmatched_rating = ~rated["session_id"].isin(set(f["session_id"]))
    return [
        _check(
            "first_session_flag",
            "first_session is true exactly when session_number == 1",
            joined["first_session"].astype(bool) != first,
            joined["feedback_id"],
        ),
        _check(
            "feedback_after_session",
            "feedback timestamp after the session ends",
            ~(joined["timestamp"] > ends),
            joined["feedback_id"],
        ),
        _check(
            "session_rating_matches_feedback",
            "sessions.student_rating equals the feedback's overall rating",
            joined["student_rating"].notna()
            & (joined["student_rating"] != joined["overall_rating"]),
            joined["feedback_id"],
        ),
        _check(
            "rating_has_feedback",
            "a session rating comes with a feedback record",
            unmatched_rating,
            rated["session_id"],
        ),
        _check(
            "first_session_questions",
            "would_work_again only (and always) for first sessions",
            joined["would_work_again"].notna() != first,
            joined["feedback_id"],
        ),
    ]


def check_churn_and_time(data: Dataset, churn_days: pd.DataFrame) -> list[IntegrityCheck]:
    """``churn_days``: ``tutor_id`` and ``churn_day`` (days since the start; NaN: none)."""
    churn = dict(zip(churn_days["tutor_id"], churn_days["churn_day"], strict=True))
    origin = pd.Timestamp(data.start, tz="UTC")

    def after_churn(frame: pd.DataFrame, column: str) -> pd.Series:
        day_of_churn = pd.to_numeric(frame["tutor_id"].map(churn), errors="coerce")
        limit = origin + pd.to_timedelta(day_of_churn + 1, unit="D")
        return limit.notna() & (frame[column] >= limit)

    s, e = data.sessions, data.events
    active_sessions = s[s["status"].isin(["completed", "no_show", "scheduled"])]
    status = _by_id(data.tutors, "tutor_id")["status"] if "status" in data.tutors else None
    churned_ids = {t for t, d in churn.items() if d == d}  # NaN != NaN: not churned
    checks = [
        _check(
            "no_sessions_after_churn",
            "no held, missed or booked session after the tutor's churn date",
            after_churn(active_sessions, "scheduled_start"),
            active_sessions["session_id"],
        ),
        _check(
            "no_events_after_churn",
            "no tutor event after the tutor's churn date",
            after_churn(e, "event_timestamp"),
            e["event_id"],
        ),
    ]
    if status is not None:
        observed_churned = status.eq("churned")
        mismatch = observed_churned != status.index.isin(churned_ids)
        checks.append(
            _check(
                "status_matches_churn",
                "tutor status 'churned' exactly for tutors churned by the DESIGN §5 definition",
                mismatch.to_numpy(),
                pd.Series(status.index),
            )
        )
    late_start = s["actual_start"].notna() & (s["actual_start"] < s["scheduled_start"])
    reschedules = e[e["event_type"] == "reschedule_request"]
    session_start = reschedules["meta_session_id"].map(_by_id(s, "session_id")["scheduled_start"])
    checks += [
        _check(
            "actual_after_scheduled",
            "actual_start is not before scheduled_start",
            late_start,
            s["session_id"],
        ),
        _check(
            "reschedule_before_session",
            "reschedule requests happen before the session starts",
            session_start.notna() & ~(reschedules["event_timestamp"] < session_start),
            reschedules["event_id"],
        ),
        _check(
            "within_period",
            "events fall inside the generated period",
            (e["event_timestamp"] < origin)
            | (e["event_timestamp"] >= origin + pd.Timedelta(days=data.days)),
            e["event_id"],
        ),
    ]
    return checks


def check_session_numbers(data: Dataset) -> IntegrityCheck:
    """Per student-tutor pair, numbers run 1, 2, 3... (older pairs may start above 1)."""
    s = data.sessions.sort_values(["tutor_id", "student_id", "scheduled_start", "session_number"])
    same_pair = (s["tutor_id"] == s["tutor_id"].shift()) & (
        s["student_id"] == s["student_id"].shift()
    )
    step = s["session_number"] - s["session_number"].shift()
    broken = same_pair & (step != 1)
    onboarding = dict(
        zip(
            data.tutors["tutor_id"],
            pd.to_datetime(data.tutors["onboarding_date"].astype(str)),
            strict=True,
        )
    )
    started_inside = s["tutor_id"].map(onboarding) >= pd.Timestamp(data.start)
    first_in_data = ~same_pair
    late_first = first_in_data & started_inside & (s["session_number"] != 1)
    bad = broken | late_first
    labels = s["session_id"] + " (#" + s["session_number"].astype(str) + ")"
    return _check(
        "session_number_consecutive",
        "session_number consecutive per student-tutor pair, starting at 1 for new tutors",
        bad,
        labels,
    )


def run_integrity(data: Dataset, churn_days: pd.DataFrame) -> list[IntegrityCheck]:
    checks = check_unique_ids(data)
    checks += check_references(data)
    checks += check_ranges(data)
    checks += check_feedback_consistency(data)
    checks += check_churn_and_time(data, churn_days)
    checks.append(check_session_numbers(data))
    return checks
