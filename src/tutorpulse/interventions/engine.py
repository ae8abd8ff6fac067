"""The intervention engine: evaluate the rules for every active tutor as of a day.

One open intervention per tutor, type and subject (a re-trigger refreshes it); cool-downs and
weekly caps per type; randomized holdouts recorded at decision time; a human task whose
trigger cleared before anyone acted is closed as "no longer needed"; high and critical risk
raise manager alerts whose lifecycle (acknowledge, snooze, dismiss) the managers own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.auth.models import User
from tutorpulse.events import service as events
from tutorpulse.interventions.assignment import in_holdout, pick_variant
from tutorpulse.interventions.context import load_contexts, tutor_subjects
from tutorpulse.interventions.messages import staff_message, tutor_message
from tutorpulse.interventions.models import OPEN_STATUSES, Alert, Intervention
from tutorpulse.interventions.notify import notify
from tutorpulse.interventions.rules import (
    CRITICAL,
    HIGH,
    MENTOR_CAPACITY,
    RULES,
    RULES_BY_CODE,
    RULES_VERSION,
    Rule,
    Trigger,
    TutorContext,
    sla_hours,
)
from tutorpulse.marketplace.models import Tutor, TutoringSession
from tutorpulse.metrics.data import day_end, day_start
from tutorpulse.metrics.models import TutorPerformanceMetric
from tutorpulse.metrics.service import chunked

A3_DELAY = timedelta(hours=2)
PREP_HORIZON = timedelta(hours=48)
PREP_RISK = 0.5
ALERT_RULES = {CRITICAL: "critical_risk", HIGH: "high_risk"}
PIP_CHECKINS = 4


@dataclass
class EngineResult:
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    holdout: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refreshed: int = 0
    closed: int = 0
    skipped_cooldown: int = 0
    alerts_raised: int = 0
    alerts_resolved: int = 0


@dataclass(frozen=True)
class Decision:
    rule: Rule
    tutor_id: str
    trigger: Trigger

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tutor_id, self.rule.code, self.trigger.subject_key)


def run_engine(
    db: Session,
    *,
    as_of: date,
    now: datetime,
    seed: str = "tutorpulse",
    prep_risks: Mapping[str, float] | None = None,
    tutor_ids: list[str] | None = None,
) -> EngineResult:
    """Evaluate every rule for every active tutor (or only ``tutor_ids``); never commits."""
    contexts = load_contexts(db, as_of=as_of, tutor_ids=tutor_ids)
    decisions = [d for c in contexts.values() for d in tutor_decisions(c)]
    decisions += first_session_checkins(db, contexts=contexts, as_of=as_of, now=now)
    decisions += prep_reminders(db, contexts=contexts, now=now, prep_risks=prep_risks or {})
    result = EngineResult()
    open_items = _open_interventions(db, tutor_ids=list(contexts))
    wanted = {d.key for d in decisions}
    for decision in decisions:
        existing = open_items.get(decision.key)
        context = contexts[decision.tutor_id]
        if existing is not None:
            existing.last_triggered_at = now
            existing.evidence = existing.evidence | decision.trigger.evidence
            existing.risk_level, existing.churn_score = context.risk_level, context.score
            result.refreshed += 1
            continue
        if _cooling_down(db, decision, now):
            result.skipped_cooldown += 1
            continue
        _create(db, decision, context, now=now, seed=seed, result=result)
    for key, item in open_items.items():
        if key not in wanted and item.parent_id is None and item.acted_at is None:
            item.status = "cancelled"
            item.closed_reason = "no_longer_needed"
            item.completed_date = now
            result.closed += 1
    _sync_alerts(db, contexts=contexts, now=now, result=result, partial=tutor_ids is not None)
    db.flush()
    return result


def tutor_decisions(context: TutorContext) -> list[Decision]:
    decisions = []
    for rule in RULES:
        if rule.trigger is None or context.risk_level not in rule.levels:
            continue
        trigger = rule.trigger(context)
        if trigger is not None:
            decisions.append(Decision(rule, context.tutor_id, trigger))
    return decisions


def first_session_checkins(
    db: Session, *, contexts: Mapping[str, TutorContext], as_of: date, now: datetime
) -> list[Decision]:
    """A3: a check-in survey two hours after every first session with a new student."""
    rule = RULES_BY_CODE["A3"]
    query = select(
        TutoringSession.session_id,
        TutoringSession.tutor_id,
        TutoringSession.scheduled_start,
        TutoringSession.duration_minutes,
    ).where(
        TutoringSession.session_number == 1,
        TutoringSession.status == "completed",
        TutoringSession.scheduled_start >= day_start(as_of - timedelta(days=1)),
        TutoringSession.scheduled_start < day_end(as_of),
    )
    decisions = []
    for session_id, tutor_id, start, minutes in db.execute(query):
        if tutor_id in contexts and start + timedelta(minutes=minutes) + A3_DELAY <= now:
            trigger = Trigger("first session with a new student", {"session_id": session_id})
            decisions.append(Decision(rule, tutor_id, _keyed(trigger, session_id)))
    return decisions


def prep_reminders(
    db: Session,
    *,
    contexts: Mapping[str, TutorContext],
    now: datetime,
    prep_risks: Mapping[str, float],
) -> list[Decision]:
    """PREP: upcoming first sessions whose predicted risk of a poor rating exceeds 50%."""
    if not prep_risks:
        return []
    rule = RULES_BY_CODE["PREP"]
    query = select(TutoringSession.session_id, TutoringSession.tutor_id).where(
        TutoringSession.status == "scheduled",
        TutoringSession.session_number == 1,
        TutoringSession.scheduled_start > now,
        TutoringSession.scheduled_start <= now + PREP_HORIZON,
        TutoringSession.session_id.in_(list(prep_risks)),
    )
    decisions = []
    for session_id, tutor_id in db.execute(query):
        risk = prep_risks[session_id]
        if tutor_id in contexts and risk > PREP_RISK:
            trigger = Trigger(
                f"predicted first-session risk {risk:.0%}",
                {"session_id": session_id, "risk": round(risk, 3)},
            )
            decisions.append(Decision(rule, tutor_id, _keyed(trigger, session_id)))
    return decisions


def _keyed(trigger: Trigger, key: str) -> Trigger:
    return Trigger(trigger.reason, trigger.evidence, subject_key=key)


# -------------------------------------------------------------------------- writing
def _open_interventions(
    db: Session, *, tutor_ids: list[str]
) -> dict[tuple[str, str, str], Intervention]:
    items: dict[tuple[str, str, str], Intervention] = {}
    for part in chunked(tutor_ids):
        for item in db.scalars(
            select(Intervention).where(
                Intervention.tutor_id.in_(part),
                Intervention.status.in_(OPEN_STATUSES),
                Intervention.parent_id.is_(None),
            )
        ):
            items[(item.tutor_id, item.intervention_type, item.subject_key)] = item
    return items


def _cooling_down(db: Session, decision: Decision, now: datetime) -> bool:
    rule = decision.rule
    base = select(func.count()).where(
        Intervention.tutor_id == decision.tutor_id,
        Intervention.intervention_type == rule.code,
        Intervention.parent_id.is_(None),
    )
    if decision.trigger.subject_key:
        # Per-session rules act once per session, whatever the day.
        keyed = base.where(Intervention.subject_key == decision.trigger.subject_key)
        return bool(db.scalar(keyed))
    if rule.cooldown_days and db.scalar(
        base.where(Intervention.recommended_date > now - timedelta(days=rule.cooldown_days))
    ):
        return True
    if rule.max_per_week is not None:
        sent = db.scalar(
            base.where(
                Intervention.recommended_date > now - timedelta(days=7),
                Intervention.holdout.is_(False),
            )
        )
        return bool(sent is not None and sent >= rule.max_per_week)
    return False


def _create(
    db: Session,
    decision: Decision,
    context: TutorContext,
    *,
    now: datetime,
    seed: str,
    result: EngineResult,
) -> Intervention:
    rule, trigger = decision.rule, decision.trigger
    holdout = in_holdout(
        seed=seed,
        rule_code=rule.code,
        tutor_id=decision.tutor_id,
        key=trigger.subject_key or context.as_of.isoformat(),
        share=rule.holdout_share,
    )
    variant = pick_variant(
        seed=seed, rule_code=rule.code, tutor_id=decision.tutor_id, variants=rule.variants
    )
    evidence = dict(trigger.evidence)
    if rule.code == "H2":
        evidence["mentor_id"] = _propose_mentor(db, context)
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
        variant=variant,
        rule_version=RULES_VERSION,
        risk_level=context.risk_level,
        churn_score=context.score,
        status="holdout" if holdout else ("sent" if rule.mode == "automated" else "pending"),
    )
    db.add(item)
    db.flush()
    if holdout:
        result.holdout[rule.code] += 1
        return item
    result.created[rule.code] += 1
    if rule.mode == "automated":
        _send_to_tutor(db, item, now=now)
    else:
        hours = sla_hours(rule, context.risk_level)
        item.due_date = now + timedelta(hours=hours) if hours else None
        item.assigned_to = least_loaded_user(db, role=rule.owner_role)
        if rule.code == "H3":
            _add_checkins(db, item, now=now)
        subject, body = staff_message(
            rule.code,
            tutor_id=item.tutor_id,
            reason=item.trigger_reason,
            due=item.due_date.strftime("%Y-%m-%d %H:%M") if item.due_date else None,
        )
        notify(
            db,
            subject=subject,
            body=body,
            now=now,
            recipient_user_id=item.assigned_to,
            recipient_role=None if item.assigned_to else rule.owner_role,
            intervention_id=item.intervention_id,
        )
    events.emit(
        db,
        topic="intervention.created",
        payload={"id": item.intervention_id, "tutor_id": item.tutor_id, "type": rule.code},
        now=now,
    )
    return item


def _send_to_tutor(db: Session, item: Intervention, *, now: datetime) -> None:
    tutor = db.get(Tutor, item.tutor_id)
    name = tutor.name.split(" ")[0] if tutor else "there"
    subject, body = tutor_message(
        item.intervention_type, item.variant or "standard", name=name, evidence=item.evidence
    )
    tutor_user = db.scalar(select(User.id).where(User.tutor_id == item.tutor_id))
    notify(
        db,
        subject=subject,
        body=body,
        now=now,
        recipient_user_id=tutor_user,
        tutor_id=item.tutor_id,
        email=tutor.email if tutor else None,
        intervention_id=item.intervention_id,
    )
    item.completed_date = now


def _add_checkins(db: Session, plan: Intervention, *, now: datetime) -> None:
    for week in range(1, PIP_CHECKINS + 1):
        db.add(
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
        )


def least_loaded_user(db: Session, *, role: str | None) -> int | None:
    """The active user of ``role`` with the fewest open tasks (ties: the oldest account)."""
    if role is None:
        return None
    load = (
        select(Intervention.assigned_to, func.count().label("open_tasks"))
        .where(Intervention.status.in_(("pending", "in_progress")))
        .group_by(Intervention.assigned_to)
        .subquery()
    )
    query = (
        select(User.id)
        .outerjoin(load, load.c.assigned_to == User.id)
        .where(User.role == role, User.is_active.is_(True))
        .order_by(func.coalesce(load.c.open_tasks, 0), User.id)
        .limit(1)
    )
    return db.scalar(query)


def _propose_mentor(db: Session, context: TutorContext) -> str | None:
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


def _sync_alerts(
    db: Session,
    *,
    contexts: Mapping[str, TutorContext],
    now: datetime,
    result: EngineResult,
    partial: bool,
) -> None:
    current: dict[tuple[str, str], Alert] = {}
    for alert in db.scalars(
        select(Alert).where(Alert.resolved_at.is_(None), Alert.rule.in_(ALERT_RULES.values()))
    ):
        if not partial or alert.tutor_id in contexts:
            current[(alert.tutor_id, alert.rule)] = alert
    wanted: set[tuple[str, str]] = set()
    for context in contexts.values():
        rule = ALERT_RULES.get(context.risk_level or "")
        if rule is None:
            continue
        wanted.add((context.tutor_id, rule))
        existing = current.get((context.tutor_id, rule))
        if existing is None:
            db.add(
                Alert(
                    tutor_id=context.tutor_id,
                    rule=rule,
                    severity=context.risk_level,
                    status="open",
                    raised_at=now,
                    details={"score": context.score},
                )
            )
            result.alerts_raised += 1
        elif (
            existing.status == "snoozed"
            and existing.snoozed_until is not None
            and existing.snoozed_until <= now
        ):
            existing.status = "open"
    for key, alert in current.items():
        if key not in wanted:
            alert.resolved_at = now
            result.alerts_resolved += 1
