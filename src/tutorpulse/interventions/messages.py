"""Message templates. Tutor-facing text is growth-oriented and never mentions churn or risk."""

from __future__ import annotations

from typing import Any

from tutorpulse.interventions.rules import RULES_BY_CODE

# Words that must never reach a tutor (checked by a test over every template).
FORBIDDEN_FOR_TUTORS = ("churn", "risk", "score", "probab", "at-risk", "pip")

TUTOR_TEMPLATES: dict[tuple[str, str], tuple[str, str]] = {
    ("A1", "guide"): (
        "A resource picked for you: {guide}",
        "Hi {name}, great tutors keep sharpening their craft. We picked the '{guide}' for "
        "you: a ten-minute read with practical ideas you can try in your next session.",
    ),
    ("A1", "short_tips"): (
        "Three quick ideas for your next session",
        "Hi {name}, here are three quick, practical ideas from the '{guide}' that tutors "
        "love. Try one this week and see how your students respond!",
    ),
    ("A2", "standard"): (
        "A training module to grow your expertise",
        "Hi {name}, we've added the module '{module_id}' to your training list. It takes "
        "about 30 minutes and helps you explain tricky topics with confidence.",
    ),
    ("A3", "standard"): (
        "How did your first session go?",
        "Hi {name}, you just met a new student. How did it go? Two quick questions in your "
        "portal help us support you and your student.",
    ),
    ("A4", "standard"): (
        "Need a hand with scheduling?",
        "Hi {name}, we noticed your calendar has been busy with changes lately. Need help "
        "with scheduling? Our availability tools and team are here to make it easier.",
    ),
    ("PREP", "standard"): (
        "Get ready for a great first session",
        "Hi {name}, you have a first session with a new student coming up. A few minutes of "
        "prep makes a big difference: review their goals and plan a warm welcome.",
    ),
}


def tutor_message(
    code: str, variant: str, *, name: str, evidence: dict[str, Any]
) -> tuple[str, str]:
    subject, body = TUTOR_TEMPLATES.get((code, variant)) or TUTOR_TEMPLATES[(code, "standard")]
    values = {"name": name, "guide": "", "module_id": ""} | {
        k: v for k, v in evidence.items() if isinstance(v, str)
    }
    return subject.format(**values), body.format(**values)


def staff_message(code: str, *, tutor_id: str, reason: str, due: str | None) -> tuple[str, str]:
    rule = RULES_BY_CODE[code]
    subject = f"{rule.name}: tutor {tutor_id}"
    body = f"{rule.name} recommended for tutor {tutor_id}. Why: {reason}."
    if due:
        body += f" Due by {due} (UTC)."
    return subject, body
