"""Training as one service call: the ``train`` command and the daily retraining job use it.

``retrain`` reads the database up to a day, trains the churn model and the first-session
model, registers both (the churn model becomes champion only if it beats the current one on
the same recent test window) and returns the full report. It never commits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.errors import TutorpulseError
from tutorpulse.marketplace.models import TutoringSession
from tutorpulse.metrics.data import LOOKBACK_DAYS, day_end, day_start, load_market_range
from tutorpulse.risk.backtest import backtest
from tutorpulse.risk.evaluation import json_safe
from tutorpulse.risk.first_session import (
    register_first_session,
    student_ages,
    train_first_session,
)
from tutorpulse.risk.intervention_features import load_intervention_history
from tutorpulse.risk.models import ModelVersion
from tutorpulse.risk.registry import register
from tutorpulse.risk.training import build_dataset, horizon_rows, train_churn_model

RETRAIN_AT = clock_time(2, 0)  # daily retraining, 02:00 UTC by default
MAX_TRAINING_DAYS = 180
DUE = ("completed", "no_show")


def data_days(db: Session) -> tuple[date, date]:
    """First and last day with a held or missed session."""
    first, last = db.execute(
        select(
            func.min(TutoringSession.scheduled_start), func.max(TutoringSession.scheduled_start)
        ).where(TutoringSession.status.in_(DUE))
    ).one()
    if first is None or last is None:
        raise TutorpulseError("no sessions in the database yet: import data first")
    return _as_datetime(first).date(), _as_datetime(last).date()


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@dataclass
class TrainingOutcome:
    report: dict[str, Any]
    churn_version: ModelVersion
    first_session_version: ModelVersion | None


def retrain(
    db: Session,
    *,
    data_dir: Path,
    now: datetime,
    as_of: date | None = None,
    seed: int = 0,
    max_configs: int = 8,
    search_seconds: float | None = 300.0,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingOutcome:
    first, last = data_days(db)
    until = min(as_of, last) if as_of is not None else last
    if until < first:
        raise TutorpulseError(f"no data up to {as_of}: the first session is on {first}")
    since = max(first, until - timedelta(days=MAX_TRAINING_DAYS))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = load_market_range(
        db, start=day_start(since - timedelta(days=LOOKBACK_DAYS)), end=day_end(until)
    )
    timings["load"] = time.perf_counter() - started
    started = time.perf_counter()
    interventions = load_intervention_history(db, until=day_end(until))
    dataset = build_dataset(
        data,
        observed_from=since,
        observed_until=until,
        interventions=interventions,
        progress=progress,
    )
    timings["features_and_labels"] = time.perf_counter() - started
    started = time.perf_counter()
    result = train_churn_model(
        dataset, seed=seed, max_configs=max_configs, search_seconds=search_seconds
    )
    timings["search_and_training"] = time.perf_counter() - started
    report = result.report
    test = result.test_rows
    row = register(
        db,
        model=result.model,
        report=report,
        data_dir=data_dir,
        data_window=(since, until),
        test_rows=test,
        horizon_rows=horizon_rows(test, 30, until),
        now=now,
    )
    report["backtest"] = backtest(
        result.model, dataset.rows, observed_until=until, trained_until=result.split.train[1]
    )
    first_session = train_first_session(dataset.rows, data, student_ages(db), seed=seed)
    first_row = None
    if first_session is not None:
        first_row = register_first_session(
            db, model=first_session, data_dir=data_dir, data_window=(since, until), now=now
        )
        report["first_session_model"] = {"version": first_row.version} | first_session.report
    else:
        report["first_session_model"] = {"note": "not enough rated first sessions to train"}
    report["seconds"] = {k: round(v, 2) for k, v in timings.items()}
    row.metrics = json_safe(report)
    db.flush()
    return TrainingOutcome(report=report, churn_version=row, first_session_version=first_row)


def retraining_due(*, now: datetime, last_trained: datetime | None) -> bool:
    """The daily job's rule: once a day, at or after 02:00 UTC."""
    today_slot = datetime.combine(now.date(), RETRAIN_AT, tzinfo=now.tzinfo)
    if now < today_slot:
        today_slot -= timedelta(days=1)
    return last_trained is None or last_trained < today_slot
