"""Who may call the dashboard routes: one small seam between these routes and ``auth``.

``require(Permission.X)`` returns a FastAPI dependency that yields the signed-in ``User``
whose role holds the permission (401 when nobody is signed in, 403 otherwise). The user is
resolved by ``request.app.state.resolve_user`` (a callable ``Request -> User | None``) that
the application installs; without one every request is anonymous, so nothing is served
unprotected. The permission names are the auth module's (``auth.permissions.Permission``).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from fastapi import HTTPException, Request, status
from starlette.requests import HTTPConnection

from tutorpulse.auth.models import User

STAFF = frozenset({"admin", "ops_manager", "people_ops"})


class Permission(StrEnum):
    LIST_TUTORS = "tutors.list"
    READ_TUTOR_PROFILE = "tutors.read"
    READ_PREDICTIONS = "predictions.read"
    READ_PORTAL = "portal.read"
    READ_INTERVENTIONS = "interventions.read"
    ASSIGN_INTERVENTIONS = "interventions.assign"
    RECORD_OUTCOMES = "interventions.outcome"
    READ_KPIS = "kpis.read"
    READ_ANALYTICS = "analytics.read"
    SUBSCRIBE_UPDATES = "updates.subscribe"


_STAFF_COMMON = frozenset(
    {
        Permission.LIST_TUTORS,
        Permission.READ_TUTOR_PROFILE,
        Permission.READ_PREDICTIONS,
        Permission.READ_INTERVENTIONS,
        Permission.RECORD_OUTCOMES,
        Permission.READ_KPIS,
        Permission.READ_ANALYTICS,
        Permission.SUBSCRIBE_UPDATES,
    }
)
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission) - {Permission.READ_PORTAL},
    "ops_manager": _STAFF_COMMON | {Permission.ASSIGN_INTERVENTIONS},
    "people_ops": _STAFF_COMMON,
    "tutor": frozenset({Permission.READ_TUTOR_PROFILE, Permission.READ_PORTAL}),
    "student": frozenset(),
}


def has_permission(role: str | None, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role or "", frozenset())


def is_staff(user: User | None) -> bool:
    return user is not None and user.role in STAFF


def resolve_user(request: HTTPConnection) -> User | None:
    resolver: Callable[[HTTPConnection], User | None] | None = getattr(
        request.app.state, "resolve_user", None
    )
    if resolver is None:
        return None
    user = resolver(request)
    if user is None or not user.is_active:
        return None
    return user


_cache: dict[Permission, Callable[..., User]] = {}


def require(permission: Permission) -> Callable[..., User]:
    if permission in _cache:
        return _cache[permission]

    def dependency(request: Request) -> User:
        user = resolve_user(request)
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "not signed in", {"WWW-Authenticate": "Bearer"}
            )
        if not has_permission(user.role, permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed for your role")
        return user

    dependency.__name__ = f"require_{permission.name.lower()}"
    _cache[permission] = dependency
    return dependency


def ensure_tutor_access(user: User, tutor_id: str) -> None:
    """Tutors reach only their own record; anything else answers 404 (no existence hint)."""
    if user.role in STAFF:
        return
    if user.role == "tutor" and user.tutor_id and user.tutor_id == tutor_id:
        return
    raise HTTPException(status.HTTP_404_NOT_FOUND, "tutor not found")


def principal_label(user: User | None) -> dict[str, Any]:
    return {"id": user.id, "role": user.role} if user is not None else {}
