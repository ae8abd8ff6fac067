"""Who may call the dashboard routes and pages: the auth module's permissions, re-exported.

Every ``/api/v1`` route also passes the auth module's route table (``enforce_route_table``,
mounted on the API router by ``create_app``): a route missing from ``auth/permissions.py`` is
refused. ``require(Permission.X)`` yields the signed-in user whose role holds X;
``ensure_tutor_access`` answers 404 when a tutor asks for someone else's record.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import HTTPConnection

from tutorpulse.auth.deps import ensure_tutor_access, require
from tutorpulse.auth.models import User
from tutorpulse.auth.permissions import STAFF_ROLES, Permission, has_permission

STAFF = frozenset(role.value for role in STAFF_ROLES)

__all__ = [
    "STAFF",
    "Permission",
    "ensure_tutor_access",
    "has_permission",
    "is_staff",
    "require",
    "resolve_user",
]


def is_staff(user: User | None) -> bool:
    return user is not None and user.role in STAFF


def resolve_user(request: HTTPConnection) -> User | None:
    """The user the route guard resolved (``app.state.resolve_user``), for websockets."""
    resolver: Callable[[HTTPConnection], User | None] | None = getattr(
        request.app.state, "resolve_user", None
    )
    user = resolver(request) if resolver is not None else None
    if user is None or not user.is_active:
        return None
    return user
