"""Student free-text feedback from templates conditioned on the ratings and what went wrong.

Texts are assembled from an opener (by rating band), one or two remarks (about the subject,
or about the problems the session really had: lateness, technical issues, unclear explanations)
and an optional closer, so that the same sentence rarely repeats.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from tutorpulse.simulator import catalog

MAX_TEXT = 500

OPENERS: Final[dict[int, tuple[str, ...]]] = {
    5: (
        "Amazing session!",
        "Best tutor I've had so far.",
        "Really great session.",
        "Loved this session.",
        "Super helpful as always.",
        "Excellent!",
        "So glad I booked this.",
        "Fantastic tutor.",
        "This was exactly what I needed.",
    ),
    4: (
        "Good session overall.",
        "Pretty helpful.",
        "Nice session.",
        "Solid session.",
        "Helpful, thanks.",
        "Went well.",
        "I learned a lot today.",
        "Mostly great.",
    ),
    3: (
        "It was okay.",
        "Mixed feelings about this one.",
        "Decent, but could be better.",
        "Average session.",
        "Some parts were helpful.",
        "Not bad, not great.",
        "So-so.",
    ),
    2: (
        "Disappointing session.",
        "Not what I expected.",
        "This didn't really help.",
        "I struggled to follow.",
        "Pretty frustrating.",
        "Not a good fit for me.",
        "Honestly not great.",
    ),
}
GOOD_REMARKS: Final = (
    "The explanations of {topic} finally made sense.",
    "Very patient when I got stuck on {topic}.",
    "Clearly knows {subject} really well.",
    "We worked through {topic} step by step.",
    "Made {topic} feel a lot less scary.",
    "Great examples for {topic}.",
    "Kept me engaged the whole time.",
    "Gave me useful practice problems for {topic}.",
    "I feel more confident about {subject} now.",
    "Checked that I understood before moving on.",
)
MIXED_REMARKS: Final = (
    "We only covered part of {topic}.",
    "Some of the {topic} explanations went too fast.",
    "Knows {subject} but the pace was uneven.",
    "I still have questions about {topic}.",
    "Felt a bit rushed at the end.",
    "Would like more practice on {topic} next time.",
)
POOR_REMARKS: Final = (
    "I still don't understand {topic}.",
    "The explanations of {topic} were confusing.",
    "Didn't seem prepared for {subject}.",
    "Felt like the tutor was distracted.",
    "We spent most of the time on things I already knew.",
    "Wasn't patient when I asked questions about {topic}.",
)
LATE_REMARKS: Final = (
    "Started {late} minutes late.",
    "The tutor joined {late} minutes after the start.",
    "Lost {late} minutes at the beginning waiting.",
)
TECH_REMARKS: Final = (
    "We had audio problems for part of the session.",
    "The video kept freezing.",
    "The whiteboard didn't work properly.",
    "Connection issues got in the way.",
)
CLOSERS: Final[dict[int, tuple[str, ...]]] = {
    5: ("Thank you!", "Will definitely book again.", "Highly recommend.", "10/10.", ""),
    4: ("Thanks!", "Will book again.", "Looking forward to the next one.", ""),
    3: ("We'll see next time.", "Hoping the next one is better.", ""),
    2: ("Probably looking for another tutor.", "Not sure I'll book again.", ""),
}
TOPICS: Final[dict[int, tuple[str, ...]]] = {
    catalog.STEM: (
        "fractions",
        "linear equations",
        "factoring",
        "derivatives",
        "integrals",
        "probability",
        "Newton's laws",
        "stoichiometry",
        "cell biology",
        "loops and functions",
        "word problems",
        "the homework",
    ),
    catalog.LANGUAGE: (
        "essay structure",
        "thesis statements",
        "grammar",
        "vocabulary",
        "verb conjugations",
        "reading comprehension",
        "my college essay",
        "the homework",
        "pronunciation",
    ),
    catalog.TEST_PREP: (
        "the math section",
        "reading passages",
        "time management",
        "practice test questions",
        "the verbal section",
        "test strategy",
        "data sufficiency",
        "logic games",
    ),
}


def band(rating: int) -> int:
    return 2 if rating <= 2 else rating


def compose(
    rng: np.random.Generator,
    *,
    rating: int,
    subject: int,
    late_minutes: int,
    technical_issues: bool,
    objectives_met: bool,
) -> str:
    level = band(rating)
    family = int(catalog.SUBJECT_FAMILY[subject])
    topics = TOPICS[family]
    values = {"topic": topics[int(rng.integers(len(topics)))], "subject": catalog.SUBJECTS[subject]}
    parts = [OPENERS[level][int(rng.integers(len(OPENERS[level])))]]
    remarks: list[str] = []
    if late_minutes >= 8 and (level <= 3 or rng.random() < 0.3):
        remarks.append(LATE_REMARKS[int(rng.integers(len(LATE_REMARKS)))])
    if technical_issues and rng.random() < 0.7:
        remarks.append(TECH_REMARKS[int(rng.integers(len(TECH_REMARKS)))])
    pool = GOOD_REMARKS if level >= 4 else (MIXED_REMARKS if level == 3 else POOR_REMARKS)
    if not objectives_met and level >= 4:
        pool = MIXED_REMARKS
    wanted = 1 + int(rng.random() < 0.35)
    while len(remarks) < wanted:
        remark = pool[int(rng.integers(len(pool)))]
        if remark not in remarks:
            remarks.append(remark)
    parts.extend(r.format(late=late_minutes, **values) for r in remarks)
    closer = CLOSERS[level][int(rng.integers(len(CLOSERS[level])))]
    if closer:
        parts.append(closer)
    return " ".join(parts)[:MAX_TEXT]
