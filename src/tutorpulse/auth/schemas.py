"""Request and response bodies of the auth routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tutorpulse.auth.permissions import Role


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    csrf_token: str = Field(description="Send as X-CSRF-Token on cookie-authenticated writes.")


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None = Field(description="None only for the development admin (auth disabled).")
    email: str
    display_name: str | None
    role: Role
    tutor_id: str | None
    student_id: str | None
    is_active: bool
    last_login_at: datetime | None
    locked_until: datetime | None


class MeResponse(BaseModel):
    user: UserRead
    permissions: list[str]
    csrf_token: str | None


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    role: Role
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    display_name: str | None = Field(default=None, max_length=200)
    tutor_id: str | None = Field(default=None, max_length=64)
    student_id: str | None = Field(default=None, max_length=64)


class UserUpdate(BaseModel):
    role: Role | None = None
    is_active: bool | None = None
    display_name: str | None = Field(default=None, max_length=200)
    tutor_id: str | None = Field(default=None, max_length=64)
    student_id: str | None = Field(default=None, max_length=64)
    unlock: bool = False


class UserPage(BaseModel):
    items: list[UserRead]
    total: int


class ApiTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime | None = None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiTokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["ingest"]] = Field(min_length=1)
    expires_at: datetime | None = None


class ApiTokenCreated(ApiTokenRead):
    token: str = Field(description="Shown once; only its hash is stored.")


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_user_id: int | None
    actor_label: str
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    total: int


class AccessLogEntry(BaseModel):
    """One access to the caller's own record ("who viewed my data")."""

    at: datetime
    action: str
    viewer_role: str
    viewer_name: str


class PasswordResetRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)


class PasswordResetConfirm(BaseModel):
    token: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1024)
