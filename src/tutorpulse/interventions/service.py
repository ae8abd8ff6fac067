"""Human task workflow and alert lifecycle: one service function per action, used by the
API, the CLI and the UI alike. Keyword-only; the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.auth.models import User
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


def assign(
    db: Session, *, intervention_id: int, assignee_id: int, actor_id: int | None, now: datetime
) -> Intervention:
    item = _get(db, intervention_id)
    if item.mode != "human" or item.status not in ("pending", "in_progress"):
        raise InvalidTransition(
            f"intervention {intervention_id} is {item.status}; only open human tasks can be "
            "assigned"
        )
    assignee = db.get(User, assignee_id)
    if assignee is None or not assignee.is_active or assignee.role not in STAFF_ROLES:
        raise InvalidTransition(f"user {assignee_id} is not an active staff member")
    item.assigned_to = assignee_id
    notify(
        db,
        subject=f"Task assigned to you: {item.intervention_type} for tutor {item.tutor_id}",
        body=f"{item.trigger_reason}. Due: {item.due_date or 'no deadline'}.",
        now=now,
        recipient_user_id=assignee_id,
        intervention_id=item.intervention_id,
    )
    _emit(db, "intervention.assigned", item, now, assignee_id=assignee_id, actor_id=actor_id)
    return item


def start(
    db: Session, *, intervention_id: int, actor_id: int | None, now: datetime
) -> Intervention:
    item = _get(db, intervention_id)
    if item.status != "pending":
        raise InvalidTransition(f"intervention {intervention_id} is {item.status}, not pending")
    item.status = "in_progress"
    item.acted_at = item.acted_at or now
    _emit(db, "intervention.started", item, now, actor_id=actor_id)
    return item


def record_outcome(
    db: Session,
    *,
    intervention_id: int,
    outcome: str,
    notes: str | None,
    actor_id: int | None,
    now: datetime,
) -> Intervention:
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
    _emit(db, "intervention.completed", item, now, outcome=outcome, actor_id=actor_id)
    return item


def cancel(
    db: Session, *, intervention_id: int, reason: str, actor_id: int | None, now: datetime
) -> Intervention:
    if not reason.strip():
        raise TutorpulseError("a reason is required to cancel an intervention")
    item = _get(db, intervention_id)
    if item.status not in ("pending", "in_progress"):
        raise InvalidTransition(f"intervention {intervention_id} is {item.status}; cannot cancel")
    item.status = "cancelled"
    item.closed_reason = "cancelled"
    item.notes = reason.strip()
    item.completed_date = now
    _emit(db, "intervention.cancelled", item, now, actor_id=actor_id)
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


def _alert_changed(db: Session, alert: Alert, action: str, now: datetime) -> None:
    """Every alert action tells the dashboards (outbox row, delivered after commit)."""
    payload = {"id": alert.id, "tutor_id": alert.tutor_id, "actor_id": alert.actor_user_id}
    events.emit(db, topic=f"alert.{action}", payload=payload, now=now)


def acknowledge_alert(db: Session, *, alert_id: int, actor_id: int | None, now: datetime) -> Alert:
    alert = _get_alert(db, alert_id)
    alert.status, alert.actor_user_id, alert.acted_at = "acknowledged", actor_id, now
    _alert_changed(db, alert, "acknowledged", now)
    return alert


def snooze_alert(
    db: Session, *, alert_id: int, until: datetime, actor_id: int | None, now: datetime
) -> Alert:
    if until <= now:
        raise TutorpulseError("snooze until a time in the future")
    alert = _get_alert(db, alert_id)
    alert.status, alert.snoozed_until = "snoozed", until
    alert.actor_user_id, alert.acted_at = actor_id, now
    _alert_changed(db, alert, "snoozed", now)
    return alert


def dismiss_alert(
    db: Session, *, alert_id: int, reason: str, actor_id: int | None, now: datetime
) -> Alert:
    if reason not in DISMISS_REASONS:
        raise TutorpulseError(f"dismiss reason must be one of {', '.join(DISMISS_REASONS)}")
    alert = _get_alert(db, alert_id)
    alert.status, alert.dismiss_reason = "dismissed", reason
    alert.actor_user_id, alert.acted_at = actor_id, now
    _alert_changed(db, alert, "dismissed", now)
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
