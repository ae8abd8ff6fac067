"""A seeded, realistic DESIGN.md §3 dataset for benchmarks (no wall clock, no network).

The marketplace is small but shaped like the real thing: ~1,400 tutors whose booking volume
follows their ``baseline_sessions_per_week``, students who stick to one to three tutors (so
``session_number`` grows per pair), a few percent of no-shows, future bookings still
``scheduled`` at the end of the window, feedback for ~40% of the sessions and one or two tutor
events per session with the typed metadata of §3. Columns are drawn with NumPy in bulk; only
the final JSON encoding is a Python loop. Same arguments ⇒ byte-identical files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

DEFAULT_SEED = 20250106
START = np.datetime64("2025-01-06T00:00:00", "s")
SESSIONS_PER_DAY = 3000
SESSIONS_PER_STUDENT = 25
FEEDBACK_SHARE = 0.40
NO_SHOW_RATE = 0.04
SCHEDULED_SHARE = 0.02  # the last bookings of the window have not happened yet

SUBJECTS = (
    "Mathematics",
    "Physics",
    "Chemistry",
    "Biology",
    "English Writing",
    "Spanish",
    "French",
    "SAT Prep",
    "Computer Science",
    "History",
    "Economics",
    "Statistics",
)
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon")
LAST_NAMES = ("Lovelace", "Okafor", "Nguyen", "Patel", "Rossi", "Schmidt", "Silva", "Tanaka")
EDUCATION = ("Bachelor", "Master", "PhD", "Undergraduate")
LOCATIONS = ("Austin, TX", "Denver, CO", "London, UK", "Toronto, CA", "Madrid, ES", "Remote")
ARCHETYPES = ("steady", "rising_star", "burnout", "disengaging", "casual")
FEEDBACK_TEXTS = (
    "Clear explanations.",
    "Very patient with my questions.",
    "Started late again.",
    "Helped me prepare for the test.",
    "Could be better prepared.",
)
IMPROVEMENT_AREAS = ("late", "unprepared", "unclear", "not_patient", "technical_issues")
WOULD_WORK_AGAIN = ("yes", "maybe", "probably_not", "no")
RESCHEDULE_REASONS = ("conflict", "illness", "travel", "personal")
EXTRA_EVENT_TYPES = (
    "session_prep",
    "message_response",
    "reschedule_request",
    "availability_change",
    "training_completed",
)
EXTRA_EVENT_WEIGHTS = (0.40, 0.30, 0.15, 0.10, 0.05)


@dataclass(frozen=True)
class DatasetCounts:
    tutors: int
    students: int
    sessions: int
    feedback: int
    tutor_events: int

    def as_dict(self) -> dict[str, int]:
        return {
            "tutors": self.tutors,
            "students": self.students,
            "sessions": self.sessions,
            "feedback": self.feedback,
            "tutor_events": self.tutor_events,
        }

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())


def write_dataset(
    out_dir: Path, *, sessions: int, tutors: int = 1400, seed: int = DEFAULT_SEED
) -> DatasetCounts:
    """Write the five §3 files and a synthetic manifest into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    students = max(10, sessions // SESSIONS_PER_STUDENT)
    tutor_table = _tutors(rng, tutors)
    student_tutors = _student_tutors(rng, students, tutor_table["weight"])
    booked = _sessions(rng, sessions, tutor_table, student_tutors)
    counts = DatasetCounts(
        tutors=_write(out_dir / "tutors.jsonl", _tutor_records(rng, tutor_table)),
        students=_write(out_dir / "students.jsonl", _student_records(rng, students)),
        sessions=_write(out_dir / "sessions.jsonl", _session_records(booked)),
        feedback=_write(out_dir / "feedback.jsonl", _feedback_records(rng, booked)),
        tutor_events=_write(out_dir / "tutor_events.jsonl", _event_records(rng, booked)),
    )
    manifest = {"generator": "benchmarks/record_factory.py", "seed": seed, "source": "synthetic"}
    (out_dir / "manifest.json").write_bytes(orjson.dumps(manifest))
    return counts


def _write(path: Path, records: Iterator[dict[str, Any]]) -> int:
    count = 0
    with path.open("wb") as handle:
        for record in records:
            handle.write(orjson.dumps(record) + b"\n")
            count += 1
    return count


# ------------------------------------------------------------------- tutors
def _tutors(rng: np.random.Generator, count: int) -> dict[str, Any]:
    weekly = np.clip(rng.lognormal(np.log(14), 0.45, count), 2, 60).round(1)
    return {
        "count": count,
        "weekly": weekly,
        "weight": weekly / weekly.sum(),
        # Every tutor teaches one to three subjects; the first is the main one.
        "subjects": [
            list(rng.choice(len(SUBJECTS), size=int(rng.integers(1, 4)), replace=False))
            for _ in range(count)
        ],
    }


def _tutor_records(rng: np.random.Generator, table: dict[str, Any]) -> Iterator[dict[str, Any]]:
    count = table["count"]
    onboarding = rng.integers(0, 730, count)
    ages = rng.integers(19, 70, count)
    education = rng.integers(0, len(EDUCATION), count)
    location = rng.integers(0, len(LOCATIONS), count)
    archetype = rng.integers(0, len(ARCHETYPES), count)
    first_names = rng.integers(0, len(FIRST_NAMES), count)
    last_names = rng.integers(0, len(LAST_NAMES), count)
    first_day = date(2023, 1, 1)
    for i in range(count):
        yield {
            "tutor_id": _tutor_id(i),
            "name": f"{FIRST_NAMES[first_names[i]]} {LAST_NAMES[last_names[i]]}",
            "email": f"tutor{i}@example.org",
            "onboarding_date": (first_day + timedelta(days=int(onboarding[i]))).isoformat(),
            "subjects": [SUBJECTS[s] for s in table["subjects"][i]],
            "education_level": EDUCATION[education[i]],
            "location": LOCATIONS[location[i]],
            "baseline_sessions_per_week": float(table["weekly"][i]),
            "age": int(ages[i]),
            "behavioral_archetype": ARCHETYPES[archetype[i]],
        }


# ----------------------------------------------------------------- students
def _student_tutors(rng: np.random.Generator, count: int, tutor_weight: np.ndarray) -> np.ndarray:
    """Three tutors per student (busy tutors are picked more); most sessions go to the first."""
    return rng.choice(len(tutor_weight), size=(count, 3), p=tutor_weight)


def _student_records(rng: np.random.Generator, count: int) -> Iterator[dict[str, Any]]:
    ages = rng.integers(8, 19, count)
    interests = rng.integers(0, len(SUBJECTS), (count, 2))
    first_names = rng.integers(0, len(FIRST_NAMES), count)
    for i in range(count):
        age = int(ages[i])
        yield {
            "student_id": _student_id(i),
            "name": f"{FIRST_NAMES[first_names[i]]} Student{i}",
            "age": age,
            "grade_level": str(max(1, min(12, age - 5))),
            "subjects_interested": sorted({SUBJECTS[s] for s in interests[i]}),
        }


# ----------------------------------------------------------------- sessions
def _sessions(
    rng: np.random.Generator,
    count: int,
    tutors: dict[str, Any],
    student_tutors: np.ndarray,
) -> dict[str, np.ndarray]:
    """All session columns, ordered by scheduled start (the order an export would have)."""
    students = student_tutors.shape[0]
    student = rng.integers(0, students, count)
    slot = rng.choice(3, size=count, p=(0.7, 0.2, 0.1))
    tutor = student_tutors[student, slot]
    days = max(1, count // SESSIONS_PER_DAY)
    start = (
        START
        + rng.integers(0, days, count).astype("timedelta64[D]")
        + rng.integers(8, 22, count).astype("timedelta64[h]")
        + (rng.integers(0, 2, count) * 30).astype("timedelta64[m]")
    )
    order = np.argsort(start, kind="stable")
    student, tutor, start = student[order], tutor[order], start[order]
    main_subject = np.array([s[0] for s in tutors["subjects"]])
    status = np.where(rng.random(count) < NO_SHOW_RATE, "no_show", "completed").astype(object)
    status[int(count * (1 - SCHEDULED_SHARE)) :] = "scheduled"
    late = np.where(rng.random(count) < 0.7, 0, rng.exponential(6, count).round()).astype(int)
    return {
        "index": np.arange(count),
        "student": student,
        "tutor": tutor,
        "session_number": _pair_counts(student * tutors["count"] + tutor),
        "start": start,
        "late": np.minimum(late, 45),
        "duration": rng.choice((30, 45, 60, 90), size=count, p=(0.15, 0.15, 0.55, 0.15)),
        "subject": main_subject[tutor],
        "group": rng.random(count) < 0.1,
        "status": status,
        "reschedule": rng.random(count) < 0.06,
        "engagement": np.clip(rng.normal(0.72, 0.15, count), 0, 1).round(2),
        "rated": rng.random(count) < 0.7,
        "rating": np.clip(rng.normal(4.3, 0.8, count), 1, 5).round(1),
        "comment": rng.integers(-4 * len(FEEDBACK_TEXTS), len(FEEDBACK_TEXTS), count),
        "objectives": rng.random(count) < 0.8,
        "technical": rng.random(count) < 0.05,
    }


def _pair_counts(pair: np.ndarray) -> np.ndarray:
    """1 for the first session of each (student, tutor) pair in time order, 2 for the next…"""
    order = np.argsort(pair, kind="stable")  # stable: time order within each pair is kept
    sorted_pair = pair[order]
    starts = np.flatnonzero(np.r_[True, sorted_pair[1:] != sorted_pair[:-1]])
    run_lengths = np.diff(np.r_[starts, len(pair)])
    position = np.arange(len(pair)) - np.repeat(starts, run_lengths)
    numbers = np.empty(len(pair), dtype=np.int64)
    numbers[order] = position + 1
    return numbers


def _iso(moments: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(moments, unit="s"), "Z")


def _session_records(s: dict[str, np.ndarray]) -> Iterator[dict[str, Any]]:
    scheduled = _iso(s["start"])
    actual = _iso(s["start"] + s["late"].astype("timedelta64[m]"))
    for i in range(len(s["index"])):
        status = s["status"][i]
        record: dict[str, Any] = {
            "session_id": _session_id(i),
            "tutor_id": _tutor_id(s["tutor"][i]),
            "student_id": _student_id(s["student"][i]),
            "session_number": int(s["session_number"][i]),
            "scheduled_start": str(scheduled[i]),
            "duration_minutes": int(s["duration"][i]),
            "subject": SUBJECTS[s["subject"][i]],
            "session_type": "group" if s["group"][i] else "1-on-1",
        }
        if status == "scheduled":
            record |= {"status": "scheduled", "actual_start": None, "no_show": None}
        else:
            held = status == "completed"
            rated = held and bool(s["rated"][i])
            comment = int(s["comment"][i])
            record |= {
                "actual_start": str(actual[i]) if held else None,
                "tutor_initiated_reschedule": bool(s["reschedule"][i]),
                "no_show": not held,
                "late_start_minutes": int(s["late"][i]) if held else 0,
                "engagement_score": float(s["engagement"][i]) if held else None,
                "student_rating": float(s["rating"][i]) if rated else None,
                "student_feedback_text": FEEDBACK_TEXTS[comment]
                if rated and comment >= 0
                else None,
                "learning_objectives_met": bool(s["objectives"][i]) if held else False,
                "technical_issues": bool(s["technical"][i]),
            }
        yield record


# ----------------------------------------------------------------- feedback
def _feedback_records(
    rng: np.random.Generator, s: dict[str, np.ndarray]
) -> Iterator[dict[str, Any]]:
    count = len(s["index"])
    held = s["status"] == "completed"
    # FEEDBACK_SHARE of all sessions, drawn from the held ones only.
    chosen = np.flatnonzero(held & (rng.random(count) < FEEDBACK_SHARE / max(held.mean(), 1e-9)))
    overall = np.clip(np.rint(s["rating"][chosen] + rng.normal(0, 0.5, len(chosen))), 1, 5)
    categories = np.clip(overall[:, None] + rng.integers(-1, 2, (len(chosen), 5)), 1, 5)
    delay = rng.integers(10, 24 * 60, len(chosen)).astype("timedelta64[m]")
    end = s["start"][chosen] + s["duration"][chosen].astype("timedelta64[m]")
    submitted = _iso(end + delay)
    text = rng.integers(-2 * len(FEEDBACK_TEXTS), len(FEEDBACK_TEXTS), len(chosen))
    areas = rng.random((len(chosen), len(IMPROVEMENT_AREAS))) < 0.08
    for n, i in enumerate(chosen):
        rating = int(overall[n])
        record: dict[str, Any] = {
            "feedback_id": f"feedback_{i + 1:07d}",
            "session_id": _session_id(i),
            "student_id": _student_id(s["student"][i]),
            "tutor_id": _tutor_id(s["tutor"][i]),
            "overall_rating": rating,
            "first_session": bool(s["session_number"][i] == 1),
            "ratings": {
                "subject_knowledge": int(categories[n, 0]),
                "communication": int(categories[n, 1]),
                "patience": int(categories[n, 2]),
                "engagement": int(categories[n, 3]),
                "helpfulness": int(categories[n, 4]),
            },
            "would_recommend": rating >= 4,
            "free_text_feedback": FEEDBACK_TEXTS[text[n]] if text[n] >= 0 else None,
            "timestamp": str(submitted[n]),
            "would_work_again": WOULD_WORK_AGAIN[min(3, 5 - rating)],
        }
        picked = [IMPROVEMENT_AREAS[a] for a in np.flatnonzero(areas[n])]
        if picked:
            record["improvement_areas"] = picked
        yield record


# ------------------------------------------------------------- tutor events
def _event_records(rng: np.random.Generator, s: dict[str, np.ndarray]) -> Iterator[dict[str, Any]]:
    """A login before every session, and a second, typed event after half of them."""
    count = len(s["index"])
    login_at = _iso(s["start"] - rng.integers(5, 180, count).astype("timedelta64[m]"))
    second = rng.random(count) < 0.5
    kinds = rng.choice(len(EXTRA_EVENT_TYPES), size=count, p=EXTRA_EVENT_WEIGHTS)
    later_at = _iso(s["start"] + rng.integers(60, 600, count).astype("timedelta64[m]"))
    numbers = rng.random((count, 3))
    serial = 0
    for i in range(count):
        serial += 1
        tutor_id = _tutor_id(s["tutor"][i])
        yield {
            "event_id": f"event_{serial:08d}",
            "tutor_id": tutor_id,
            "event_type": "login",
            "event_timestamp": str(login_at[i]),
            "metadata": {},
        }
        if second[i]:
            serial += 1
            event_type = EXTRA_EVENT_TYPES[kinds[i]]
            yield {
                "event_id": f"event_{serial:08d}",
                "tutor_id": tutor_id,
                "event_type": event_type,
                "event_timestamp": str(later_at[i]),
                "metadata": _metadata(event_type, i, numbers[i]),
            }


def _metadata(event_type: str, session: int, u: np.ndarray) -> dict[str, Any]:
    if event_type == "session_prep":
        return {"minutes": round(float(u[0]) * 40, 1)}
    if event_type == "message_response":
        return {"response_minutes": round(float(u[0]) * 600, 1)}
    if event_type == "reschedule_request":
        return {
            "session_id": _session_id(session),
            "hours_notice": round(float(u[0]) * 72, 1),
            "reason": RESCHEDULE_REASONS[int(u[1] * len(RESCHEDULE_REASONS))],
            "initiated_by": "tutor" if u[2] < 0.6 else "student",
        }
    if event_type == "availability_change":
        before = round(float(u[0]) * 30 + 5, 1)
        return {"weekly_hours_before": before, "weekly_hours_after": round(before * float(u[1]), 1)}
    return {"module_id": f"module_{int(u[0] * 20):02d}"}


def _tutor_id(index: int) -> str:
    return f"tutor_{index + 1:05d}"


def _student_id(index: int) -> str:
    return f"student_{index + 1:06d}"


def _session_id(index: int) -> str:
    return f"session_{index + 1:07d}"
