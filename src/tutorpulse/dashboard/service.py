"""Read services of the ops dashboard: KPIs, churn trend, tutor list, task and alert queues,
and the change feed. Keyword-only, take a Session, never commit (DESIGN §2).

Everything is "as of" the latest day the pipeline computed (``latest_metric_day``), so the
dashboard shows the same figures as the tutor profiles and the intervention engine.

Churn on the dashboard follows DESIGN §5, by the same rules as the model's labels: a
resignation (its event's day), inactivity (the 15th day without a held session) or reduced
activity (the Sunday ending the 3rd full week under half the tutor's baseline). The pipeline
stores each tutor's churn date (``churned_on``) on the day's metric rows; resigned tutors
have no rows, so their churn comes from the resignation events. At-risk tutors are the
active (not churned) ones whose stored risk level is high or critical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Text, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement, Select

from tutorpulse.dashboard.common import (
    MODEL_SOURCE,
    OPEN_TASK_STATUSES,
    RULES_SOURCE,
    intervention_row,
    latest_metric_day,
    latest_prediction_day,
    recommended_tasks,
    resignation_days,
    user_names,
)
from tutorpulse.dashboard.schemas import (
    AlertPage,
    AlertRow,
    InterventionPage,
    Kpi,
    KpiResponse,
    TrendPoint,
    TutorPage,
    TutorRow,
    UpdateEvent,
    UpdatesResponse,
)
from tutorpulse.events.models import OutboxMessage
from tutorpulse.interventions.models import Alert, Intervention
from tutorpulse.marketplace.models import Tutor, TutoringSession
from tutorpulse.metrics.data import day_end, day_start
from tutorpulse.metrics.models import TutorFlag, TutorPerformanceMetric
from tutorpulse.privacy.crypto import email_hmac
from tutorpulse.risk.models import ChurnPrediction

PERIOD_DAYS = 30
AT_RISK_LEVELS = ("High", "Critical")
MAX_PAGE_SIZE = 200
PUBLIC_TOPICS = ("pipeline.", "intervention.", "alert.", "feedback.", "ingest.", "dashboard.")
DUE_STATUSES = ("completed", "no_show")


@dataclass(frozen=True)
class ChurnCounts:
    active: int  # tutors on the day's metrics who are not churned by inactivity
    by_day: dict[date, int]  # churn events per day, inactivity and resignation
    # The day's 30-day windows pooled over tutors (the pipeline's own figures).
    rates: dict[str, float | None] = field(default_factory=dict)
    due: int = 0
    first_rated: int = 0


def churn_counts(db: Session, *, as_of: date, days: int) -> ChurnCounts:
    """Churn per day over ``days`` days up to ``as_of`` (from the day's metrics and the
    resignation events), and the day's pooled first-session success and no-show rate.

    One grouped sum over the day's 30-day rows, answered from the ``ix_metrics_kpi``
    covering index: the rows' JSON documents are never read (on 10x data reading them took
    seconds after every write).
    """
    metric = TutorPerformanceMetric
    rows = db.execute(
        select(
            metric.churned_on,
            func.count(),
            func.sum(metric.first_rated),
            func.sum(metric.first_successes),
            func.sum(metric.sessions_due),
            func.sum(metric.no_show_count),
        )
        .where(metric.calculation_date == as_of, metric.window_days == 30)
        .group_by(metric.churned_on)
    ).all()
    by_day: dict[date, int] = {as_of - timedelta(days=i): 0 for i in range(days)}
    active = 0
    first_rated = good = due = no_shows = 0
    for churned_on, tutors, rated, successes, due_n, no_show_n in rows:
        first_rated += int(rated or 0)
        good += int(successes or 0)
        due += int(due_n or 0)
        no_shows += int(no_show_n or 0)
        if churned_on is None:
            active += int(tutors)
        elif churned_on in by_day:
            by_day[churned_on] += int(tutors)
    first = as_of - timedelta(days=days - 1)
    for when in resignation_days(db, first=first, last=as_of).values():
        if when in by_day:
            by_day[when] += 1
    rates = {
        "first_session_success": good / first_rated if first_rated else None,
        "no_show_rate": no_shows / due if due else None,
    }
    return ChurnCounts(active=active, by_day=by_day, rates=rates, due=due, first_rated=first_rated)


def _session_rates(
    db: Session, *, first: date, last: date
) -> tuple[dict[str, float | None], int, int]:
    """Pooled first-session success and no-show rate over [first, last], with their bases."""
    in_window = and_(
        TutoringSession.scheduled_start >= day_start(first),
        TutoringSession.scheduled_start < day_end(last),
        TutoringSession.status.in_(DUE_STATUSES),
    )
    first_rated = and_(
        TutoringSession.session_number == 1, TutoringSession.student_rating.is_not(None)
    )
    row = db.execute(
        select(
            func.count(),
            func.sum(case((TutoringSession.status == "no_show", 1), else_=0)),
            func.sum(case((first_rated, 1), else_=0)),
            func.sum(case((and_(first_rated, TutoringSession.student_rating >= 4), 1), else_=0)),
        ).where(in_window)
    ).one()
    due, no_shows, rated, good = (int(value or 0) for value in row)
    rates = {
        "no_show_rate": no_shows / due if due else None,
        "first_session_success": good / rated if rated else None,
    }
    return rates, due, rated


def _at_risk(db: Session, *, day: date | None, metric_day: date | None = None) -> int | None:
    """Tutors whose preferred prediction (model, else rules) of ``day`` is high or critical,
    leaving out those churned as of ``metric_day`` (they are in the churn rate instead).

    Counted in SQL over the ``ix_predictions_day_level`` and ``ix_metrics_kpi`` indexes: a
    high or critical row counts when it is the model's, or when the tutor has no model
    prediction that day.
    """
    if day is None:
        return None
    found = aliased(ChurnPrediction)
    model = aliased(ChurnPrediction)
    has_model = (
        select(model.prediction_id)
        .where(
            model.tutor_id == found.tutor_id,
            model.prediction_date == day,
            model.score_source == MODEL_SOURCE,
        )
        .exists()
    )
    # One row per tutor at most: the model's, or (without one) the rules' (unique per source).
    count = db.scalar(
        select(func.count()).where(
            found.prediction_date == day,
            found.risk_level.in_(AT_RISK_LEVELS),
            or_(found.score_source == MODEL_SOURCE, ~has_model),
            found.tutor_id.not_in(_churned_tutors(metric_day or day)),
        )
    )
    return int(count or 0)


def _churned_tutors(day: date) -> Select[str]:
    metric = TutorPerformanceMetric
    return select(metric.tutor_id).where(
        metric.calculation_date == day, metric.window_days == 30, metric.churned_on.is_not(None)
    )


def _change(value: float | None, previous: float | None) -> float | None:
    if value is None or previous is None:
        return None
    return value - previous


def kpis(db: Session, *, as_of: date | None = None, period_days: int = PERIOD_DAYS) -> KpiResponse:
    """Home KPIs, each with the figure of the previous period of the same length."""
    day = as_of or latest_metric_day(db)
    if day is None:
        return KpiResponse(as_of=None, period_days=period_days, kpis=[])
    prev_day = day - timedelta(days=period_days)
    counts = churn_counts(db, as_of=day, days=2 * period_days)
    if period_days == 30:
        current, due, rated = counts.rates, counts.due, counts.first_rated
    else:
        current, due, rated = _session_rates(
            db, first=day - timedelta(days=period_days - 1), last=day
        )
    recent = sum(n for d, n in counts.by_day.items() if d > prev_day)
    older = sum(n for d, n in counts.by_day.items() if d <= prev_day)
    base_now = counts.active + recent
    base_before = base_now + older
    prev_metric_day = latest_metric_day(db, on_or_before=prev_day)
    prev_active = None
    if prev_metric_day is not None and (prev_day - prev_metric_day).days <= 3:
        before = churn_counts(db, as_of=prev_metric_day, days=1)
        prev_active = before.active
        previous, prev_due = (before.rates, before.due) if period_days == 30 else ({}, 0)
    else:
        previous, prev_due = {}, 0
    if not previous:
        # No pipeline run a period ago: the same definitions straight from the sessions.
        previous, prev_due, _rated = _session_rates(
            db, first=prev_day - timedelta(days=period_days - 1), last=prev_day
        )
    pred_day = latest_prediction_day(db, on_or_before=day)
    prev_pred_day = latest_prediction_day(db, on_or_before=prev_day)
    if prev_pred_day is not None and (prev_day - prev_pred_day).days > 3:
        prev_pred_day = None
    at_risk_now = _at_risk(db, day=pred_day, metric_day=day)
    at_risk_before = _at_risk(db, day=prev_pred_day, metric_day=prev_metric_day)
    churn_now = recent / base_now if base_now else None
    churn_before = older / base_before if base_before and prev_due else None

    def kpi(key: str, label: str, value: float | None, before: float | None, **kw: Any) -> Kpi:
        return Kpi(
            key=key, label=label, value=value, previous=before, change=_change(value, before), **kw
        )

    return KpiResponse(
        as_of=day,
        period_days=period_days,
        kpis=[
            kpi(
                "active_tutors",
                "Active tutors",
                counts.active,
                prev_active,
                unit="count",
                better="up",
            ),
            kpi(
                "at_risk",
                "At-risk tutors (high + critical)",
                at_risk_now,
                at_risk_before,
                unit="count",
                better="down",
            ),
            kpi(
                "first_session_success",
                "First-session success",
                current["first_session_success"],
                previous["first_session_success"],
                unit="ratio",
                better="up",
                sample=rated,
                note="rated first sessions with 4+ stars",
            ),
            kpi(
                "no_show_rate",
                "No-show rate",
                current["no_show_rate"],
                previous["no_show_rate"],
                unit="ratio",
                better="down",
                sample=due,
            ),
            kpi(
                "churn_rate",
                f"Churn rate ({period_days} days)",
                churn_now,
                churn_before,
                unit="ratio",
                better="down",
                sample=base_now,
                note=(
                    "resignation, 15 days without a held session, or 3 weeks under half "
                    "the usual sessions"
                ),
            ),
        ],
    )


def churn_trend(db: Session, *, as_of: date | None = None, days: int = 30) -> list[TrendPoint]:
    """Churned tutors per day over the last ``days`` days (and the 7-day rolling sum)."""
    day = as_of or latest_metric_day(db)
    if day is None:
        return []
    counts = churn_counts(db, as_of=day, days=days + 6)
    ordered = sorted(counts.by_day.items())
    points = []
    for index in range(6, len(ordered)):
        when, count = ordered[index]
        rolling = sum(n for _, n in ordered[index - 6 : index + 1])
        points.append(TrendPoint(day=when, value=float(rolling), count=count))
    return points


# --------------------------------------------------------------------------- tutor list
SortKey = Literal["risk", "-risk", "name", "-name", "rating", "-rating", "tier", "sessions"]
TIER_ORDER = {"At Risk": 0, "Needs Attention": 1, "Developing": 2, "Strong": 3, "Exemplary": 4}


def _subject_filter(db: Session, subject: str) -> ColumnElement[bool]:
    if db.get_bind().dialect.name == "postgresql":
        return Tutor.subjects.op("@>")(func.jsonb_build_array(subject))
    # SQLite keeps JSON as text: match the quoted element, case-insensitively.
    needle = '"' + subject.replace('"', "").lower() + '"'
    return func.lower(cast(Tutor.subjects, Text)).contains(needle)


def _tutor_names(db: Session) -> dict[str, str]:
    """Every tutor's decrypted name: names are encrypted, so SQL can neither search nor sort
    them. A few microseconds per tutor (AES-GCM), and only for a name search or sort."""
    return {tutor_id: name for tutor_id, name in db.execute(select(Tutor.tutor_id, Tutor.name))}


def list_tutors(
    db: Session,
    *,
    risk_level: str | None = None,
    tier: str | None = None,
    subject: str | None = None,
    q: str | None = None,
    sort: str = "-risk",
    page: int = 1,
    page_size: int = 25,
    visible: set[str] | None = None,
) -> TutorPage:
    """Active tutors of the latest day, filtered, searched, sorted and paginated in SQL.

    Except names, which are encrypted: a search matches a part of the name in Python (and a
    whole email through its keyed hash, or a part of the id in SQL); a sort by name orders the
    filtered rows in Python.
    """
    page = max(1, page)
    page_size = max(1, min(MAX_PAGE_SIZE, page_size))
    day = latest_metric_day(db)
    if day is None:
        return TutorPage(as_of=None, items=[], total=0, page=page, page_size=page_size)
    pred_day = latest_prediction_day(db, on_or_before=day)
    metric = aliased(TutorPerformanceMetric)
    model = aliased(ChurnPrediction)
    rules = aliased(ChurnPrediction)
    score = func.coalesce(model.churn_score, rules.churn_score)
    level = func.coalesce(model.risk_level, rules.risk_level)
    source = case((model.prediction_id.is_not(None), MODEL_SOURCE), else_=rules.score_source)
    counted = select(Tutor.tutor_id).join(
        metric,
        and_(
            metric.tutor_id == Tutor.tutor_id,
            metric.calculation_date == day,
            metric.window_days == 30,
        ),
    )
    base = counted.outerjoin(
        model,
        and_(
            model.tutor_id == Tutor.tutor_id,
            model.prediction_date == pred_day,
            model.score_source == MODEL_SOURCE,
        ),
    ).outerjoin(
        rules,
        and_(
            rules.tutor_id == Tutor.tutor_id,
            rules.prediction_date == pred_day,
            rules.score_source == RULES_SOURCE,
        ),
    )
    conditions: list[ColumnElement[bool]] = []
    if visible is not None:
        conditions.append(Tutor.tutor_id.in_(sorted(visible)))
    if risk_level:
        conditions.append(func.lower(level) == risk_level.lower())
    if tier:
        if tier.lower() in ("none", "not enough data"):
            conditions.append(metric.performance_tier.is_(None))
        else:
            conditions.append(func.lower(metric.performance_tier) == tier.lower())
    if subject:
        conditions.append(_subject_filter(db, subject))
    if q and q.strip():
        needle = q.strip().lower()
        names = _tutor_names(db)
        named = sorted(tid for tid, name in names.items() if needle in name.lower())
        conditions.append(
            or_(
                Tutor.tutor_id.in_(named),
                func.lower(Tutor.tutor_id).like(f"%{needle}%"),
                Tutor.email_hmac == email_hmac(needle),
            )
        )
    if conditions:
        base = base.where(*conditions)
    # The count needs the prediction joins only to filter on the risk level.
    count_query = base if risk_level else counted.where(*conditions) if conditions else counted
    total = int(db.scalar(select(func.count()).select_from(count_query.subquery())) or 0)
    tier_rank = case(
        *((metric.performance_tier == name, rank) for name, rank in TIER_ORDER.items()),
        else_=-1,
    )
    orderings: dict[str, list[Any]] = {
        "-risk": [score.desc().nulls_last(), Tutor.tutor_id],
        "risk": [score.asc().nulls_last(), Tutor.tutor_id],
        "rating": [metric.avg_rating.asc().nulls_last(), Tutor.tutor_id],
        "-rating": [metric.avg_rating.desc().nulls_last(), Tutor.tutor_id],
        "tier": [tier_rank, Tutor.tutor_id],
        "sessions": [metric.sessions_completed.desc(), Tutor.tutor_id],
    }
    by_name = sort in ("name", "-name")
    order = [Tutor.tutor_id] if by_name else orderings.get(sort, orderings["-risk"])
    query = base.with_only_columns(
        Tutor.tutor_id,
        Tutor.name,
        Tutor.subjects,
        metric.performance_tier,
        score,
        level,
        source,
        metric.avg_rating,
        metric.sessions_completed,
    ).order_by(*order)
    if by_name:
        found = list(db.execute(query).all())
        found.sort(key=lambda row: (row[1].casefold(), row[0]), reverse=sort == "-name")
        found = found[(page - 1) * page_size : page * page_size]
    else:
        found = list(db.execute(query.limit(page_size).offset((page - 1) * page_size)).all())
    open_flags = dict(
        db.execute(
            select(TutorFlag.tutor_id, func.count())
            .where(
                TutorFlag.cleared_on.is_(None),
                TutorFlag.tutor_id.in_([row[0] for row in found]),
            )
            .group_by(TutorFlag.tutor_id)
        ).all()
    )
    items = [
        TutorRow(
            tutor_id=tid,
            name=name,
            subjects=list(subjects or []),
            tier=tier_name,
            churn_score=int(sc) if sc is not None else None,
            risk_level=lvl,
            score_source=src,
            avg_rating=float(rating) if rating is not None else None,
            sessions_30d=int(sessions or 0),
            open_flags=int(open_flags.get(tid, 0)),
        )
        for tid, name, subjects, tier_name, sc, lvl, src, rating, sessions in found
    ]
    return TutorPage(as_of=day, items=items, total=total, page=page, page_size=page_size)


def subjects(db: Session) -> list[str]:
    """Every subject taught (for filters)."""
    found: set[str] = set()
    for (values,) in db.execute(select(Tutor.subjects)):
        found.update(values or [])
    return sorted(found)


# --------------------------------------------------------------------------- task queues
def list_interventions(
    db: Session,
    *,
    now: datetime,
    assignee_id: int | None = None,
    unassigned: bool = False,
    status: str | None = "open",
    mode: str | None = "human",
    tutor_id: str | None = None,
    page: int = 1,
    page_size: int = 25,
) -> InterventionPage:
    """Human tasks (by default the open ones), overdue first, then by due time."""
    page = max(1, page)
    page_size = max(1, min(MAX_PAGE_SIZE, page_size))
    conditions: list[ColumnElement[bool]] = [Intervention.parent_id.is_(None)]
    if status == "open":
        conditions.append(Intervention.status.in_(OPEN_TASK_STATUSES))
    elif status == "overdue":
        conditions.append(Intervention.status.in_(OPEN_TASK_STATUSES))
        conditions.append(Intervention.due_date < now)
    elif status:
        conditions.append(Intervention.status == status)
    if mode:
        conditions.append(Intervention.mode == mode)
    if assignee_id is not None:
        conditions.append(Intervention.assigned_to == assignee_id)
    elif unassigned:
        conditions.append(Intervention.assigned_to.is_(None))
    if tutor_id:
        conditions.append(Intervention.tutor_id == tutor_id)
    total = int(db.scalar(select(func.count(Intervention.intervention_id)).where(*conditions)) or 0)
    items = list(
        db.scalars(
            select(Intervention)
            .where(*conditions)
            .order_by(
                Intervention.due_date.asc().nulls_last(),
                Intervention.recommended_date.desc(),
                Intervention.intervention_id,
            )
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    )
    names = dict(
        db.execute(
            select(Tutor.tutor_id, Tutor.name).where(
                Tutor.tutor_id.in_(sorted({i.tutor_id for i in items}))
            )
        ).all()
    )
    assignees = user_names(db, (i.assigned_to for i in items))
    rows = [
        intervention_row(
            item,
            now=now,
            tutor_name=names.get(item.tutor_id),
            assignee_name=assignees.get(item.assigned_to or -1),
        )
        for item in items
    ]
    return InterventionPage(items=rows, total=total, page=page, page_size=page_size)


def list_alerts(
    db: Session,
    *,
    now: datetime,
    severity: str | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: int = 25,
) -> AlertPage:
    """Unresolved alerts, most urgent (highest current churn score) first, each with the
    human task it recommends. Snoozed alerts come back when their snooze ends."""
    page = max(1, page)
    page_size = max(1, min(MAX_PAGE_SIZE, page_size))
    conditions: list[ColumnElement[bool]] = [Alert.resolved_at.is_(None)]
    if status:
        conditions.append(Alert.status == status)
    else:
        conditions.append(
            or_(
                Alert.status.in_(("open", "acknowledged")),
                and_(Alert.status == "snoozed", Alert.snoozed_until <= now),
            )
        )
    if severity:
        conditions.append(func.lower(Alert.severity) == severity.lower())
    total = int(db.scalar(select(func.count(Alert.id)).where(*conditions)) or 0)
    since = latest_metric_day(db) or latest_prediction_day(db)
    newest = (
        select(
            ChurnPrediction.tutor_id.label("tutor_id"),
            func.max(ChurnPrediction.prediction_date).label("day"),
        )
        .where(
            ChurnPrediction.prediction_date >= (since or date.min),
            # Only the alerts' tutors: an index seek each, not a scan of every prediction.
            ChurnPrediction.tutor_id.in_(select(Alert.tutor_id).where(*conditions)),
        )
        .group_by(ChurnPrediction.tutor_id)
        .subquery()
    )
    model = aliased(ChurnPrediction)
    rules = aliased(ChurnPrediction)
    score = func.coalesce(model.churn_score, rules.churn_score)
    level = func.coalesce(model.risk_level, rules.risk_level)
    severity_rank = case((Alert.severity == "Critical", 0), (Alert.severity == "High", 1), else_=2)
    ranked = db.execute(
        select(Alert.id, score, level)
        .select_from(Alert)
        .outerjoin(newest, newest.c.tutor_id == Alert.tutor_id)
        .outerjoin(
            model,
            and_(
                model.tutor_id == Alert.tutor_id,
                model.prediction_date == newest.c.day,
                # lower(): the source is then no index key, so SQLite reads the score and
                # level from ix_predictions_tutor_day_score instead of looking up each row
                # (with its JSON factors) through the unique index.
                func.lower(model.score_source) == MODEL_SOURCE,
            ),
        )
        .outerjoin(
            rules,
            and_(
                rules.tutor_id == Alert.tutor_id,
                rules.prediction_date == newest.c.day,
                func.lower(rules.score_source) == RULES_SOURCE,
            ),
        )
        .where(*conditions)
        .order_by(severity_rank, score.desc().nulls_last(), Alert.raised_at, Alert.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    by_id = {a.id: a for a in db.scalars(select(Alert).where(Alert.id.in_([r[0] for r in ranked])))}
    shown = [by_id[alert_id] for alert_id, _, _ in ranked]
    scores = {alert_id: (sc, lvl) for alert_id, sc, lvl in ranked}

    def score_of(alert: Alert) -> int | None:
        found = scores.get(alert.id, (None, None))[0]
        if found is not None:
            return int(found)
        value = (alert.details or {}).get("score")
        return int(value) if isinstance(value, (int, float)) else None

    tutor_ids = {a.tutor_id for a in shown}
    names = dict(
        db.execute(
            select(Tutor.tutor_id, Tutor.name).where(Tutor.tutor_id.in_(sorted(tutor_ids)))
        ).all()
    )
    tasks = recommended_tasks(db, tutor_ids=tutor_ids)
    assignees = user_names(db, (t.assigned_to for t in tasks.values()))
    items = []
    for alert in shown:
        task = tasks.get(alert.tutor_id)
        items.append(
            AlertRow(
                alert_id=alert.id,
                tutor_id=alert.tutor_id,
                tutor_name=names.get(alert.tutor_id),
                rule=alert.rule,
                severity=alert.severity,
                status=alert.status,
                raised_at=alert.raised_at,
                snoozed_until=alert.snoozed_until,
                churn_score=score_of(alert),
                risk_level=scores.get(alert.id, (None, None))[1] or alert.severity,
                recommended=intervention_row(
                    task,
                    now=now,
                    tutor_name=names.get(alert.tutor_id),
                    assignee_name=assignees.get(task.assigned_to or -1),
                )
                if task is not None
                else None,
            )
        )
    return AlertPage(items=items, total=total, page=page, page_size=page_size)


# --------------------------------------------------------------------------- change feed
def latest_update_id(db: Session) -> int:
    return int(db.scalar(select(func.max(OutboxMessage.id))) or 0)


def updates_since(db: Session, *, since: int, limit: int = 200) -> UpdatesResponse:
    """Outbox rows after ``since`` that a dashboard cares about (the DB is the truth)."""
    limit = max(1, min(1000, limit))
    topic_filter = or_(*(OutboxMessage.topic.startswith(prefix) for prefix in PUBLIC_TOPICS))
    rows = list(
        db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id > since, topic_filter)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )
    latest = max([since, *(row.id for row in rows)])
    if len(rows) < limit:
        latest = max(latest, latest_update_id(db))
    return UpdatesResponse(
        latest_id=latest,
        events=[
            UpdateEvent(
                id=row.id,
                topic=row.topic,
                created_at=row.created_at,
                payload=_public_payload(row.payload),
            )
            for row in rows
        ],
    )


def _public_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Identifiers and counts only: the feed says what changed, the API says what it is."""
    keep = ("id", "tutor_id", "tutor_ids", "count", "as_of", "assignee_id", "outcome", "kind")
    return {key: payload[key] for key in keep if key in payload}
