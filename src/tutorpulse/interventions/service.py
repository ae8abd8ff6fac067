"""Human task workflow and alert lifecycle: one service function per action, used by the
API, the CLI and the UI alike. Keyword-only; the caller owns the transaction.

Each action checks the acting user against the permission table (``auth.guard``: the UI's
buttons act long after their page was checked) and appends its audit entry in the caller's
transaction, so the write and its record commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.auth.guard import ensure_allowed
from tutorpulse.auth.models import User
from tutorpulse.auth.permissions import Permission
from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.events import service as events
from tutorpulse.interventions.models import OUTCOMES, Alert, Intervention
from tutorpulse.interventions.notify import notify
from tutorpulse.interventions.rules import ESCALATION_ROLE

STAFF_ROLES = ("admin", "ops_manager", "people_ops")
DISMISS_REASONS = ("not_useful", "wrong", "already_handled")


class InvalidTransition(TutorpulseError):
    pass


def _get(db: Session, intervention_id: int) -> Intervention:
    item = db.get(Intervention, intervention_id)
    if item is None:
        raise NotFoundError("intervention", intervention_id)
    return item


def _emit(db: Session, topic: str, item: Intervention, now: datetime, **extra: Any) -> None:
    payload = {"id": item.intervention_id, "tutor_id": item.tutor_id} | extra
    events.emit(db, topic=topic, payload=payload, now=now)


def _actor_id(actor: audit.Actor) -> int | None:
    return actor.id if isinstance(actor, User) else None


def _audit_task(
    db: Session, actor: audit.Actor, verb: str, item: Intervention, now: datetime, **extra: Any
) -> None:
    audit.record(
        db,
        actor=actor,
        action=f"intervention.{verb}",
        target_type="intervention",
        target_id=item.intervention_id,
        details={"tutor_id": item.tutor_id, "type": item.intervention_type} | extra,
        now=now,
    )


def assign(
    db: Session, *, intervention_id: int, assignee_id: int, actor: audit.Actor, now: datetime
) -> Intervention:
    ensure_allowed(actor, Permission.ASSIGN_INTERVENTIONS)
    item = _get(db, intervention_id)
    if item.mode != "human" or item.status not in ("pending", "in_progress"):
        raise InvalidTransition(
            f"intervention {intervention_id} is {item.status}; only open human tasks can be "
            "assigned"
        )
    assignee = db.get(User, assignee_id)
    if assignee is None or not assignee.is_active or assignee.role not in STAFF_ROLES:
        raise InvalidTransition(f"user {assignee_id} is not an active staff member")
    previous = item.assigned_to
    item.assigned_to = assignee_id
    notify(
        db,
        subject=f"Task assigned to you: {item.intervention_type} for tutor {item.tutor_id}",
        body=f"{item.trigger_reason}. Due: {item.due_date or 'no deadline'}.",
        now=now,
        recipient_user_id=assignee_id,
        intervention_id=item.intervention_id,
    )
    _emit(
        db, "intervention.assigned", item, now, assignee_id=assignee_id, actor_id=_actor_id(actor)
    )
    _audit_task(db, actor, "assign", item, now, assignee_id=assignee_id, previous=previous)
    return item


def start(db: Session, *, intervention_id: int, actor: audit.Actor, now: datetime) -> Intervention:
    ensure_allowed(actor, Permission.RECORD_OUTCOMES)
    item = _get(db, intervention_id)
    if item.status != "pending":
        raise InvalidTransition(f"intervention {intervention_id} is {item.status}, not pending")
    item.status = "in_progress"
    item.acted_at = item.acted_at or now
    _emit(db, "intervention.started", item, now, actor_id=_actor_id(actor))
    _audit_task(db, actor, "start", item, now)
    return item


def record_outcome(
    db: Session,
    *,
    intervention_id: int,
    outcome: str,
    notes: str | None,
    actor: audit.Actor,
    now: datetime,
) -> Intervention:
    ensure_allowed(actor, Permission.RECORD_OUTCOMES)
    if outcome not in OUTCOMES:
        raise TutorpulseError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    item = _get(db, intervention_id)
    if item.status not in ("pending", "in_progress", "sent"):
        raise InvalidTransition(f"intervention {intervention_id} is {item.status}; cannot close")
    if item.status in ("pending", "in_progress"):
        item.status = "completed"
        item.completed_date = now
        item.acted_at = item.acted_at or now
    item.outcome = outcome
    item.notes = (notes or "").strip() or item.notes
    _emit(db, "intervention.completed", item, now, outcome=outcome, actor_id=_actor_id(actor))
    # The notes may name people: the entry keeps the outcome and the status, not the text.
    _audit_task(db, actor, "outcome", item, now, outcome=outcome, status=item.status)
    return item


def cancel(
    db: Session, *, intervention_id: int, reason: str, actor: audit.Actor, now: datetime
) -> Intervention:
    ensure_allowed(actor, Permission.RECORD_OUTCOMES)
    if not reason.strip():
        raise TutorpulseError("a reason is required to cancel an intervention")
    item = _get(db, intervention_id)
    if item.status not in ("pending", "in_progress"):
        raise InvalidTransition(f"intervention {intervention_id} is {item.status}; cannot cancel")
    item.status = "cancelled"
    item.closed_reason = "cancelled"
    item.notes = reason.strip()
    item.completed_date = now
    _emit(db, "intervention.cancelled", item, now, actor_id=_actor_id(actor))
    _audit_task(db, actor, "cancel", item, now)
    return item


def check_slas(db: Session, *, now: datetime) -> int:
    """Escalate open human tasks past their due time, once each: overdue mark, alert, notice."""
    overdue = db.scalars(
        select(Intervention).where(
            Intervention.status.in_(("pending", "in_progress")),
            Intervention.due_date.is_not(None),
            Intervention.due_date < now,
            Intervention.escalated_at.is_(None),
        )
    ).all()
    for item in overdue:
        item.escalated_at = now
        db.add(
            Alert(
                tutor_id=item.tutor_id,
                rule="sla_breach",
                severity="High",
                status="open",
                raised_at=now,
                intervention_id=item.intervention_id,
                details={"type": item.intervention_type, "due": str(item.due_date)},
            )
        )
        escalate_to = ESCALATION_ROLE.get(item.owner_role or "", "admin")
        notify(
            db,
            subject=f"Overdue: {item.intervention_type} for tutor {item.tutor_id}",
            body=f"The task was due {item.due_date:%Y-%m-%d %H:%M} UTC and is still "
            f"{item.status}. Escalated to {escalate_to}.",
            now=now,
            recipient_role=escalate_to,
            intervention_id=item.intervention_id,
        )
        _emit(db, "intervention.escalated", item, now)
    return len(overdue)


def _get_alert(db: Session, alert_id: int) -> Alert:
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError("alert", alert_id)
    return alert


def _alert_changed(
    db: Session, alert: Alert, action: str, actor: audit.Actor, now: datetime, **extra: Any
) -> None:
    """Every alert action tells the dashboards (outbox row, delivered after commit) and is
    audited in the same transaction."""
    payload = {"id": alert.id, "tutor_id": alert.tutor_id, "actor_id": alert.actor_user_id}
    events.emit(db, topic=f"alert.{action}", payload=payload, now=now)
    audit.record(
        db,
        actor=actor,
        action=f"alert.{action}",
        target_type="alert",
        target_id=alert.id,
        details={"tutor_id": alert.tutor_id, "rule": alert.rule} | extra,
        now=now,
    )


def acknowledge_alert(db: Session, *, alert_id: int, actor: audit.Actor, now: datetime) -> Alert:
    ensure_allowed(actor, Permission.RECORD_OUTCOMES)
    alert = _get_alert(db, alert_id)
    alert.status, alert.actor_user_id, alert.acted_at = "acknowledged", _actor_id(actor), now
    _alert_changed(db, alert, "acknowledged", actor, now)
    return alert


def snooze_alert(
    db: Session, *, alert_id: int, until: datetime, actor: audit.Actor, now: datetime
) -> Alert:
    ensure_allowed(actor, Permission.RECORD_OUTCOMES)
    if until <= now:
        raise TutorpulseError("snooze until a time in the future")
    alert = _get_alert(db, alert_id)
    alert.status, alert.snoozed_until = "snoozed", until
    alert.actor_user_id, alert.acted_at = _actor_id(actor), now
    _alert_changed(db, alert, "snoozed", actor, now, until=until.isoformat())
    return alert


def dismiss_alert(
    db: Session, *, alert_id: int, reason: str, actor: audit.Actor, now: datetime
) -> Alert:
    ensure_allowed(actor, Permission.RECORD_OUTCOMES)
    if reason not in DISMISS_REASONS:
        raise TutorpulseError(f"dismiss reason must be one of {', '.join(DISMISS_REASONS)}")
    alert = _get_alert(db, alert_id)
    alert.status, alert.dismiss_reason = "dismissed", reason
    alert.actor_user_id, alert.acted_at = _actor_id(actor), now
    _alert_changed(db, alert, "dismissed", actor, now, reason=reason)
    return alert


def dismiss_reasons_by_rule(db: Session) -> dict[str, dict[str, int]]:
    """How often each alert rule was dismissed, and why: the input for tuning thresholds."""
    counts: dict[str, dict[str, int]] = {}
    for rule, reason in db.execute(
        select(Alert.rule, Alert.dismiss_reason).where(Alert.status == "dismissed")
    ):
        by_reason = counts.setdefault(rule, {})
        by_reason[reason or "unspecified"] = by_reason.get(reason or "unspecified", 0) + 1
    return counts
