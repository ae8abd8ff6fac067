"""Prediction routes: a tutor's model/rule predictions with any override beside them, and
the ops manager's override. Thin: authorize, call the service, commit, shape.

Mount with ``api.include_router(risk_api.router)`` under ``/api/v1``; the permission table
(``auth.permissions.ROUTES``) already lists both routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from tutorpulse.api.deps import AppClock, DbSession
from tutorpulse.auth import audit
from tutorpulse.auth.deps import require
from tutorpulse.auth.models import User
from tutorpulse.auth.permissions import Permission
from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.risk import overrides, registry

router = APIRouter(tags=["predictions"])


@contextmanager
def _refusals(refused: int) -> Iterator[None]:
    """A write's refusals as HTTP answers: a missing record 404, any other ``refused``."""
    try:
        yield
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except TutorpulseError as exc:
        raise HTTPException(refused, str(exc)) from exc


class OverrideRequest(BaseModel):
    risk_level: str = Field(pattern="^(Low|Medium|High|Critical)$")
    reason: str = Field(min_length=3, max_length=2000)
    expires_at: datetime


@router.get("/tutors/{tutor_id}/predictions")
def predictions_route(
    tutor_id: str,
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.READ_PREDICTIONS))],
) -> dict[str, Any]:
    try:
        view = overrides.tutor_predictions(db, tutor_id=tutor_id, now=clock.now())
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    # Every read of a prediction is audited (who looked at whose churn figures).
    audit.record(
        db,
        actor=user,
        action="prediction.read",
        target_type="tutor",
        target_id=tutor_id,
        now=clock.now(),
    )
    db.commit()
    return view


@router.post("/tutors/{tutor_id}/override", status_code=status.HTTP_201_CREATED)
def override_route(
    tutor_id: str,
    body: OverrideRequest,
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.OVERRIDE_PREDICTIONS))],
) -> dict[str, Any]:
    with _refusals(status.HTTP_422_UNPROCESSABLE_CONTENT):
        item = overrides.create_override(
            db,
            tutor_id=tutor_id,
            risk_level=body.risk_level,
            reason=body.reason,
            expires_at=body.expires_at,
            actor=user,
            now=clock.now(),
        )
        view = overrides.override_view(item)
        db.commit()
    return view


class RevokeRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=overrides.MAX_REASON)


@router.post("/tutors/{tutor_id}/overrides/{override_id}/revoke")
def revoke_override_route(
    tutor_id: str,
    override_id: int,
    body: RevokeRequest,
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.OVERRIDE_PREDICTIONS))],
) -> dict[str, Any]:
    """End an active override before its expiry (reason required, audited)."""
    with _refusals(status.HTTP_409_CONFLICT):
        item = overrides.revoke_override(
            db,
            tutor_id=tutor_id,
            override_id=override_id,
            reason=body.reason,
            actor=user,
            now=clock.now(),
        )
        view = overrides.override_view(item)
        db.commit()
    return view


@router.get("/overrides/report")
def override_report_route(
    db: DbSession,
    clock: AppClock,
    _user: Annotated[User, Depends(require(Permission.READ_ANALYTICS))],
    month: Annotated[str, Query(description="YYYY-MM", max_length=7)],
) -> dict[str, Any]:
    """Overrides made in a month: the override's level and the model's vs what happened."""
    try:
        return overrides.override_report(db, month=overrides.parse_month(month), now=clock.now())
    except TutorpulseError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


class RollbackRequest(BaseModel):
    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Version to make champion; omitted: the previous champion.",
    )


@router.get("/models", tags=["models"])
def models_route(
    db: DbSession,
    _user: Annotated[User, Depends(require(Permission.READ_ANALYTICS))],
    kind: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Stored model versions, newest first, with status and headline test metrics."""
    return registry.list_models_page(db, kind=kind, page=page, page_size=page_size)


@router.post("/models/rollback", tags=["models"])
def rollback_route(
    body: RollbackRequest,
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.MANAGE_MODELS))],
) -> dict[str, Any]:
    """Make an earlier model the champion again (audited)."""
    with _refusals(status.HTTP_409_CONFLICT):
        row = registry.rollback(db, now=clock.now(), version=body.version, actor=user)
        view = registry.model_view(row)
        db.commit()
    return view
