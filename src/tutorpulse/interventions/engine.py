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

from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.interventions.assignment import DEFAULT_SEED
from tutorpulse.interventions.context import SMALL_BATCH, load_contexts
from tutorpulse.interventions.models import OPEN_STATUSES, Alert, Intervention
from tutorpulse.interventions.rules import (
    CRITICAL,
    HIGH,
    RULES,
    RULES_BY_CODE,
    Rule,
    Trigger,
    TutorContext,
)
from tutorpulse.interventions.writer import create_interventions, load_history
from tutorpulse.marketplace.models import TutoringSession
from tutorpulse.metrics.data import day_end, day_start
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
    seed: str = DEFAULT_SEED,
    prep_risks: Mapping[str, float] | None = None,
    tutor_ids: list[str] | None = None,
    holdout_share: float | None = None,
) -> EngineResult:
    """Evaluate every rule for every active tutor (or only ``tutor_ids``); never commits.

    ``seed`` and ``holdout_share`` (None: each rule's own share) decide the holdout draws.
    """
    contexts = load_contexts(db, as_of=as_of, tutor_ids=tutor_ids)
    decisions = [d for c in contexts.values() for d in tutor_decisions(c)]
    decisions += first_session_checkins(db, contexts=contexts, as_of=as_of, now=now)
    decisions += prep_reminders(db, contexts=contexts, now=now, prep_risks=prep_risks or {})
    result = EngineResult()
    open_items = _open_interventions(db, tutor_ids=list(contexts))
    history = load_history(
        db,
        tutor_ids=list(contexts),
        keys=[d.trigger.subject_key for d in decisions if d.trigger.subject_key],
        now=now,
    )
    wanted = {d.key for d in decisions}
    new: list[tuple[Decision, TutorContext]] = []
    for decision in decisions:
        existing = open_items.get(decision.key)
        context = contexts[decision.tutor_id]
        if existing is not None:
            existing.last_triggered_at = now
            existing.evidence = existing.evidence | decision.trigger.evidence
            existing.risk_level, existing.churn_score = context.risk_level, context.score
            result.refreshed += 1
        elif history.cooling_down(decision, now):
            result.skipped_cooldown += 1
        else:
            new.append((decision, context))
            history.keyed.add(decision.key)  # the same session twice in one run: once
    for item in create_interventions(db, new, now=now, seed=seed, holdout_share=holdout_share):
        counts = result.holdout if item.holdout else result.created
        counts[item.intervention_type] += 1
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
    if len(contexts) <= SMALL_BATCH:
        # An incremental run: only its tutors' sessions (the rest would be skipped below).
        query = query.where(TutoringSession.tutor_id.in_(list(contexts)))
    # One order whichever index the database picks: the interventions are created in it.
    query = query.order_by(TutoringSession.scheduled_start, TutoringSession.session_id)
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


def _sync_alerts(
    db: Session,
    *,
    contexts: Mapping[str, TutorContext],
    now: datetime,
    result: EngineResult,
    partial: bool,
) -> None:
    current: dict[tuple[str, str], Alert] = {}
    query = select(Alert).where(Alert.resolved_at.is_(None), Alert.rule.in_(ALERT_RULES.values()))
    if partial:
        query = query.where(Alert.tutor_id.in_(list(contexts)))
    for alert in db.scalars(query):
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
