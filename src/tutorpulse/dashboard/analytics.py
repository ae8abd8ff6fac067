"""Analytics tables: churn heatmaps, cohort retention, intervention effectiveness, tier
distribution, churn trend and the model card. Every table has the same shape (columns +
rows), so that each one is served as JSON, drawn as a chart and exported as CSV.

Churn events follow the dashboard's definition (``service.churn_counts``): resignations and
the 15th day without a held session, over the last 90 days of the latest full day.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.auth.guard import ensure_allowed
from tutorpulse.auth.permissions import Permission
from tutorpulse.dashboard.common import latest_metric_day, resignation_days
from tutorpulse.dashboard.service import churn_trend
from tutorpulse.interventions.effectiveness import effectiveness_report
from tutorpulse.interventions.rules import RULES_BY_CODE
from tutorpulse.marketplace.models import Tutor, TutoringSession
from tutorpulse.metrics.data import day_end, day_start
from tutorpulse.metrics.models import TutorPerformanceMetric
from tutorpulse.metrics.tiers import TARGET_SHARES, TIERS
from tutorpulse.risk.models import ModelVersion

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TENURE_COHORTS = (
    (30, "< 1 month"),
    (90, "1-3 months"),
    (180, "3-6 months"),
    (365, "6-12 months"),
    (730, "1-2 years"),
    (10**6, "2+ years"),
)
HISTORY_DAYS = 90
RETENTION_MONTHS = 6


class AnalyticsTable(BaseModel):
    name: str
    title: str
    as_of: date | None
    columns: list[str]
    rows: list[list[Any]]
    note: str | None = None


def churn_events(db: Session, *, as_of: date, days: int = HISTORY_DAYS) -> dict[str, date]:
    """Tutor id -> churn day within ``days`` days up to ``as_of``: the churn dates the
    pipeline stored on the day's metric rows (DESIGN §5, as the KPIs count them) and the
    resignations (resigned tutors have no metric rows)."""
    events: dict[str, date] = {}
    first = as_of - timedelta(days=days - 1)
    metric = TutorPerformanceMetric
    for tutor_id, churned_on in db.execute(
        select(metric.tutor_id, metric.churned_on).where(
            metric.calculation_date == as_of,
            metric.window_days == 30,
            metric.churned_on >= first,
            metric.churned_on <= as_of,
        )
    ):
        if churned_on is not None:
            events[tutor_id] = churned_on
    for tutor_id, day in resignation_days(db, first=first, last=as_of).items():
        events[tutor_id] = min(day, events.get(tutor_id, day))
    return events


def _tutors(db: Session, ids: set[str]) -> dict[str, tuple[list[str], date]]:
    found: dict[str, tuple[list[str], date]] = {}
    for tutor_id, subjects, onboarded in db.execute(
        select(Tutor.tutor_id, Tutor.subjects, Tutor.onboarding_date)
    ):
        if tutor_id in ids:
            found[tutor_id] = (list(subjects or []), onboarded)
    return found


def churn_subject_weekday(db: Session, *, as_of: date) -> AnalyticsTable:
    events = churn_events(db, as_of=as_of)
    tutors = _tutors(db, set(events))
    counts: Counter[tuple[str, str]] = Counter()
    for tutor_id, day in events.items():
        subjects = tutors.get(tutor_id, (["Unknown"], day))[0] or ["Unknown"]
        for subject in subjects:
            counts[(subject, WEEKDAYS[day.weekday()])] += 1
    subjects_seen = sorted({subject for subject, _ in counts})
    rows = [[s, d, counts[(s, d)]] for s in subjects_seen for d in WEEKDAYS]
    return AnalyticsTable(
        name="churn_subject_weekday",
        title="Churned tutors by subject and weekday of churn (90 days)",
        as_of=as_of,
        columns=["subject", "weekday", "churned"],
        rows=rows,
        note="a tutor teaching several subjects counts once in each",
    )


def _cohort(tenure_days: int) -> str:
    for limit, label in TENURE_COHORTS:
        if tenure_days < limit:
            return label
    return TENURE_COHORTS[-1][1]


def churn_tenure_month(db: Session, *, as_of: date) -> AnalyticsTable:
    events = churn_events(db, as_of=as_of)
    tutors = _tutors(db, set(events))
    counts: Counter[tuple[str, str]] = Counter()
    months: set[str] = set()
    for tutor_id, day in events.items():
        onboarded = tutors.get(tutor_id, ([], day))[1]
        month = f"{day:%Y-%m}"
        months.add(month)
        counts[(_cohort((day - onboarded).days), month)] += 1
    rows = [[label, m, counts[(label, m)]] for _, label in TENURE_COHORTS for m in sorted(months)]
    return AnalyticsTable(
        name="churn_tenure_month",
        title="Churned tutors by tenure cohort and month (90 days)",
        as_of=as_of,
        columns=["tenure_cohort", "month", "churned"],
        rows=rows,
    )


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def cohort_retention(db: Session, *, as_of: date) -> AnalyticsTable:
    """Share of each onboarding-month cohort with a held session in month k after joining."""
    start = date(as_of.year, as_of.month, 1) - timedelta(days=31 * (RETENTION_MONTHS + 1))
    onboarding = {
        tutor_id: onboarded
        for tutor_id, onboarded in db.execute(
            select(Tutor.tutor_id, Tutor.onboarding_date).where(Tutor.onboarding_date >= start)
        )
    }
    active_months: dict[str, set[int]] = defaultdict(set)
    if onboarding:
        rows = db.execute(
            select(TutoringSession.tutor_id, TutoringSession.scheduled_start).where(
                TutoringSession.status == "completed",
                TutoringSession.scheduled_start >= day_start(start),
                TutoringSession.scheduled_start < day_end(as_of),
                TutoringSession.tutor_id.in_(sorted(onboarding)[:5000]),
            )
        )
        for tutor_id, moment in rows:
            active_months[tutor_id].add(_month_index(moment.date()))
    first_seen = db.scalar(
        select(func.min(TutoringSession.scheduled_start)).where(
            TutoringSession.scheduled_start >= day_start(start)
        )
    )
    # Months before the data starts are unknown, not "nobody held a session".
    observed_from = _month_index(first_seen.date()) if first_seen is not None else None
    cohorts: dict[str, list[str]] = defaultdict(list)
    for tutor_id, onboarded in onboarding.items():
        cohorts[f"{onboarded:%Y-%m}"].append(tutor_id)
    last = _month_index(as_of)
    table: list[list[Any]] = []
    for cohort in sorted(cohorts):
        members = cohorts[cohort]
        first = _month_index(date.fromisoformat(cohort + "-01"))
        for k in range(0, RETENTION_MONTHS + 1):
            if first + k > last:
                break
            if observed_from is None or first + k < observed_from:
                continue
            retained = sum(1 for t in members if first + k in active_months.get(t, set()))
            table.append([cohort, k, len(members), retained, retained / len(members)])
    return AnalyticsTable(
        name="cohort_retention",
        title="Cohort retention: share of tutors holding sessions k months after joining",
        as_of=as_of,
        columns=["cohort", "month", "tutors", "retained", "retention"],
        rows=table,
        note="the current month is partial; months before the first stored session are left out",
    )


def intervention_effectiveness(db: Session, *, as_of: date) -> AnalyticsTable:
    rows = []
    for row in effectiveness_report(db, as_of=as_of):
        lift = row["uplift"]
        rule = RULES_BY_CODE.get(row["type"])
        rows.append(
            [
                row["type"],
                rule.name if rule else row["type"],
                row["risk_level"],
                row["decisions"],
                row["treated"],
                row["holdout"],
                row["acceptance_rate"],
                row["completion_rate"],
                row["impact_rate"],
                lift["difference"],
                lift["low"],
                lift["high"],
                row["time_to_action_hours_median"],
            ]
        )
    return AnalyticsTable(
        name="intervention_effectiveness",
        title="Intervention effectiveness: uplift vs the randomized holdout (95% interval)",
        as_of=as_of,
        columns=[
            "type",
            "name",
            "risk_level",
            "decisions",
            "treated",
            "holdout",
            "acceptance",
            "completion",
            "impact",
            "uplift",
            "uplift_low",
            "uplift_high",
            "hours_to_action_median",
        ],
        rows=rows,
        note="impact = churn score lower 14 days after the decision",
    )


def tier_distribution(db: Session, *, as_of: date) -> AnalyticsTable:
    counts = dict(
        db.execute(
            select(TutorPerformanceMetric.performance_tier, func.count())
            .where(
                TutorPerformanceMetric.calculation_date == as_of,
                TutorPerformanceMetric.window_days == 30,
            )
            .group_by(TutorPerformanceMetric.performance_tier)
        ).all()
    )
    rated = sum(n for tier, n in counts.items() if tier is not None)
    rows: list[list[Any]] = [
        [tier, int(counts.get(tier, 0)), counts.get(tier, 0) / rated if rated else None,
         TARGET_SHARES[tier]]
        for tier in TIERS
    ]  # fmt: skip
    rows.append(["not enough data", int(counts.get(None, 0)), None, None])
    return AnalyticsTable(
        name="tier_distribution",
        title="Tier distribution vs the PRD targets",
        as_of=as_of,
        columns=["tier", "tutors", "share", "target_share"],
        rows=rows,
    )


def churn_trend_table(db: Session, *, as_of: date) -> AnalyticsTable:
    points = churn_trend(db, as_of=as_of)
    return AnalyticsTable(
        name="churn_trend",
        title="Churned tutors per day, and the 7-day total (30 days)",
        as_of=as_of,
        columns=["day", "churned", "churned_7d"],
        rows=[[p.day.isoformat(), p.count, p.value] for p in points],
    )


NO_MODEL = "no model trained yet: churn scores come from the PRD rule score"
CARD_SKIP = ("calibration_bins", "backtest", "comparison")


def _model(db: Session) -> ModelVersion | None:
    """The churn champion, else the newest churn model."""
    query = select(ModelVersion).where(ModelVersion.model_kind == "churn")
    return db.scalar(
        query.where(ModelVersion.status == "champion").order_by(ModelVersion.trained_at.desc())
    ) or db.scalar(query.order_by(ModelVersion.trained_at.desc()))


def model_card(db: Session, *, as_of: date) -> AnalyticsTable:
    """The active churn model's version and evaluation metrics (empty before training)."""
    model = _model(db)
    rows: list[list[Any]] = []
    note = NO_MODEL
    if model is not None:
        trained = f"{model.trained_at:%Y-%m-%d}"
        note = f"{model.version} ({model.model_kind}, {model.status}), trained {trained}"
        for key, value in _flatten(model.metrics or {}):
            if not any(part in key for part in CARD_SKIP):
                rows.append([key, value])
    return AnalyticsTable(
        name="model_card",
        title="Churn model card",
        as_of=as_of,
        columns=["metric", "value"],
        rows=rows,
        note=note,
    )


def model_backtest(db: Session, *, as_of: date) -> AnalyticsTable:
    """Predicted vs actual 30-day churn by risk band, month by month (from training)."""
    model = _model(db)
    backtest = ((model.metrics or {}).get("backtest") or {}) if model else {}
    rows = [
        [r.get("month"), r.get("band"), r.get("tutors"), r.get("predicted_rate"),
         r.get("actual_rate"), r.get("churned"), r.get("in_sample")]
        for r in backtest.get("table", [])
    ]  # fmt: skip
    return AnalyticsTable(
        name="model_backtest",
        title="Model backtest: predicted vs actual 30-day churn by risk band",
        as_of=as_of,
        columns=["month", "band", "tutors", "predicted", "actual", "churned", "in_sample"],
        rows=rows,
        note=f"model {model.version}" if model else NO_MODEL,
    )


def model_calibration(db: Session, *, as_of: date) -> AnalyticsTable:
    """Calibration bins per horizon on the temporal test split: predicted vs observed."""
    model = _model(db)
    horizons = ((model.metrics or {}).get("horizons") or {}) if model else {}
    rows: list[list[Any]] = []
    for horizon, report in sorted(horizons.items(), key=lambda item: int(item[0])):
        for entry in (report or {}).get("calibration_bins", []):
            low, high = (entry.get("bin") or [None, None])[:2]
            rows.append(
                [int(horizon), low, high, entry.get("count"), entry.get("predicted"),
                 entry.get("observed")]
            )  # fmt: skip
    return AnalyticsTable(
        name="model_calibration",
        title="Calibration: predicted vs observed churn per horizon (test split)",
        as_of=as_of,
        columns=["horizon_days", "bin_low", "bin_high", "tutors", "predicted", "observed"],
        rows=rows,
        note=f"model {model.version}" if model else NO_MODEL,
    )


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = []
        for key, inner in value.items():
            items.extend(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return items
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return [(prefix, ", ".join(str(v) for v in value))]
        items = []
        for index, inner in enumerate(value):
            items.extend(_flatten(inner, f"{prefix}[{index}]"))
        return items
    return [(prefix, value)]


TABLES: dict[str, Callable[..., AnalyticsTable]] = {
    "churn_subject_weekday": churn_subject_weekday,
    "churn_tenure_month": churn_tenure_month,
    "cohort_retention": cohort_retention,
    "intervention_effectiveness": intervention_effectiveness,
    "tier_distribution": tier_distribution,
    "churn_trend": churn_trend_table,
    "model_card": model_card,
    "model_backtest": model_backtest,
    "model_calibration": model_calibration,
}


def analytics_table(db: Session, *, name: str, as_of: date | None = None) -> AnalyticsTable:
    if name not in TABLES:
        raise KeyError(name)
    day = as_of or latest_metric_day(db)
    if day is None:
        return AnalyticsTable(name=name, title=name, as_of=None, columns=[], rows=[])
    return TABLES[name](db, as_of=day)


def to_csv(table: AnalyticsTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


def export_csv(
    db: Session, *, table: AnalyticsTable, name: str, actor: audit.Actor, now: datetime
) -> str:
    """The table as CSV; the export is audited in the caller's transaction (commit it before
    the file is sent, so that no export leaves unrecorded)."""
    ensure_allowed(actor, Permission.READ_ANALYTICS)
    audit.record(
        db,
        actor=actor,
        action="analytics.export",
        target_type="analytics",
        target_id=name,
        details={"rows": len(table.rows), "format": "csv"},
        now=now,
    )
    return to_csv(table)
