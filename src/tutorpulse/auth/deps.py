"""Who is calling, and may they: the FastAPI dependencies every domain uses.

- ``CurrentUser`` / ``current_user``: the signed-in user (session cookie or bearer token);
  401 otherwise. Cookie-authenticated unsafe requests must carry the CSRF header.
- ``require(Permission.X)``: the signed-in user whose role holds X; 403 otherwise.
- ``require_scope("ingest")``: a machine client whose API token holds the scope.
- ``OwnedTutorId`` / ``ensure_tutor_access`` / ``ensure_student_access``: a tutor (student)
  may reach only their own records; anyone else's id answers 404.
- ``enforce_route_table``: mounted on the ``/api/v1`` router; applies ``permissions.ROUTES``
  to every request and refuses routes missing from the table.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, WebSocketException, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from tutorpulse.api.deps import get_clock, get_db, get_settings
from tutorpulse.auth import audit
from tutorpulse.auth.models import ApiToken, AuthSession, User
from tutorpulse.auth.permissions import (
    Access,
    Permission,
    Role,
    has_permission,
    rule_for,
)
from tutorpulse.auth.routes import route_template
from tutorpulse.auth.service import (
    API_TOKEN_PREFIX,
    resolve_session,
    verify_api_token,
)
from tutorpulse.clock import Clock
from tutorpulse.config import Settings

SESSION_COOKIE = "tp_session"
CSRF_COOKIE = "tp_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
VIEWER_SCOPE_KEY = "tutorpulse.viewer"


# Declared for the OpenAPI schema (the "Authorize" button); parsing is done below.
bearer_scheme = HTTPBearer(auto_error=False, description="Session or API token")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False)


@dataclass
class Principal:
    """The authenticated caller of one request (or nobody)."""

    user: User | None = None
    api_token: ApiToken | None = None
    auth_session: AuthSession | None = None
    via: str = "anonymous"  # cookie | bearer | api_token | bootstrap_token | dev
    csrf_ok: bool = True
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def role(self) -> str | None:
        return self.user.role if self.user is not None else None

    @property
    def is_machine(self) -> bool:
        return self.via in ("api_token", "bootstrap_token")

    @property
    def actor(self) -> audit.Actor:
        if self.user is not None:
            return self.user
        if self.api_token is not None:
            return audit.MachineActor(f"token:{self.api_token.id}:{self.api_token.name}")
        if self.via == "bootstrap_token":
            return audit.MachineActor("token:bootstrap")
        return None


def client_ip(request: HTTPConnection) -> str:
    return request.client.host if request.client else "unknown"


def _unauthorized(detail: str = "not signed in") -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _method(conn: HTTPConnection) -> str:
    return "WS" if conn.scope.get("type") == "websocket" else str(conn.scope.get("method", "GET"))


def _bearer(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _dev_admin() -> User:
    return User(
        email="dev-admin@localhost",
        role=Role.ADMIN.value,
        display_name="dev admin",
        is_active=True,
        failed_login_count=0,
    )


def _same_origin(conn: HTTPConnection) -> bool:
    origin = conn.headers.get("origin")
    if not origin:
        return True
    return origin != "null" and origin.split("://", 1)[-1] == conn.headers.get("host", "")


def _csrf_valid(request: HTTPConnection, auth_session: AuthSession) -> bool:
    method = _method(request)
    if method == "WS":
        # Browsers send cookies on cross-site WebSocket handshakes: only the Origin tells.
        return _same_origin(request)
    if method in SAFE_METHODS:
        return True
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), auth_session.csrf_token.encode()):
        return False
    # A matching token from a foreign page is impossible (SameSite + secret), but a
    # mismatching Origin is a cheap second line.
    return _same_origin(request)


def get_principal(
    request: HTTPConnection,
    db: Annotated[Session, Depends(get_db)],
    settings: Annotated[Settings, Depends(get_settings)],
    clock: Annotated[Clock, Depends(get_clock)],
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    _cookie_doc: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    principal = _resolve(request, db, settings, clock)
    request.state.principal = principal
    viewer = request.scope.get(VIEWER_SCOPE_KEY)
    if isinstance(viewer, dict):
        viewer["role"] = principal.role
    return principal


def _resolve(request: HTTPConnection, db: Session, settings: Settings, clock: Clock) -> Principal:
    now = clock.now()
    token = _bearer(request)
    if token is not None:
        if token.startswith(API_TOKEN_PREFIX):
            row = verify_api_token(db, token=token, now=now)
            if row is not None:
                return Principal(api_token=row, via="api_token", scopes=frozenset(row.scopes))
            return Principal(via="invalid")
        bootstrap = settings.ingest_token
        if bootstrap and hmac.compare_digest(token.encode(), bootstrap.encode()):
            # The pre-token deployment setting keeps working, as an ingest-only credential.
            return Principal(via="bootstrap_token", scopes=frozenset({"ingest"}))
        found = resolve_session(db, token=token, now=now)
        if found is not None:
            return Principal(user=found[1], auth_session=found[0], via="bearer")
        return Principal(via="invalid")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = resolve_session(db, token=cookie, now=now)
        if found is not None:
            auth_session, user = found
            return Principal(
                user=user,
                auth_session=auth_session,
                via="cookie",
                csrf_ok=_csrf_valid(request, auth_session),
            )
    if settings.auth_disabled:
        return Principal(user=_dev_admin(), via="dev")
    return Principal()


AnyPrincipal = Annotated[Principal, Depends(get_principal)]


def _signed_in_user(principal: Principal) -> User:
    if principal.user is None:
        if principal.via == "anonymous":
            raise _unauthorized()
        raise _unauthorized("invalid or expired credentials")
    if not principal.csrf_ok:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or invalid")
    return principal.user


def current_user(principal: AnyPrincipal) -> User:
    return _signed_in_user(principal)


def optional_user(principal: AnyPrincipal) -> User | None:
    return principal.user if principal.csrf_ok else None


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]

_require_cache: dict[tuple[Permission, ...], Callable[..., User]] = {}


def require(*permissions: Permission) -> Callable[..., User]:
    """Dependency: the signed-in user, whose role must hold every one of ``permissions``."""
    key = tuple(sorted(permissions))
    if key in _require_cache:  # one callable per set, so FastAPI resolves it once
        return _require_cache[key]

    def dependency(user: CurrentUser) -> User:
        missing = [p for p in permissions if not has_permission(user.role, p)]
        if missing:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed for your role")
        return user

    dependency.__name__ = "require_" + "_".join(p.name.lower() for p in permissions)
    dependency.__permissions__ = frozenset(permissions)  # type: ignore[attr-defined]
    _require_cache[key] = dependency
    return dependency


def require_scope(scope: str) -> Callable[..., Principal]:
    def dependency(principal: AnyPrincipal) -> Principal:
        if principal.is_machine and scope in principal.scopes:
            return principal
        if principal.user is None and not principal.is_machine:
            raise _unauthorized(f"an API token with the {scope!r} scope is required")
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {scope!r} scope is required")

    dependency.__name__ = f"require_scope_{scope}"
    dependency.__scope__ = scope  # type: ignore[attr-defined]
    return dependency


# --- ownership (IDOR) --------------------------------------------------------------------


def _not_found(kind: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} not found")


def ensure_tutor_access(user: User, tutor_id: str) -> None:
    """Tutors reach only their own tutor_id, students no tutor record; 404, never a hint."""
    if user.role == Role.TUTOR:
        if user.tutor_id is None or user.tutor_id != tutor_id:
            raise _not_found("tutor")
    elif user.role == Role.STUDENT:
        raise _not_found("tutor")


def ensure_student_access(user: User, student_id: str) -> None:
    """Students reach only their own student_id; tutors never a student's identity."""
    if user.role == Role.STUDENT:
        if user.student_id is None or user.student_id != student_id:
            raise _not_found("student")
    elif user.role == Role.TUTOR:
        raise _not_found("student")


def visible_tutor_ids(user: User) -> set[str] | None:
    """For list queries: ``None`` means every tutor, otherwise only these ids."""
    if user.role == Role.TUTOR:
        return {user.tutor_id} if user.tutor_id else set()
    if user.role == Role.STUDENT:
        return set()
    return None


def owned_tutor_id(tutor_id: str, user: CurrentUser) -> str:
    ensure_tutor_access(user, tutor_id)
    return tutor_id


def owned_student_id(student_id: str, user: CurrentUser) -> str:
    ensure_student_access(user, student_id)
    return student_id


OwnedTutorId = Annotated[str, Depends(owned_tutor_id)]
OwnedStudentId = Annotated[str, Depends(owned_student_id)]


# --- the table guard ---------------------------------------------------------------------


def enforce_route_table(request: HTTPConnection, principal: AnyPrincipal) -> None:
    """Applies ``permissions.ROUTES`` to the matched route; unlisted routes are refused."""
    if request.scope.get("type") == "websocket":
        try:
            _enforce(request, principal)
        except HTTPException as exc:
            raise WebSocketException(code=1008, reason=str(exc.detail)) from None
        return
    _enforce(request, principal)


def principal_user(request: HTTPConnection) -> User | None:
    """The user the guard resolved for this request (``app.state.resolve_user``)."""
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal) and principal.csrf_ok:
        return principal.user
    return None


def _enforce(request: HTTPConnection, principal: Principal) -> None:
    path = route_template(request.scope)
    method = _method(request)
    rule = rule_for(method, path) if path else None
    if rule is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "route not in the permission table")
    if rule.access is Access.PUBLIC:
        return
    if rule.access is Access.API_TOKEN:
        if principal.is_machine and rule.scope in principal.scopes:
            return
        if principal.user is None and not principal.is_machine:
            raise _unauthorized(f"an API token with the {rule.scope!r} scope is required")
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {rule.scope!r} scope is required")
    user = _signed_in_user(principal)
    if not rule.allows_role(user.role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed for your role")
    owner = rule.owner
    if owner is not None and user.role in owner.roles:
        wanted = request.path_params.get(owner.param)
        mine = getattr(user, owner.field)
        if mine is None or wanted != mine:
            raise _not_found(owner.param.removesuffix("_id"))


RouteGuard = Depends(enforce_route_table)
