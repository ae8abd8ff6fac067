"""Fixed vocabularies of the simulated marketplace: subjects, families, reasons, modules."""

from __future__ import annotations

from typing import Final

import numpy as np

# Subject families of PRD "System Design Decisions §1"; the index is used in arrays.
STEM: Final = 0
LANGUAGE: Final = 1
TEST_PREP: Final = 2
FAMILY_NAMES: Final = ("stem", "language_writing", "test_prep")
FAMILY_LABELS: Final = ("STEM", "Language/Writing", "Test Prep")

SUBJECTS_BY_FAMILY: Final[tuple[tuple[str, ...], ...]] = (
    (
        "Mathematics",
        "Algebra",
        "Geometry",
        "Calculus",
        "Statistics",
        "Physics",
        "Chemistry",
        "Biology",
        "Computer Science",
    ),
    (
        "English",
        "Essay Writing",
        "Literature",
        "Reading Comprehension",
        "Spanish",
        "French",
        "ESL",
    ),
    ("SAT Prep", "ACT Prep", "AP Exam Prep", "GRE Prep", "GMAT Prep", "LSAT Prep"),
)
SUBJECTS: Final[tuple[str, ...]] = tuple(s for family in SUBJECTS_BY_FAMILY for s in family)
SUBJECT_FAMILY: Final = np.array(
    [f for f, family in enumerate(SUBJECTS_BY_FAMILY) for _ in family], dtype=np.int8
)
FAMILY_OF_SUBJECT: Final[dict[str, int]] = {
    s: int(SUBJECT_FAMILY[i]) for i, s in enumerate(SUBJECTS)
}
# Graduate-admission tests are taken by adults, the rest by school pupils.
ADULT_SUBJECTS: Final = frozenset({"GRE Prep", "GMAT Prep", "LSAT Prep"})

ARCHETYPES: Final = ("high_performer", "at_risk", "new_tutor", "steady", "churner")
HIGH_PERFORMER: Final = 0
AT_RISK: Final = 1
NEW_TUTOR: Final = 2
STEADY: Final = 3
CHURNER: Final = 4

EDUCATION_LEVELS: Final = (
    "Bachelor's",
    "Master's",
    "PhD",
    "Teaching Credential",
    "Some College",
)
EDUCATION_WEIGHTS: Final = (0.42, 0.3, 0.08, 0.12, 0.08)

TUTOR_RESCHEDULE_REASONS: Final = (
    "personal",
    "scheduling_conflict",
    "illness",
    "family_emergency",
    "technical_problem",
    "other_commitment",
)
STUDENT_RESCHEDULE_REASONS: Final = ("student_request", "exam_conflict", "student_illness")

TRAINING_MODULES: Final = (
    "onboarding-101",
    "platform-basics",
    "first-session-excellence",
    "engagement-techniques",
    "online-whiteboard",
    "feedback-and-growth",
    "exam-strategies",
    "inclusive-teaching",
)
# The first modules every new tutor is asked to complete.
ONBOARDING_MODULES: Final = 3

# Session start hours offered by the marketplace (UTC is the marketplace clock; see __init__).
SESSION_HOURS: Final = np.arange(7, 22)
# Weekdays: a small morning/midday population (adults, home-schooling) and the after-school and
# evening peak; weekends: a flatter daytime shape.
WEEKDAY_HOUR_WEIGHTS: Final = np.array(
    [2, 3, 3.5, 3.5, 3.5, 3.5, 3.5, 4.5, 9, 12, 13, 12, 10, 8, 5.5], dtype=np.float64
)
WEEKEND_HOUR_WEIGHTS: Final = np.array(
    [2, 5, 8.5, 10.5, 10.5, 9, 9, 9.5, 9.5, 8, 6.5, 5, 4, 3, 2], dtype=np.float64
)
# Relative booking volume Monday..Sunday (mean 1): weekends are quieter.
WEEKDAY_VOLUME: Final = np.array([1.08, 1.1, 1.1, 1.08, 0.96, 0.8, 0.88], dtype=np.float64)
# Hours at which tutors log in / answer messages (00..23), a day-long shape with evening peak.
ACTIVITY_HOUR_WEIGHTS: Final = np.array(
    [0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 2.5, 3, 3, 3, 3, 3, 3.2, 3.8, 4.2, 4.5, 4.5, 4.2, 3.8,
     3, 2, 1],
    dtype=np.float64,
)  # fmt: skip

GRADE_NAMES: Final = {
    6: "1st grade",
    7: "2nd grade",
    8: "3rd grade",
    9: "4th grade",
    10: "5th grade",
    11: "6th grade",
    12: "7th grade",
    13: "8th grade",
    14: "9th grade",
    15: "10th grade",
    16: "11th grade",
    17: "12th grade",
}


def grade_level(age: int) -> str:
    if age < 6:
        return "kindergarten"
    if age <= 17:
        return GRADE_NAMES[age]
    if age <= 22:
        return "college"
    return "adult"
