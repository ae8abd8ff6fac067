"""Auth routes: login/logout/me, admin users, API tokens, the audit log, password reset."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from tutorpulse.api.deps import AppClock, AppSettings, DbSession
from tutorpulse.auth import audit, service
from tutorpulse.auth.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AnyPrincipal,
    CurrentUser,
    client_ip,
    require,
)
from tutorpulse.auth.models import User
from tutorpulse.auth.notifier import Notifier, OutboxNotifier
from tutorpulse.auth.permissions import ROLE_PERMISSIONS, Permission, Role
from tutorpulse.auth.schemas import (
    AccessLogEntry,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    AuditEntryRead,
    AuditPage,
    LoginRequest,
    MeResponse,
    PasswordResetConfirm,
    PasswordResetRequest,
    TokenResponse,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from tutorpulse.config import Settings
from tutorpulse.errors import NotFoundError, TutorpulseError

router = APIRouter(tags=["auth"])


def _bad_request(exc: TutorpulseError) -> HTTPException:
    if isinstance(exc, NotFoundError):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    return HTTPException(status.HTTP_400_BAD_REQUEST, str(exc))


def uses_tls(request: Request, settings: Settings) -> bool:
    return settings.behind_tls or request.url.scheme == "https"


def set_session_cookies(
    response: Response,
    *,
    request: Request,
    settings: Settings,
    token: str,
    csrf_token: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    max_age = max(0, int((expires_at - now).total_seconds()))
    secure = uses_tls(request, settings)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    # Readable by the page's own scripts, which echo it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="strict",
    )


def clear_session_cookies(response: Response, *, request: Request, settings: Settings) -> None:
    secure = uses_tls(request, settings)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="strict")


def sign_in(
    db: DbSession,
    *,
    request: Request,
    response: Response,
    settings: Settings,
    user: User,
    method: str,
    now: datetime,
) -> TokenResponse:
    """Replace whatever session the browser had with a new one (no session fixation)."""
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        found = service.resolve_session(db, token=previous, now=now)
        if found is not None:
            service.revoke_session(db, auth_session=found[0], now=now)
    token, auth_session = service.start_session(
        db,
        user=user,
        method=method,
        ip=client_ip(request),
        now=now,
        lifetime=timedelta(minutes=settings.session_lifetime_minutes),
    )
    set_session_cookies(
        response,
        request=request,
        settings=settings,
        token=token,
        csrf_token=auth_session.csrf_token,
        expires_at=auth_session.expires_at,
        now=now,
    )
    return TokenResponse(
        access_token=token, expires_at=auth_session.expires_at, csrf_token=auth_session.csrf_token
    )


@router.post(
    "/auth/login",
    response_model=TokenResponse,
    summary="Sign in with email and password",
    responses={401: {"description": "Invalid credentials"}, 429: {"description": "Rate limited"}},
)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    db: DbSession,
    settings: AppSettings,
    clock: AppClock,
) -> TokenResponse:
    now = clock.now()
    try:
        user = service.authenticate(
            db,
            email=body.email,
            password=body.password,
            ip=client_ip(request),
            now=now,
            settings=settings,
        )
    except service.RateLimited as exc:
        db.commit()
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            str(exc),
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except service.LoginRejected as exc:
        db.commit()  # the failure counts towards the lockout
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from None
    result = sign_in(
        db,
        request=request,
        response=response,
        settings=settings,
        user=user,
        method="password",
        now=now,
    )
    db.commit()
    return result


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Sign out")
def logout(
    request: Request,
    principal: AnyPrincipal,
    user: CurrentUser,
    db: DbSession,
    settings: AppSettings,
    clock: AppClock,
) -> Response:
    now = clock.now()
    if principal.auth_session is not None:
        service.revoke_session(db, auth_session=principal.auth_session, now=now)
    audit.record(
        db,
        actor=user,
        action="auth.logout",
        target_type="user",
        target_id=user.id,
        ip=client_ip(request),
        now=now,
    )
    db.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response, request=request, settings=settings)
    return response


@router.get("/me", response_model=MeResponse, summary="The signed-in user")
def me(principal: AnyPrincipal, user: CurrentUser) -> MeResponse:
    return MeResponse(
        user=UserRead.model_validate(user),
        permissions=sorted(ROLE_PERMISSIONS[Role(user.role)]),
        csrf_token=principal.auth_session.csrf_token if principal.auth_session else None,
    )


@router.get(
    "/me/audit",
    response_model=list[AccessLogEntry],
    summary="Who viewed my data: accesses by others to my tutor or student record",
)
def my_access_log(
    db: DbSession,
    user: Annotated[User, Depends(require(Permission.READ_OWN_AUDIT))],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AccessLogEntry]:
    return [
        AccessLogEntry(
            at=a.at, action=a.action, viewer_role=a.viewer_role, viewer_name=a.viewer_name
        )
        for a in audit.accesses_by_others(db, user=user, limit=limit)
    ]


# --- admin: users ------------------------------------------------------------------------

ManageUsers = Annotated[User, Depends(require(Permission.MANAGE_USERS))]


@router.get("/admin/users", response_model=UserPage, summary="List accounts")
def list_users(
    db: DbSession,
    _admin: ManageUsers,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    q: Annotated[str | None, Query(max_length=200, description="part of email or name")] = None,
) -> UserPage:
    users, total = service.list_users(db, limit=limit, offset=offset, q=q)
    return UserPage(items=[UserRead.model_validate(u) for u in users], total=total)


@router.post(
    "/admin/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create an account",
)
def create_user(
    body: UserCreate,
    request: Request,
    db: DbSession,
    admin: ManageUsers,
    settings: AppSettings,
    clock: AppClock,
) -> UserRead:
    try:
        user = service.create_user(
            db,
            email=body.email,
            role=body.role.value,
            password=body.password,
            display_name=body.display_name,
            tutor_id=body.tutor_id,
            student_id=body.student_id,
            actor=admin,
            now=clock.now(),
            ip=client_ip(request),
            min_password_length=settings.password_min_length,
        )
    except TutorpulseError as exc:
        raise _bad_request(exc) from None
    db.commit()
    return UserRead.model_validate(user)


@router.patch("/admin/users/{user_id}", response_model=UserRead, summary="Change an account")
def update_user(
    user_id: int,
    body: UserUpdate,
    request: Request,
    db: DbSession,
    admin: ManageUsers,
    clock: AppClock,
) -> UserRead:
    if user_id == admin.id and (body.is_active is False or body.role not in (None, Role.ADMIN)):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "you cannot demote or disable yourself")
    try:
        user = service.update_user(
            db,
            user_id=user_id,
            actor=admin,
            now=clock.now(),
            ip=client_ip(request),
            role=body.role.value if body.role else None,
            is_active=body.is_active,
            display_name=body.display_name,
            tutor_id=body.tutor_id,
            student_id=body.student_id,
            unlock=body.unlock,
        )
    except TutorpulseError as exc:
        raise _bad_request(exc) from None
    db.commit()
    return UserRead.model_validate(user)


# --- admin: API tokens -------------------------------------------------------------------

ManageTokens = Annotated[User, Depends(require(Permission.MANAGE_TOKENS))]


@router.get("/admin/tokens", response_model=list[ApiTokenRead], summary="List API tokens")
def list_tokens(db: DbSession, _admin: ManageTokens) -> list[ApiTokenRead]:
    return [ApiTokenRead.model_validate(t) for t in service.list_api_tokens(db)]


@router.post(
    "/admin/tokens",
    response_model=ApiTokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token (shown once)",
)
def create_token(
    body: ApiTokenCreate, request: Request, db: DbSession, admin: ManageTokens, clock: AppClock
) -> ApiTokenCreated:
    try:
        token, row = service.create_api_token(
            db,
            name=body.name,
            scopes=list(body.scopes),
            actor=admin,
            now=clock.now(),
            expires_at=body.expires_at,
            ip=client_ip(request),
        )
    except TutorpulseError as exc:
        raise _bad_request(exc) from None
    db.commit()
    return ApiTokenCreated(**ApiTokenRead.model_validate(row).model_dump(), token=token)


@router.delete(
    "/admin/tokens/{token_id}", response_model=ApiTokenRead, summary="Revoke an API token"
)
def revoke_token(
    token_id: int, request: Request, db: DbSession, admin: ManageTokens, clock: AppClock
) -> ApiTokenRead:
    try:
        row = service.revoke_api_token(
            db, token_id=token_id, actor=admin, now=clock.now(), ip=client_ip(request)
        )
    except TutorpulseError as exc:
        raise _bad_request(exc) from None
    db.commit()
    return ApiTokenRead.model_validate(row)


# --- admin: audit log --------------------------------------------------------------------


@router.get("/admin/audit", response_model=AuditPage, summary="Search the audit log")
def search_audit(
    db: DbSession,
    _admin: Annotated[User, Depends(require(Permission.READ_AUDIT))],
    actor_user_id: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    action: Annotated[str | None, Query(max_length=100, description="exact, or prefix.*")] = None,
    target_type: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "timestamps need an offset")
    rows, total = audit.search(
        db,
        filters=audit.AuditFilter(
            actor_user_id=actor_user_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
        ),
        limit=limit,
        offset=offset,
    )
    return AuditPage(items=[AuditEntryRead.model_validate(r) for r in rows], total=total)


# --- password reset ----------------------------------------------------------------------


def get_notifier(db: DbSession, request: Request) -> Notifier:
    override = getattr(request.app.state, "notifier", None)
    return override if override is not None else OutboxNotifier(db)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Email a password reset link (the answer is the same for unknown emails)",
)
def request_password_reset(
    body: PasswordResetRequest,
    request: Request,
    db: DbSession,
    settings: AppSettings,
    clock: AppClock,
    notifier: Annotated[Notifier, Depends(get_notifier)],
) -> dict[str, str]:
    now = clock.now()
    ip = client_ip(request)
    try:
        service.check_rate_limit(db, ip=ip, now=now, settings=settings)
    except service.RateLimited as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many requests: try again later",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    service.request_password_reset(
        db,
        email=body.email,
        notifier=notifier,
        settings=settings,
        base_url=settings.public_base_url or str(request.base_url),
        ip=ip,
        now=now,
    )
    # Requests count like login attempts, so resets cannot be used to spam or probe.
    from tutorpulse.auth.models import LoginAttempt

    db.add(LoginAttempt(at=now, ip=ip, succeeded=False))
    db.commit()
    return {"status": "if the account exists, a reset link has been sent"}


@router.post(
    "/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with a reset link's token",
)
def confirm_password_reset(
    body: PasswordResetConfirm,
    request: Request,
    db: DbSession,
    settings: AppSettings,
    clock: AppClock,
) -> Response:
    try:
        service.reset_password(
            db,
            token=body.token,
            new_password=body.new_password,
            settings=settings,
            ip=client_ip(request),
            now=clock.now(),
        )
    except TutorpulseError as exc:
        raise _bad_request(exc) from None
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
