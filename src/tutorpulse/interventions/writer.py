"""Creating the engine's new interventions in bulk: a few queries and flushes per run, not
per decision (a first run over a whole marketplace creates thousands at once)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.auth.models import User
from tutorpulse.events.models import OutboxMessage
from tutorpulse.interventions.assignment import PER_TUTOR, HoldoutPolicy, in_holdout, pick_variant
from tutorpulse.interventions.context import latest_factors, tutor_subjects
from tutorpulse.interventions.messages import staff_message, tutor_message
from tutorpulse.interventions.models import OPEN_STATUSES, Intervention, Notification
from tutorpulse.interventions.rules import (
    MENTOR_CAPACITY,
    RULES,
    RULES_VERSION,
    TutorContext,
    sla_hours,
)
from tutorpulse.marketplace.models import Tutor
from tutorpulse.metrics.models import TutorPerformanceMetric
from tutorpulse.metrics.service import chunked

if TYPE_CHECKING:
    from tutorpulse.interventions.engine import Decision

PIP_CHECKINS = 4
LONGEST_COOLDOWN = timedelta(days=max(rule.cooldown_days for rule in RULES))


@dataclass
class History:
    """Earlier decisions that cool-downs, caps and per-session rules look at."""

    recent: dict[tuple[str, str], list[tuple[datetime, bool]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    keyed: set[tuple[str, str, str]] = field(default_factory=set)

    def cooling_down(self, decision: Decision, now: datetime) -> bool:
        rule, key = decision.rule, decision.trigger.subject_key
        if key:
            # Per-session rules act once per session, whatever the day.
            return (decision.tutor_id, rule.code, key) in self.keyed
        earlier = self.recent.get((decision.tutor_id, rule.code), [])
        if rule.cooldown_days and any(
            when > now - timedelta(days=rule.cooldown_days) for when, _ in earlier
        ):
            return True
        if rule.max_per_week is not None:
            sent = sum(1 for when, holdout in earlier if not holdout and when > now - timedelta(7))
            return sent >= rule.max_per_week
        return False

    def remember(self, item: Intervention) -> None:
        key = (item.tutor_id, item.intervention_type)
        self.recent[key].append((item.recommended_date, item.holdout))
        if item.subject_key:
            self.keyed.add((item.tutor_id, item.intervention_type, item.subject_key))


def load_history(db: Session, *, tutor_ids: list[str], keys: list[str], now: datetime) -> History:
    history = History()
    columns = (
        Intervention.tutor_id,
        Intervention.intervention_type,
        Intervention.subject_key,
        Intervention.recommended_date,
        Intervention.holdout,
    )
    for part in chunked(tutor_ids):
        for tutor_id, kind, _key, when, holdout in db.execute(
            select(*columns).where(
                Intervention.tutor_id.in_(part),
                Intervention.parent_id.is_(None),
                Intervention.recommended_date > now - LONGEST_COOLDOWN,
            )
        ):
            history.recent[(tutor_id, kind)].append((when, holdout))
    for part in chunked(sorted(set(keys))):
        for tutor_id, kind, key, _, _ in db.execute(
            select(*columns).where(Intervention.subject_key.in_(part))
        ):
            history.keyed.add((tutor_id, kind, key))
    return history


class StaffPool:
    """Active staff per role with their open task counts: least-loaded assignment."""

    def __init__(self, db: Session) -> None:
        load = dict(
            db.execute(
                select(Intervention.assigned_to, func.count())
                .where(Intervention.status.in_(("pending", "in_progress")))
                .group_by(Intervention.assigned_to)
            ).all()
        )
        self._by_role: dict[str, list[list[int]]] = defaultdict(list)
        for user_id, role in db.execute(
            select(User.id, User.role).where(User.is_active.is_(True)).order_by(User.id)
        ):
            self._by_role[role].append([load.get(user_id, 0), user_id])

    def pick(self, role: str | None) -> int | None:
        candidates = self._by_role.get(role or "")
        if not candidates:
            return None
        chosen = min(candidates)  # fewest open tasks, then the oldest account
        chosen[0] += 1
        return chosen[1]


def create_interventions(
    db: Session,
    decisions: list[tuple[Decision, TutorContext]],
    *,
    now: datetime,
    seed: str,
    holdout_share: float | None = None,
) -> list[Intervention]:
    """Insert the decisions, then their notifications and events, in a few flushes.

    ``holdout_share`` overrides every rule's holdout share (validation experiments).
    """
    if not decisions:
        return []
    staff = StaffPool(db)
    policy = HoldoutPolicy(seed=seed, share=holdout_share)
    factors = _human_task_factors(db, decisions)
    items = [
        _build(db, decision, context, now=now, policy=policy, staff=staff, factors=factors)
        for decision, context in decisions
    ]
    db.add_all(items)
    db.flush()
    db.add_all(
        [checkin for item in items if _is_new_plan(item) for checkin in _checkins(item, now)]
    )
    acted = [item for item in items if not item.holdout]
    tutors = _tutor_contacts(db, [item.tutor_id for item in acted if item.mode == "automated"])
    notifications = [_notification(item, tutors, now) for item in acted]
    db.add_all(notifications)
    db.flush()
    messages = [
        OutboxMessage(
            topic="email.send",
            payload={"notification_id": n.id, "to": email, "subject": n.subject},
            created_at=now,
        )
        for n, email in ((n, tutors.get(n.tutor_id or "", {}).get("email")) for n in notifications)
        if n.tutor_id and email
    ]
    messages += [
        OutboxMessage(
            topic="intervention.created",
            payload={"id": i.intervention_id, "tutor_id": i.tutor_id, "type": i.intervention_type},
            created_at=now,
        )
        for i in acted
    ]
    db.add_all(messages)
    return items


def _build(
    db: Session,
    decision: Decision,
    context: TutorContext,
    *,
    now: datetime,
    policy: HoldoutPolicy,
    staff: StaffPool,
    factors: dict[str, dict[str, Any]] | None = None,
) -> Intervention:
    rule, trigger = decision.rule, decision.trigger
    seed = policy.seed
    holdout = in_holdout(
        seed=seed,
        rule_code=rule.code,
        tutor_id=decision.tutor_id,
        key=PER_TUTOR,  # once per tutor and rule: see ``assignment``
        share=policy.share_for(rule.holdout_share),
    )
    evidence = dict(trigger.evidence)
    if rule.mode == "human":
        evidence |= task_evidence(context, (factors or {}).get(decision.tutor_id))
    if rule.code == "H2":
        evidence["mentor_id"] = propose_mentor(db, context)
    item = Intervention(
        tutor_id=decision.tutor_id,
        intervention_type=rule.code,
        subject_key=trigger.subject_key,
        mode=rule.mode,
        trigger_reason=trigger.reason,
        evidence=evidence,
        recommended_date=now,
        last_triggered_at=now,
        owner_role=rule.owner_role,
        holdout=holdout,
        variant=pick_variant(
            seed=seed, rule_code=rule.code, tutor_id=decision.tutor_id, variants=rule.variants
        ),
        rule_version=RULES_VERSION,
        risk_level=context.risk_level,
        churn_score=context.score,
        status="holdout" if holdout else ("sent" if rule.mode == "automated" else "pending"),
    )
    if not holdout and rule.mode == "automated":
        item.completed_date = now
    if not holdout and rule.mode == "human":
        hours = sla_hours(rule, context.risk_level)
        item.due_date = now + timedelta(hours=hours) if hours else None
        item.assigned_to = staff.pick(rule.owner_role)
    return item


def _human_task_factors(
    db: Session, decisions: list[tuple[Decision, TutorContext]]
) -> dict[str, dict[str, Any]]:
    """The latest prediction's factors of every tutor about to get a human task."""
    wanted: dict[date, list[str]] = defaultdict(list)
    for decision, context in decisions:
        if decision.rule.mode == "human":
            wanted[context.as_of].append(decision.tutor_id)
    found: dict[str, dict[str, Any]] = {}
    for as_of, tutor_ids in wanted.items():
        found |= latest_factors(db, tutor_ids=tutor_ids, as_of=as_of)
    return found


def task_evidence(context: TutorContext, factors: dict[str, Any] | None) -> dict[str, Any]:
    """What a reviewer sees on a human task: the open flags, the score and the top factors
    of the latest prediction (model factors from TreeSHAP when a model scored the tutor)."""
    return {
        "flags": sorted(context.open_flags),
        "score": context.score,
        "risk_level": context.risk_level,
        "factors": factors
        or {"source": None, "top_components": [], "top_features": [], "note": "no prediction"},
    }


def _is_new_plan(item: Intervention) -> bool:
    return item.intervention_type == "H3" and not item.holdout and item.parent_id is None


def _checkins(plan: Intervention, now: datetime) -> list[Intervention]:
    return [
        Intervention(
            tutor_id=plan.tutor_id,
            intervention_type=plan.intervention_type,
            subject_key=f"checkin-{week}",
            mode="human",
            trigger_reason=f"weekly check-in {week} of the improvement plan",
            evidence={},
            recommended_date=now,
            owner_role=plan.owner_role,
            status="pending",
            rule_version=RULES_VERSION,
            due_date=now + timedelta(days=7 * week),
            assigned_to=plan.assigned_to,
            parent_id=plan.intervention_id,
        )
        for week in range(1, PIP_CHECKINS + 1)
    ]


def _tutor_contacts(db: Session, tutor_ids: list[str]) -> dict[str, dict[str, Any]]:
    contacts: dict[str, dict[str, Any]] = {}
    for part in chunked(sorted(set(tutor_ids))):
        for tutor_id, name, email in db.execute(
            select(Tutor.tutor_id, Tutor.name, Tutor.email).where(Tutor.tutor_id.in_(part))
        ):
            contacts[tutor_id] = {"name": name.split(" ")[0], "email": email, "user_id": None}
        for user_id, linked in db.execute(
            select(User.id, User.tutor_id).where(User.tutor_id.in_(part))
        ):
            if linked is not None:
                contacts.setdefault(linked, {})["user_id"] = user_id
    return contacts


def _notification(
    item: Intervention, tutors: dict[str, dict[str, Any]], now: datetime
) -> Notification:
    if item.mode == "automated":
        contact = tutors.get(item.tutor_id, {})
        subject, body = tutor_message(
            item.intervention_type,
            item.variant or "standard",
            name=contact.get("name", "there"),
            evidence=item.evidence,
        )
        return Notification(
            channel="email" if contact.get("email") else "in_app",
            recipient_user_id=contact.get("user_id"),
            tutor_id=item.tutor_id,
            intervention_id=item.intervention_id,
            subject=subject[:200],
            body=body,
            created_at=now,
        )
    subject, body = staff_message(
        item.intervention_type,
        tutor_id=item.tutor_id,
        reason=item.trigger_reason,
        due=item.due_date.strftime("%Y-%m-%d %H:%M") if item.due_date else None,
    )
    return Notification(
        channel="in_app",
        recipient_user_id=item.assigned_to,
        recipient_role=None if item.assigned_to else item.owner_role,
        intervention_id=item.intervention_id,
        subject=subject[:200],
        body=body,
        created_at=now,
    )


def propose_mentor(db: Session, context: TutorContext) -> str | None:
    """An Exemplary tutor in the same subject with room for one more mentee."""
    candidates = db.execute(
        select(TutorPerformanceMetric.tutor_id).where(
            TutorPerformanceMetric.calculation_date == context.as_of,
            TutorPerformanceMetric.window_days == 30,
            TutorPerformanceMetric.performance_tier == "Exemplary",
        )
    ).scalars()
    subjects = set(context.subjects)
    mentor_subjects = tutor_subjects(db, tutor_ids=list(candidates))
    load: dict[str, int] = defaultdict(int)
    for evidence in db.scalars(
        select(Intervention.evidence).where(
            Intervention.intervention_type == "H2", Intervention.status.in_(OPEN_STATUSES)
        )
    ):
        if evidence.get("mentor_id"):
            load[evidence["mentor_id"]] += 1
    eligible = [
        mentor
        for mentor, taught in sorted(mentor_subjects.items())
        if subjects & set(taught) and load[mentor] < MENTOR_CAPACITY
    ]
    return min(eligible, key=lambda mentor: load[mentor]) if eligible else None
