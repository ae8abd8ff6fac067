"""Dashboard, portal and feedback routes (thin: authorize, call a service, commit, shape).

``router`` holds the signed-in routes (staff, or a tutor for their own data); ``public_router``
the student feedback link routes, whose only credential is the signed token in the path.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    HTTPException,
    Query,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.api.deps import AppClock, AppSettings, DbSession
from tutorpulse.auth.deps import ensure_tutor_access, principal_user, require
from tutorpulse.auth.guard import PermissionDenied
from tutorpulse.auth.models import User
from tutorpulse.auth.permissions import Permission, has_permission
from tutorpulse.config import Settings
from tutorpulse.dashboard import analytics, feedback, notes, portal, profile, service
from tutorpulse.dashboard.cache import ResultCache
from tutorpulse.dashboard.common import Pseudonymizer, intervention_row, user_names
from tutorpulse.dashboard.schemas import (
    AlertPage,
    AlertRow,
    AssignRequest,
    DismissRequest,
    FeedbackForm,
    FeedbackReceipt,
    FeedbackSubmission,
    GoalUpdate,
    InterventionPage,
    InterventionRow,
    KpiResponse,
    NoteCreate,
    NoteRow,
    OutcomeRequest,
    PortalResponse,
    SnoozeRequest,
    TutorPage,
    TutorProfile,
    UpdatesResponse,
)
from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.interventions import service as interventions
from tutorpulse.interventions.models import Alert
from tutorpulse.privacy.pseudonyms import pseudonym
from tutorpulse.realtime.live import LiveSignal

router = APIRouter(tags=["dashboard"])
public_router = APIRouter(tags=["feedback"])
UPDATE_POLL_SECONDS = 1.0

Staff = Annotated[User, Depends(require(Permission.READ_INTERVENTIONS))]


def get_cache(request: Request) -> ResultCache:
    cache: ResultCache | None = getattr(request.app.state, "dashboard_cache", None)
    if cache is None:
        # With Redis, aggregates are shared by every web process (keyed by data version).
        cache = ResultCache(shared=getattr(request.app.state, "broker", None))
        request.app.state.dashboard_cache = cache
    return cache


def pseudonym_for(settings: Settings) -> Pseudonymizer:
    """The privacy module's stable student pseudonym, keyed like every other pseudonym."""
    key = settings.effective_pii_hmac_key
    return lambda student_id: pseudonym(student_id, key=key)


def _http(exc: TutorpulseError) -> HTTPException:
    if isinstance(exc, PermissionDenied):
        return HTTPException(status.HTTP_403_FORBIDDEN, str(exc))
    if isinstance(exc, NotFoundError):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    if isinstance(exc, interventions.InvalidTransition):
        return HTTPException(status.HTTP_409_CONFLICT, str(exc))
    return HTTPException(status.HTTP_400_BAD_REQUEST, str(exc))


Cache = Annotated[ResultCache, Depends(get_cache)]


# ---------------------------------------------------------------------------- KPIs, lists
@router.get("/kpis", response_model=KpiResponse, summary="Home KPIs with change vs last period")
def get_kpis(
    db: DbSession,
    cache: Cache,
    _user: Annotated[User, Depends(require(Permission.READ_KPIS))],
    period_days: Annotated[int, Query(ge=7, le=90)] = 30,
) -> KpiResponse:
    return cache.get_or_compute(
        db,
        ("kpis", period_days),
        lambda: service.kpis(db, period_days=period_days),
        model=KpiResponse,
    )


@router.get("/tutors", response_model=TutorPage, summary="Active tutors: filter, search, sort")
def get_tutors(
    db: DbSession,
    cache: Cache,
    _user: Annotated[User, Depends(require(Permission.LIST_TUTORS))],
    risk_level: str | None = None,
    tier: str | None = None,
    subject: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: Literal["risk", "-risk", "name", "-name", "rating", "-rating", "tier", "sessions"] = (
        "-risk"
    ),
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 25,
) -> TutorPage:
    key = ("tutors", risk_level, tier, subject, q, sort, page, page_size)
    return cache.get_or_compute(
        db,
        key,
        lambda: service.list_tutors(
            db,
            risk_level=risk_level,
            tier=tier,
            subject=subject,
            q=q,
            sort=sort,
            page=page,
            page_size=page_size,
        ),
        model=TutorPage,
    )


@router.get(
    "/tutors/{tutor_id}",
    response_model=TutorProfile,
    response_model_exclude_none=True,
    summary="Tutor profile (a tutor: their own, without churn fields)",
)
def get_tutor(
    tutor_id: str,
    db: DbSession,
    clock: AppClock,
    settings: AppSettings,
    user: Annotated[User, Depends(require(Permission.READ_TUTOR_PROFILE))],
) -> TutorProfile:
    ensure_tutor_access(user, tutor_id)
    # Churn figures and notes go to the roles that may read predictions (never tutors).
    staff = has_permission(user.role, Permission.READ_PREDICTIONS)
    audience: Literal["staff", "tutor"] = "staff" if staff else "tutor"
    try:
        view = profile.tutor_profile(
            db,
            tutor_id=tutor_id,
            now=clock.now(),
            pseudonym=pseudonym_for(settings),
            audience=audience,
            notes=notes.list_notes(db, tutor_id=tutor_id) if staff else None,
        )
    except TutorpulseError as exc:
        raise _http(exc) from exc
    profile.record_view(db, tutor_id=tutor_id, audience=audience, actor=user, now=clock.now())
    db.commit()
    return view


@router.get(
    "/tutors/{tutor_id}/notes",
    response_model=list[NoteRow],
    summary="Managers' notes on a tutor (internal)",
)
def get_notes(
    tutor_id: str,
    db: DbSession,
    _user: Annotated[User, Depends(require(Permission.READ_INTERVENTIONS))],
) -> list[NoteRow]:
    return notes.list_notes(db, tutor_id=tutor_id)


@router.post(
    "/tutors/{tutor_id}/notes",
    response_model=NoteRow,
    status_code=status.HTTP_201_CREATED,
    summary="Add a note on a tutor (internal)",
)
def post_note(
    tutor_id: str,
    body: NoteCreate,
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.RECORD_OUTCOMES))],
) -> NoteRow:
    try:
        row = notes.add_note(db, tutor_id=tutor_id, body=body.body, author=user, now=clock.now())
    except TutorpulseError as exc:
        db.rollback()
        raise _http(exc) from exc
    db.commit()
    return row


# ------------------------------------------------------------------------- interventions
@router.get("/interventions", response_model=InterventionPage, summary="Task queues")
def get_interventions(
    db: DbSession,
    clock: AppClock,
    user: Staff,
    assignee: Annotated[
        str | None, Query(description="me, unassigned, or a user id; default: everyone")
    ] = None,
    status_: Annotated[str | None, Query(alias="status")] = "open",
    mode: Literal["human", "automated", "all"] = "human",
    tutor_id: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 25,
) -> InterventionPage:
    assignee_id: int | None = None
    if assignee == "me":
        assignee_id = user.id if user.id is not None else -1
    elif assignee and assignee != "unassigned":
        if not assignee.isdigit():
            raise HTTPException(422, "assignee must be me, unassigned or a user id")
        assignee_id = int(assignee)
    return service.list_interventions(
        db,
        now=clock.now(),
        assignee_id=assignee_id,
        unassigned=assignee == "unassigned",
        status=None if status_ == "all" else status_,
        mode=None if mode == "all" else mode,
        tutor_id=tutor_id,
        page=page,
        page_size=page_size,
    )


@router.post(
    "/interventions/{intervention_id}/assign",
    response_model=InterventionRow,
    summary="Assign a human task (default: to the caller)",
)
def assign_intervention(
    intervention_id: int,
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.ASSIGN_INTERVENTIONS))],
    body: AssignRequest | None = None,
) -> InterventionRow:
    now = clock.now()
    assignee = body.assignee_id if body and body.assignee_id is not None else user.id
    if assignee is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "assignee_id is required")
    try:
        item = interventions.assign(
            db, intervention_id=intervention_id, assignee_id=assignee, actor=user, now=now
        )
    except TutorpulseError as exc:
        db.rollback()
        raise _http(exc) from exc
    db.commit()
    return intervention_row(
        item, now=now, assignee_name=user_names(db, [item.assigned_to]).get(assignee)
    )


@router.post(
    "/interventions/{intervention_id}/outcome",
    response_model=InterventionRow,
    summary="Record the outcome of a task (closes it)",
)
def record_outcome(
    intervention_id: int,
    body: OutcomeRequest,
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.RECORD_OUTCOMES))],
) -> InterventionRow:
    now = clock.now()
    try:
        item = interventions.record_outcome(
            db,
            intervention_id=intervention_id,
            outcome=body.outcome,
            notes=body.notes,
            actor=user,
            now=now,
        )
    except TutorpulseError as exc:
        db.rollback()
        raise _http(exc) from exc
    db.commit()
    return intervention_row(item, now=now)


# -------------------------------------------------------------------------------- alerts
@router.get("/alerts", response_model=AlertPage, summary="Alert queue, most urgent first")
def get_alerts(
    db: DbSession,
    clock: AppClock,
    cache: Cache,
    _user: Staff,
    severity: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 25,
) -> AlertPage:
    now = clock.now()
    # Every alert change writes an outbox row (pipeline runs, task actions, the alert routes
    # below); snoozes and SLA countdowns move with time, hence the minute in the key.
    key = ("alerts", severity, status_, page, page_size, now.replace(second=0, microsecond=0))
    return cache.get_or_compute(
        db,
        key,
        lambda: service.list_alerts(
            db, now=now, severity=severity, status=status_, page=page, page_size=page_size
        ),
        model=AlertPage,
    )


def _alert_row(db: Session, alert: Alert, now: Any) -> AlertRow:
    return AlertRow(
        alert_id=alert.id,
        tutor_id=alert.tutor_id,
        tutor_name=None,
        rule=alert.rule,
        severity=alert.severity,
        status=alert.status,
        raised_at=alert.raised_at,
        snoozed_until=alert.snoozed_until,
        churn_score=None,
        risk_level=alert.severity,
        recommended=None,
    )


AlertActor = Annotated[User, Depends(require(Permission.RECORD_OUTCOMES))]


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertRow)
def acknowledge_alert(alert_id: int, db: DbSession, clock: AppClock, user: AlertActor) -> AlertRow:
    try:
        alert = interventions.acknowledge_alert(db, alert_id=alert_id, actor=user, now=clock.now())
    except TutorpulseError as exc:
        db.rollback()
        raise _http(exc) from exc
    db.commit()
    return _alert_row(db, alert, clock.now())


@router.post("/alerts/{alert_id}/snooze", response_model=AlertRow)
def snooze_alert(
    alert_id: int, body: SnoozeRequest, db: DbSession, clock: AppClock, user: AlertActor
) -> AlertRow:
    now = clock.now()
    try:
        alert = interventions.snooze_alert(
            db,
            alert_id=alert_id,
            until=now + timedelta(hours=body.hours),
            actor=user,
            now=now,
        )
    except TutorpulseError as exc:
        db.rollback()
        raise _http(exc) from exc
    db.commit()
    return _alert_row(db, alert, now)


@router.post("/alerts/{alert_id}/dismiss", response_model=AlertRow)
def dismiss_alert(
    alert_id: int, body: DismissRequest, db: DbSession, clock: AppClock, user: AlertActor
) -> AlertRow:
    try:
        alert = interventions.dismiss_alert(
            db, alert_id=alert_id, reason=body.reason, actor=user, now=clock.now()
        )
    except TutorpulseError as exc:
        db.rollback()
        raise _http(exc) from exc
    db.commit()
    return _alert_row(db, alert, clock.now())


# ----------------------------------------------------------------------------- analytics
@router.get(
    "/analytics/{name}",
    response_model=analytics.AnalyticsTable,
    summary="An analytics table (format=csv for a CSV download)",
    responses={200: {"content": {"text/csv": {}}}},
)
def get_analytics(
    name: str,
    db: DbSession,
    cache: Cache,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.READ_ANALYTICS))],
    format: Literal["json", "csv"] = "json",
) -> Any:
    if name not in analytics.TABLES:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"unknown table {name!r}; one of {', '.join(sorted(analytics.TABLES))}",
        )
    table = cache.get_or_compute(
        db,
        ("analytics", name),
        lambda: analytics.analytics_table(db, name=name),
        model=analytics.AnalyticsTable,
    )
    if format == "csv":
        content = analytics.export_csv(db, table=table, name=name, actor=user, now=clock.now())
        db.commit()  # the export's entry is stored before the file leaves
        return Response(
            content,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return table


# -------------------------------------------------------------------------------- portal
@router.get(
    "/portal/me",
    response_model=PortalResponse,
    summary="The signed-in tutor's portal (never churn figures)",
)
def get_portal(
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.READ_PORTAL))],
) -> PortalResponse:
    if not user.tutor_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no tutor record linked to this account")
    try:
        return portal.portal(db, tutor_id=user.tutor_id, now=clock.now())
    except TutorpulseError as exc:
        raise _http(exc) from exc


@router.put(
    "/portal/me/goals/{key}",
    response_model=PortalResponse,
    summary="Set one of my goals (avg_rating, on_time, first_sessions)",
)
def put_goal(
    key: str,
    body: GoalUpdate,
    db: DbSession,
    clock: AppClock,
    user: Annotated[User, Depends(require(Permission.READ_PORTAL))],
) -> PortalResponse:
    if not user.tutor_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no tutor record linked to this account")
    try:
        notes.set_goal(
            db,
            tutor_id=user.tutor_id,
            key=key,
            target=body.target,
            actor=user,
            now=clock.now(),
        )
    except PermissionDenied as exc:
        db.rollback()
        raise _http(exc) from exc
    except TutorpulseError as exc:
        db.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    db.commit()
    return portal.portal(db, tutor_id=user.tutor_id, now=clock.now())


# --------------------------------------------------------------------------- live updates
@router.get(
    "/updates", response_model=UpdatesResponse, summary="Changes after an outbox id (polling)"
)
def get_updates(
    db: DbSession,
    _user: Annotated[User, Depends(require(Permission.SUBSCRIBE_UPDATES))],
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> UpdatesResponse:
    return service.updates_since(db, since=since, limit=limit)


def _poll(factory: sessionmaker[Session], since: int) -> UpdatesResponse:
    with factory() as db:
        if since < 0:
            return service.UpdatesResponse(latest_id=service.latest_update_id(db), events=[])
        return service.updates_since(db, since=since)


@router.websocket("/ws/updates")
async def updates_socket(websocket: WebSocket) -> None:
    """Push outbox rows (what changed: tutors, tasks, alerts) as they are committed.

    The first message carries the current latest id (``since`` omitted); later messages the
    events committed since. The database is polled each second: it is the source of truth,
    so every worker process sees the same feed without a broker. With Redis configured, a
    "re-read now" message wakes the loop at once instead of at the next poll.
    """
    # The route table already refused the handshake of anyone without the permission;
    # checked again here because the socket outlives that one request.
    user = await run_in_threadpool(principal_user, websocket)
    if (
        user is None
        or not user.is_active
        or not has_permission(user.role, Permission.SUBSCRIBE_UPDATES)
    ):
        await websocket.close(code=4403)
        return
    await websocket.accept()
    factory: sessionmaker[Session] = websocket.app.state.session_factory
    since = int(websocket.query_params.get("since", "-1") or -1)
    live: LiveSignal | None = getattr(websocket.app.state, "live", None)
    try:
        while True:
            result = await run_in_threadpool(_poll, factory, since)
            if result.events or since < 0:
                await websocket.send_json(result.model_dump(mode="json"))
            since = result.latest_id
            if live is None:
                await asyncio.sleep(UPDATE_POLL_SECONDS)
            else:
                await live.wait(newer_than=since, timeout=UPDATE_POLL_SECONDS)
    except WebSocketDisconnect:
        return


# ------------------------------------------------------------------------------ feedback
@public_router.get(
    "/feedback/{token}", response_model=FeedbackForm, summary="The feedback form of a session"
)
def get_feedback_form(
    token: str, db: DbSession, settings: AppSettings, clock: AppClock
) -> FeedbackForm:
    try:
        return feedback.feedback_form(
            db, secret_key=settings.secret_key, token=token, now=clock.now()
        )
    except feedback.InvalidLink as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@public_router.post(
    "/feedback/{token}",
    response_model=FeedbackReceipt,
    status_code=status.HTTP_201_CREATED,
    summary="Submit feedback (once per session)",
)
def post_feedback(
    token: str, body: FeedbackSubmission, db: DbSession, settings: AppSettings, clock: AppClock
) -> FeedbackReceipt:
    try:
        receipt = feedback.submit_feedback(
            db, secret_key=settings.secret_key, token=token, body=body, now=clock.now()
        )
    except feedback.InvalidLink as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except feedback.AlreadySubmitted as exc:
        db.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "Thank you! We already have your feedback for this session.",
        ) from exc
    except TutorpulseError as exc:
        db.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    db.commit()
    return receipt
