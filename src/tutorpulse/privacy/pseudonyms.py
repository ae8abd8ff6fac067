"""Stable, keyed pseudonyms: what a tutor sees instead of a student's name.

The same student always gets the same pseudonym (so a tutor can follow one learner's
feedback over time), but without the key nobody can map it back, or compute it from a
student id. The key is ``Settings.effective_pii_hmac_key``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from tutorpulse.config import get_settings

_ADJECTIVES = (
    "Amber", "Brave", "Bright", "Calm", "Clever", "Cosmic", "Curious", "Daring", "Eager",
    "Gentle", "Golden", "Happy", "Honest", "Jolly", "Keen", "Kind", "Lively", "Lucky",
    "Mellow", "Merry", "Nimble", "Noble", "Patient", "Plucky", "Quick", "Quiet", "Rapid",
    "Sunny", "Swift", "Thoughtful", "Witty", "Zesty",
)  # fmt: skip
_ANIMALS = (
    "Badger", "Beaver", "Crane", "Dolphin", "Eagle", "Falcon", "Fox", "Gecko", "Heron",
    "Ibis", "Jaguar", "Koala", "Lark", "Lynx", "Marten", "Narwhal", "Otter", "Owl", "Panda",
    "Puffin", "Quail", "Raven", "Robin", "Seal", "Sparrow", "Swan", "Tiger", "Turtle",
    "Walrus", "Wolf", "Wren", "Yak",
)  # fmt: skip
STUDENT_FIELDS = ("student_id", "student_name", "student_email", "student_age", "name", "age")


def pseudonym(student_id: str, *, key: bytes | None = None) -> str:
    """``"Student Curious Otter 42"``: stable per student and key, not reversible."""
    secret = key if key is not None else get_settings().effective_pii_hmac_key
    mac = hmac.new(secret, b"pseudonym:" + student_id.encode(), hashlib.sha256).digest()
    adjective = _ADJECTIVES[mac[0] % len(_ADJECTIVES)]
    animal = _ANIMALS[mac[1] % len(_ANIMALS)]
    number = int.from_bytes(mac[2:4], "big") % 100
    return f"Student {adjective} {animal} {number:02d}"


def pseudonymise_feedback(
    rows: Iterable[dict[str, Any]], *, key: bytes | None = None
) -> list[dict[str, Any]]:
    """Feedback rows as a tutor may see them: the student only as a pseudonym.

    Drops the student's id, name, email and age; adds ``student`` (the pseudonym).
    """
    shaped = []
    for row in rows:
        student_id = row.get("student_id")
        clean = {k: v for k, v in row.items() if k not in STUDENT_FIELDS}
        if student_id is not None:
            clean["student"] = pseudonym(str(student_id), key=key)
        shaped.append(clean)
    return shaped


def suppress_small_groups(
    groups: dict[str, dict[str, Any]], *, count_key: str = "count", min_size: int
) -> dict[str, dict[str, Any]]:
    """Aggregates only for cohorts of at least ``min_size``; smaller ones are withheld.

    A withheld group keeps its key with ``{"suppressed": True}``, so that a report shows
    that a cohort exists without describing a handful of identifiable people.
    """
    return {
        name: values if int(values.get(count_key, 0)) >= min_size else {"suppressed": True}
        for name, values in groups.items()
    }
