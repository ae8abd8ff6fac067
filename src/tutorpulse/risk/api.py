"""Prediction routes: a tutor's model/rule predictions with any override beside them, and
the ops manager's override. Thin: authorize, call the service, commit, shape.

Mount with ``api.include_router(risk_api.router)`` under ``/api/v1``; the permission table
(``auth.permissions.ROUTES``) already lists both routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from tutorpulse.api.deps import AppClock, DbSession
from tutorpulse.auth.deps import require
from tutorpulse.auth.models import User
from tutorpulse.auth.permissions import Permission
from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.risk import overrides

router = APIRouter(tags=["predictions"])


class OverrideRequest(BaseModel):
    risk_level: str = Field(pattern="^(Low|Medium|High|Critical)$")
    reason: str = Field(min_length=3, max_length=2000)
    expires_at: datetime


@router.get("/tutors/{tutor_id}/predictions")
def predictions_route(
    tutor_id: str,
    db: DbSession,
    clock: AppClock,
    _user: Annotated[User, Depends(require(Permission.READ_PREDICTIONS))],
) -> dict[str, Any]:
    try:
        return overrides.tutor_predictions(db, tutor_id=tutor_id, now=clock.now())
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.post("/tutors/{tutor_id}/override", status_code=status.HTTP_201_CREATED)
def override_route(
    tutor_id: str,
    body: OverrideRequest,
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.OVERRIDE_PREDICTIONS))],
) -> dict[str, Any]:
    try:
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
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except TutorpulseError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return view
