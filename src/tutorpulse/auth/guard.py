"""Permission checks at the moment of a write, outside FastAPI's dependencies.

The API checks the permission table before a route runs (``auth.deps.require``). A NiceGUI
page is checked when it loads, but its buttons act later over a websocket: by then the account
may be disabled, its role changed or its session ended, and a hidden button is no check at all.
Services that act for a person therefore check the acting user again with the same table
(``auth.permissions``), and the UI re-reads that user from the database before each action.

Machine and system actors (the pipeline, jobs, the CLI operator, a simulator) are trusted
callers: they never hold a role, and the API gives them no write route but their own scoped one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.auth.models import AuthSession, User
from tutorpulse.auth.permissions import Permission, has_permission
from tutorpulse.errors import TutorpulseError


class PermissionDenied(TutorpulseError):
    """The acting user may not do this (any more): the UI shows it, the API answers 403."""


def ensure_allowed(actor: audit.Actor, *permissions: Permission) -> None:
    """Refuse a user whose account is disabled or whose role lacks one of ``permissions``."""
    if not isinstance(actor, User):
        return
    if not actor.is_active:
        raise PermissionDenied("this account is disabled")
    missing = [p for p in permissions if not has_permission(actor.role, p)]
    if missing:
        raise PermissionDenied(f"not allowed for your role ({', '.join(missing)})")


def recheck(
    db: Session,
    *,
    user: User,
    permissions: tuple[Permission, ...],
    session_id: int | None,
    now: datetime,
) -> User:
    """The acting user as stored now, allowed ``permissions``; else :class:`PermissionDenied`.

    ``user`` is the one a page resolved when it loaded; ``session_id`` the sign-in session it
    was loaded with (ended by a sign-out elsewhere, an expiry or an admin disabling the account).
    """
    if user.id is None:  # the development-only admin (auth_disabled) has no row to re-read
        ensure_allowed(user, *permissions)
        return user
    current = db.get(User, user.id)
    if current is None:
        raise PermissionDenied("this account no longer exists: sign in again")
    if session_id is not None:
        signed_in = db.get(AuthSession, session_id)
        if (
            signed_in is None
            or signed_in.user_id != current.id
            or signed_in.revoked_at is not None
            or signed_in.expires_at <= now
        ):
            raise PermissionDenied("your session has ended: sign in again")
    ensure_allowed(current, *permissions)
    return current
