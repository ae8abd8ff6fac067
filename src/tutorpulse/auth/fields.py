"""Field-level privacy: what a tutor must never receive (DESIGN §5, PRD decisions §3).

``strip_churn_fields`` removes churn scores, probabilities, risk levels, explanations and
internal notes at any nesting depth. ``ViewerFilterMiddleware`` (auth.middleware) applies
it to every JSON response sent to a tutor, so a route that forgets is still safe; routes and
pages should also call ``shape_for(user, payload)`` themselves.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from tutorpulse.auth.models import User
from tutorpulse.auth.permissions import STAFF_ROLES, Role

CHURN_FIELDS = frozenset(
    {
        "churn_score",
        "churn_probability",
        "churn_probabilities",
        "churn_risk",
        "churn_reason",
        "risk_level",
        "risk_score",
        "rule_score",
        "p1",
        "p7",
        "p30",
        "p90",
        "probabilities",
        "contributing_factors",
        "top_factors",
        "shap_values",
        "score_source",
        "override",
        "overrides",
        "override_reason",
        "notes",
        "manager_notes",
        "internal_notes",
        "coaching_notes",
    }
)
_CHURN_PATTERNS = (
    re.compile(r"^window_.+_probability$"),
    re.compile(r"^churn_"),
    re.compile(r"_notes?$"),
    re.compile(r"^prob(ability)?_\d+d?$"),
)


def is_churn_field(name: str) -> bool:
    lowered = name.lower()
    return lowered in CHURN_FIELDS or any(p.search(lowered) for p in _CHURN_PATTERNS)


def strip_churn_fields(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, tuples, pydantic models) without churn fields."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {
            key: strip_churn_fields(item)
            for key, item in value.items()
            if not (isinstance(key, str) and is_churn_field(key))
        }
    if isinstance(value, list | tuple):
        return [strip_churn_fields(item) for item in value]
    return value


def can_see_churn(user: User | None) -> bool:
    return user is not None and user.role in STAFF_ROLES


def shape_for(user: User | None, payload: Any) -> Any:
    """What ``user`` may receive of ``payload``: staff everything, others no churn fields."""
    if can_see_churn(user):
        return payload
    return strip_churn_fields(payload)


def is_filtered_role(role: str | None) -> bool:
    return role in (Role.TUTOR, Role.STUDENT)
