"""Accounts, logins, sessions, API tokens and password resets.

Every function takes the session and keyword-only arguments and never commits: the route,
CLI command or job that calls it owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.auth.models import ApiToken, AuthSession, LoginAttempt, User
from tutorpulse.auth.notifier import Notifier
from tutorpulse.auth.passwords import hash_password, needs_rehash, verify_password
from tutorpulse.auth.permissions import API_SCOPES, Role
from tutorpulse.config import Settings
from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.marketplace.models import Student, Tutor

SESSION_TOKEN_PREFIX = "tps_"
API_TOKEN_PREFIX = "tpa_"
_RESET_SALT = "tutorpulse.password-reset"


class AuthError(TutorpulseError):
    """A refused authentication; the message is safe to show (it reveals nothing)."""


class LoginRejected(AuthError):
    def __init__(self, reason: str, *, retry_after: int | None = None) -> None:
        # One message for every reason: which emails exist or are locked is not disclosed.
        super().__init__("invalid email or password")
        self.reason = reason
        self.retry_after = retry_after


class RateLimited(LoginRejected):
    def __init__(self, retry_after: int) -> None:
        super().__init__("rate_limited", retry_after=retry_after)
        self.args = ("too many login attempts: try again later",)


def digest(token: str) -> str:
    """Tokens are random and long, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


# --- users -------------------------------------------------------------------------------


def get_user_by_email(db: Session, *, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == normalize_email(email)))


def _check_links(db: Session, *, role: str, tutor_id: str | None, student_id: str | None) -> None:
    if tutor_id is not None and role != Role.TUTOR:
        raise TutorpulseError("only tutor accounts are linked to a tutor_id")
    if student_id is not None and role != Role.STUDENT:
        raise TutorpulseError("only student accounts are linked to a student_id")
    if tutor_id is not None and db.get(Tutor, tutor_id) is None:
        raise NotFoundError("tutor", tutor_id)
    if student_id is not None and db.get(Student, student_id) is None:
        raise NotFoundError("student", student_id)


def check_password_policy(password: str, *, min_length: int) -> None:
    if len(password) < min_length:
        raise TutorpulseError(f"password must be at least {min_length} characters")
    if len(password) > 1024:
        raise TutorpulseError("password is too long")


def create_user(
    db: Session,
    *,
    email: str,
    role: str,
    password: str | None,
    display_name: str | None = None,
    tutor_id: str | None = None,
    student_id: str | None = None,
    actor: audit.Actor,
    now: datetime,
    ip: str | None = None,
    min_password_length: int = 10,
) -> User:
    try:
        role = Role(role).value
    except ValueError:
        raise TutorpulseError(f"unknown role {role!r}: one of {', '.join(Role)}") from None
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise TutorpulseError(f"invalid email address {email!r}")
    if get_user_by_email(db, email=email) is not None:
        raise TutorpulseError(f"a user with email {email} already exists")
    _check_links(db, role=role, tutor_id=tutor_id, student_id=student_id)
    if password is not None:
        check_password_policy(password, min_length=min_password_length)
    user = User(
        email=email,
        role=role,
        display_name=display_name,
        tutor_id=tutor_id,
        student_id=student_id,
        password_hash=hash_password(password) if password is not None else None,
        password_changed_at=now if password is not None else None,
        is_active=True,
        failed_login_count=0,
    )
    db.add(user)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="user.create",
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"role": role, "tutor_id": tutor_id, "student_id": student_id},
        now=now,
    )
    return user


def update_user(
    db: Session,
    *,
    user_id: int,
    actor: audit.Actor,
    now: datetime,
    ip: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    display_name: str | None = None,
    tutor_id: str | None = None,
    student_id: str | None = None,
    unlock: bool = False,
) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    changes: dict[str, Any] = {}
    if role is not None and role != user.role:
        try:
            role = Role(role).value
        except ValueError:
            raise TutorpulseError(f"unknown role {role!r}") from None
        changes["role"] = [user.role, role]
        user.role = role
        if role != Role.TUTOR:
            user.tutor_id = None
        if role != Role.STUDENT:
            user.student_id = None
    if tutor_id is not None or student_id is not None:
        _check_links(db, role=user.role, tutor_id=tutor_id, student_id=student_id)
        if tutor_id is not None:
            changes["tutor_id"] = [user.tutor_id, tutor_id]
            user.tutor_id = tutor_id
        if student_id is not None:
            changes["student_id"] = [user.student_id, student_id]
            user.student_id = student_id
    if display_name is not None:
        user.display_name = display_name
        changes["display_name"] = True
    if is_active is not None and is_active != user.is_active:
        changes["is_active"] = [user.is_active, is_active]
        user.is_active = is_active
    if unlock:
        user.locked_until = None
        user.failed_login_count = 0
        changes["unlocked"] = True
    # A changed role or a disabled account must not keep sessions granted under the old state.
    if "role" in changes or changes.get("is_active") == [True, False]:
        revoke_user_sessions(db, user_id=user.id, now=now)
    audit.record(
        db,
        actor=actor,
        action="user.update",
        target_type="user",
        target_id=user.id,
        ip=ip,
        details=changes,
        now=now,
    )
    return user


def set_password(
    db: Session, *, user: User, password: str, now: datetime, min_length: int = 10
) -> None:
    check_password_policy(password, min_length=min_length)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.failed_login_count = 0
    user.locked_until = None
    revoke_user_sessions(db, user_id=user.id, now=now)


def list_users(
    db: Session, *, limit: int = 100, offset: int = 0, q: str | None = None
) -> tuple[list[User], int]:
    """Accounts by id, and how many match; ``q`` matches a part of the email or name."""
    conditions = []
    if q and q.strip():
        pattern = f"%{q.strip().lower()}%"
        conditions.append(
            or_(
                func.lower(User.email).like(pattern),
                func.lower(func.coalesce(User.display_name, "")).like(pattern),
            )
        )
    total = db.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    rows = db.scalars(
        select(User).where(*conditions).order_by(User.id).limit(limit).offset(offset)
    ).all()
    return list(rows), total


# --- logins ------------------------------------------------------------------------------


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds()) + 1)


def check_rate_limit(db: Session, *, ip: str, now: datetime, settings: Settings) -> None:
    window_start = now - timedelta(minutes=settings.login_rate_window_minutes)
    attempts = db.scalars(
        select(LoginAttempt.at)
        .where(LoginAttempt.ip == ip, LoginAttempt.at > window_start)
        .order_by(LoginAttempt.at)
    ).all()
    if len(attempts) >= settings.login_rate_limit:
        # Allowed again when the oldest attempts in the window age out.
        oldest = attempts[len(attempts) - settings.login_rate_limit]
        raise RateLimited(
            _seconds_until(oldest + timedelta(minutes=settings.login_rate_window_minutes), now)
        )


def authenticate(
    db: Session, *, email: str, password: str, ip: str, now: datetime, settings: Settings
) -> User:
    """Check a password login; records the attempt, the lockout and the audit entry.

    Raises ``LoginRejected`` (``RateLimited`` for too many attempts from one address). The
    caller must commit even when this raises: failures count towards lockout.
    """
    check_rate_limit(db, ip=ip, now=now, settings=settings)
    user = get_user_by_email(db, email=email)
    password_ok = verify_password(user.password_hash if user else None, password)
    reason: str | None = None
    if user is None:
        reason = "unknown_email"
    elif not user.is_active:
        reason = "inactive"
    elif user.locked_until is not None and user.locked_until > now:
        reason = "locked"
    elif not password_ok:
        reason = "bad_password"
    db.add(LoginAttempt(at=now, ip=ip, succeeded=reason is None))
    if reason is not None:
        details: dict[str, Any] = {"reason": reason}
        if user is not None and reason == "bad_password":
            user.failed_login_count += 1
            if user.failed_login_count >= settings.login_max_failures:
                user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
                user.failed_login_count = 0
                details["locked_until"] = user.locked_until.isoformat()
        audit.record(
            db,
            actor=user,
            action="auth.login_failed",
            target_type="user",
            target_id=user.id if user else None,
            ip=ip,
            # The attempted email is kept only when it is not an account: it may be a typo'd
            # password pasted into the wrong field, so never the password itself.
            details=details if user else {**details, "email_sha256": digest(email)[:16]},
            now=now,
        )
        raise LoginRejected(reason)
    assert user is not None and user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_login_count = 0
    user.locked_until = None
    record_login(db, user=user, method="password", ip=ip, now=now)
    return user


def record_login(db: Session, *, user: User, method: str, ip: str | None, now: datetime) -> None:
    """What every successful sign-in leaves, whichever the method: the time and the entry."""
    user.last_login_at = now
    audit.record(
        db,
        actor=user,
        action="auth.login",
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"method": method},
        now=now,
    )


# --- sessions ----------------------------------------------------------------------------


def start_session(
    db: Session,
    *,
    user: User,
    method: str,
    ip: str | None,
    now: datetime,
    lifetime: timedelta,
) -> tuple[str, AuthSession]:
    """A fresh session with a new random token: never one the client proposed (fixation)."""
    token = SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    auth_session = AuthSession(
        token_hash=digest(token),
        csrf_token=secrets.token_urlsafe(32),
        user_id=user.id,
        method=method,
        created_at=now,
        expires_at=now + lifetime,
        ip=ip,
    )
    db.add(auth_session)
    db.flush()
    return token, auth_session


def resolve_session(db: Session, *, token: str, now: datetime) -> tuple[AuthSession, User] | None:
    if not token.startswith(SESSION_TOKEN_PREFIX) or len(token) > 200:
        return None
    row = db.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    auth_session, user = row
    if auth_session.revoked_at is not None or auth_session.expires_at <= now:
        return None
    if not user.is_active:
        return None
    return auth_session, user


def revoke_session(db: Session, *, auth_session: AuthSession, now: datetime) -> None:
    if auth_session.revoked_at is None:
        auth_session.revoked_at = now


def revoke_user_sessions(db: Session, *, user_id: int, now: datetime) -> None:
    db.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# --- API tokens --------------------------------------------------------------------------


def create_api_token(
    db: Session,
    *,
    name: str,
    scopes: list[str],
    actor: audit.Actor,
    now: datetime,
    expires_at: datetime | None = None,
    ip: str | None = None,
) -> tuple[str, ApiToken]:
    """Returns the token in clear once; only its hash is stored."""
    unknown = sorted(set(scopes) - API_SCOPES)
    if unknown or not scopes:
        known = ", ".join(sorted(API_SCOPES))
        raise TutorpulseError(f"unknown or missing scope {', '.join(unknown)!r}: one of {known}")
    name = name.strip()
    if not name or len(name) > 100:
        raise TutorpulseError("a token needs a name of 1 to 100 characters")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=digest(token),
        scopes=sorted(set(scopes)),
        prefix=token[:12],
        expires_at=expires_at,
        created_by_user_id=actor.id if isinstance(actor, User) else None,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="token.create",
        target_type="api_token",
        target_id=row.id,
        ip=ip,
        details={"name": name, "scopes": row.scopes},
        now=now,
    )
    return token, row


def verify_api_token(db: Session, *, token: str, now: datetime) -> ApiToken | None:
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
        return None
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    # Coarse on purpose: one write per token per minute, not one per request.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
    return row


def revoke_api_token(
    db: Session, *, token_id: int, actor: audit.Actor, now: datetime, ip: str | None = None
) -> ApiToken:
    row = db.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError("token", token_id)
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record(
            db,
            actor=actor,
            action="token.revoke",
            target_type="api_token",
            target_id=row.id,
            ip=ip,
            details={"name": row.name},
            now=now,
        )
    return row


def list_api_tokens(db: Session) -> list[ApiToken]:
    return list(db.scalars(select(ApiToken).order_by(ApiToken.id)).all())


# --- password reset ----------------------------------------------------------------------


@dataclass(frozen=True)
class ResetLink:
    token: str
    url: str


def _reset_serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_RESET_SALT)


def _password_fingerprint(user: User) -> str:
    # Binds the token to the current password: once used (or the password changes), it dies.
    return digest(f"{user.id}:{user.password_hash or ''}")[:16]


def request_password_reset(
    db: Session,
    *,
    email: str,
    notifier: Notifier,
    settings: Settings,
    base_url: str,
    ip: str | None,
    now: datetime,
) -> ResetLink | None:
    """Send a reset link if the account exists; the caller answers the same either way."""
    user = get_user_by_email(db, email=email)
    if user is None or not user.is_active:
        audit.record(
            db,
            actor=None,
            action="auth.password_reset_requested",
            ip=ip,
            details={"known": False},
            now=now,
        )
        return None
    expires = now + timedelta(minutes=settings.password_reset_minutes)
    token = _reset_serializer(settings.secret_key).dumps(
        {"uid": user.id, "exp": int(expires.timestamp()), "fp": _password_fingerprint(user)}
    )
    url = f"{base_url.rstrip('/')}/login?reset={token}"
    notifier.send(
        to=user.email,
        subject="Reset your tutorpulse password",
        body=(
            "Someone asked to reset the password of your tutorpulse account.\n\n"
            f"Use this link within {settings.password_reset_minutes} minutes:\n{url}\n\n"
            "If it was not you, ignore this message: your password has not changed.\n"
        ),
        now=now,
    )
    audit.record(
        db,
        actor=None,
        action="auth.password_reset_requested",
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"known": True},
        now=now,
    )
    return ResetLink(token=token, url=url)


def reset_password(
    db: Session,
    *,
    token: str,
    new_password: str,
    settings: Settings,
    ip: str | None,
    now: datetime,
) -> User:
    invalid = AuthError("invalid or expired reset link")
    try:
        payload = _reset_serializer(settings.secret_key).loads(token)
    except BadSignature:
        raise invalid from None
    if not isinstance(payload, dict) or not isinstance(payload.get("uid"), int):
        raise invalid
    if int(payload.get("exp", 0)) <= int(now.timestamp()):
        raise invalid
    user = db.get(User, payload["uid"])
    if user is None or not user.is_active or payload.get("fp") != _password_fingerprint(user):
        raise invalid
    set_password(
        db, user=user, password=new_password, now=now, min_length=settings.password_min_length
    )
    audit.record(
        db,
        actor=user,
        action="auth.password_reset",
        target_type="user",
        target_id=user.id,
        ip=ip,
        now=now,
    )
    return user


# --- demo --------------------------------------------------------------------------------

DEMO_DOMAIN = "demo.tutorpulse.local"


def ensure_demo_users(db: Session, *, now: datetime) -> list[tuple[str, str, str]]:
    """One account per role for the demo, as ``(role, email, password)``; idempotent.

    The tutor and student accounts are linked to the first tutor / student on record, if
    any. Passwords are fixed and printed by ``tutorpulse demo``: demo databases only.
    """
    first_tutor = db.scalar(select(Tutor.tutor_id).order_by(Tutor.tutor_id).limit(1))
    first_student = db.scalar(select(Student.student_id).order_by(Student.student_id).limit(1))
    logins: list[tuple[str, str, str]] = []
    for role in Role:
        email = f"{role.value.replace('_', '-')}@{DEMO_DOMAIN}"
        password = f"demo-{role.value.replace('_', '-')}-pass"
        tutor_id = first_tutor if role is Role.TUTOR else None
        student_id = first_student if role is Role.STUDENT else None
        user = get_user_by_email(db, email=email)
        if user is None:
            create_user(
                db,
                email=email,
                role=role.value,
                password=password,
                display_name=f"Demo {role.value.replace('_', ' ')}",
                tutor_id=tutor_id,
                student_id=student_id,
                actor=audit.MachineActor("system:demo"),
                now=now,
            )
        else:
            user.role = role.value
            user.tutor_id = tutor_id
            user.student_id = student_id
            user.is_active = True
            user.locked_until = None
            user.failed_login_count = 0
            if not verify_password(user.password_hash, password):
                user.password_hash = hash_password(password)
        logins.append((role.value, email, password))
    return logins
