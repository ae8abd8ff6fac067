"""The daily/incremental pipeline: metrics → flags → rule score → tiers, as of one day."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from tutorpulse.events import service as events
from tutorpulse.events.models import DirtyTutor
from tutorpulse.interventions.assignment import HoldoutPolicy
from tutorpulse.interventions.engine import run_engine
from tutorpulse.interventions.models import Alert
from tutorpulse.metrics.compute import compute_metrics, satisfaction_breakdown
from tutorpulse.metrics.data import LOOKBACK_DAYS, MarketData, day_end, load_market_data
from tutorpulse.metrics.flags import evidence_sessions, pattern_flags, threshold_flags
from tutorpulse.metrics.models import TutorFlag, TutorPerformanceMetric
from tutorpulse.metrics.service import (
    clear_flags_of_inactive,
    record_tiers,
    save_metrics,
    training_completion,
    update_flags,
)
from tutorpulse.metrics.tiers import TIERS, assign_tiers
from tutorpulse.pipeline import concurrency
from tutorpulse.risk.labels import current_churn
from tutorpulse.risk.models import ChurnPrediction
from tutorpulse.risk.rules import rule_scores
from tutorpulse.risk.scoring import score_with_models
from tutorpulse.risk.service import save_rule_scores

INACTIVE_AFTER_DAYS = 90


@dataclass
class PipelineResult:
    as_of: date
    tutors: int
    metric_rows: int
    flags: dict[str, int]
    interventions: dict[str, int] = field(default_factory=dict)
    tier_counts: dict[str, int] = field(default_factory=dict)
    risk_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DayEvaluation:
    """Everything computed for one day, before it is written anywhere."""

    frame: pd.DataFrame
    red_flags: pd.DataFrame
    patterns: pd.DataFrame
    scores: pd.DataFrame
    tiers: pd.DataFrame


def evaluate_day(
    data: MarketData, *, as_of: date, tutor_ids: list[str] | None = None
) -> DayEvaluation:
    """Pure: the metrics, flags, rule scores and tiers of every active tutor as of a day."""
    frame = compute_metrics(data, as_of=as_of, tutor_ids=tutor_ids)
    frame = frame[_active(frame, data, as_of)]
    red = threshold_flags(frame)
    patterns = pattern_flags(frame)
    scores = rule_scores(frame, patterns)
    tiers = assign_tiers(frame, red, scores["score"])
    return DayEvaluation(frame, red, patterns, scores, tiers)


def _active(frame: pd.DataFrame, data: MarketData, as_of: date) -> pd.Series:
    """Tutors still on the platform: recent activity or recent onboarding, no resignation."""
    recent = (frame["w90_due_count"].to_numpy() > 0) | (frame["w90_login_count"].to_numpy() > 0)
    recent |= frame["tenure_days"].to_numpy() < INACTIVE_AFTER_DAYS
    events = data.events
    # Resigned by the end of the day: the day of a UTC instant is <= as_of iff it is earlier
    # than the next midnight (plain array comparisons; few rows in an incremental run).
    stamps = events["event_timestamp"].to_numpy(dtype="datetime64[ns]")
    is_resignation = events["event_type"].to_numpy() == "resignation"
    before_end = stamps < np.datetime64(day_end(as_of).replace(tzinfo=None), "ns")
    resigned_ids = set(events["tutor_id"].to_numpy()[is_resignation & before_end].tolist())
    resigned = frame.index.isin(resigned_ids)
    return pd.Series(recent & ~resigned, index=frame.index)


WRITE_CHUNK = 500  # tutors per transaction of a full run's chunked write phase


@dataclass(frozen=True)
class PreparedRun:
    """A run's read phase: everything read and computed before its first write.

    Done outside the write transaction, it holds no lock, and dirty-tutor micro-batches go on
    meanwhile (the pipeline worker's scheduled full runs).
    """

    as_of: date
    tutor_ids: list[str] | None
    data: MarketData
    evaluation: DayEvaluation
    tiers: pd.DataFrame
    extras: dict[str, Any]
    churn: dict[str, tuple[date, str]]
    evidence: dict[tuple[str, str], list[str]]
    # Full runs: the micro-batches' counters, read before the data (see ``concurrency``).
    counters: dict[str, int] | None


def prepare_run(
    db: Session,
    *,
    as_of: date,
    tutor_ids: list[str] | None = None,
    data: MarketData | None = None,
) -> PreparedRun:
    """The read phase of ``run_pipeline``: reads and computes, never writes."""
    # Before the data: a micro-batch that commits after this read is seen by the write phase.
    counters = concurrency.recompute_counters(db) if tutor_ids is None else None
    if data is None:
        data = load_market_data(db, as_of=as_of, tutor_ids=tutor_ids)
    evaluation = evaluate_day(data, as_of=as_of, tutor_ids=tutor_ids)
    tiers = evaluation.tiers
    if tutor_ids is not None:
        tiers = _keep_stored_tiers(db, tiers, as_of=as_of)
    tutor_list = [str(t) for t in evaluation.frame.index]
    extras: dict[str, Any] = dict(satisfaction_breakdown(data, as_of=as_of))
    for tutor_id, figures in training_completion(db, tutor_ids=tutor_list, as_of=as_of).items():
        extras.setdefault(tutor_id, {}).update(figures)
    # Who has churned (any DESIGN §5 rule, reduced activity included) for the dashboard.
    churn = current_churn(data, as_of=as_of, lookback_days=LOOKBACK_DAYS, tutor_ids=tutor_list)
    evidence = evidence_sessions(data, as_of=as_of, patterns=evaluation.patterns)
    return PreparedRun(
        as_of, tutor_ids, data, evaluation, tiers, extras, churn, dict(evidence), counters
    )


@dataclass
class _Written:
    """What the steps of a write phase stored so far."""

    rows: int = 0
    flags: dict[str, int] = field(default_factory=lambda: {"raised": 0, "cleared": 0, "open": 0})


def _write_figures(
    db: Session, prepared: PreparedRun, written: _Written, tutors: list[str] | None
) -> None:
    """The tutors' own figures: metrics, flags, rule scores (all tutors, or ``tutors``)."""
    evaluation, tiers = prepared.evaluation, prepared.tiers
    frame, red, patterns, scores = (
        evaluation.frame,
        evaluation.red_flags,
        evaluation.patterns,
        evaluation.scores,
    )
    if tutors is not None:
        frame, red, patterns = frame.loc[tutors], red.loc[tutors], patterns.loc[tutors]
        scores, tiers = scores.loc[tutors], tiers.loc[tutors]
    written.rows += save_metrics(
        db,
        frame=frame,
        tiers=tiers,
        as_of=prepared.as_of,
        extras=prepared.extras,
        churn=prepared.churn,
    )
    flags = update_flags(
        db,
        frame=frame,
        red_flags=red,
        patterns=patterns,
        as_of=prepared.as_of,
        evidence_ids=prepared.evidence,
    )
    for key, count in flags.items():
        written.flags[key] = written.flags.get(key, 0) + count
    save_rule_scores(db, scores=scores, as_of=prepared.as_of)


def _write_population(
    db: Session,
    prepared: PreparedRun,
    written: _Written,
    *,
    now: datetime,
    holdout: HoldoutPolicy | None,
) -> PipelineResult:
    """Model scores, interventions, tier changes, the event, the result."""
    as_of, tutor_ids, data = prepared.as_of, prepared.tutor_ids, prepared.data
    evaluation, tiers = prepared.evaluation, prepared.tiers
    flags = written.flags
    # Champion model scores (if one is registered) and upcoming first-session risks.
    prep_risks = score_with_models(db, data=data, metrics=evaluation.frame, as_of=as_of, now=now)
    computed = [str(t) for t in evaluation.frame.index]
    holdout = holdout or HoldoutPolicy()
    engine = run_engine(
        db,
        as_of=as_of,
        now=now,
        tutor_ids=tutor_ids,
        prep_risks=prep_risks,
        seed=holdout.seed,
        holdout_share=holdout.share,
    )
    if tutor_ids is None:
        record_tiers(db, tiers=tiers, as_of=as_of)
        flags["cleared"] += clear_flags_of_inactive(db, active_tutor_ids=set(computed), as_of=as_of)
        refresh_planner_statistics(db)
    if prepared.counters is not None:
        concurrency.remark_fresher(db, seen=prepared.counters, now=now)
    events.emit(
        db,
        topic="pipeline.tutors_updated",
        payload={"as_of": as_of.isoformat(), "tutor_ids": computed[:1000], "count": len(computed)},
        now=now,
    )
    tier_counts = tiers["tier"].value_counts().to_dict()
    return PipelineResult(
        interventions=dict(engine.created),
        as_of=as_of,
        tutors=len(evaluation.frame),
        metric_rows=written.rows,
        flags=flags,
        tier_counts={tier: int(tier_counts.get(tier, 0)) for tier in TIERS}
        | {"not enough data": int(tiers["tier"].isna().sum())},
        risk_counts={
            str(level): int(count)
            for level, count in evaluation.scores["risk_level"].value_counts().items()
        },
    )


def write_run(
    db: Session, prepared: PreparedRun, *, now: datetime, holdout: HoldoutPolicy | None = None
) -> PipelineResult:
    """The write phase of ``run_pipeline`` in one transaction: stores a prepared run. Never
    commits. A full run first waits for the micro-batches in flight (PostgreSQL), and marks
    dirty again the tutors they recomputed since its read phase began."""
    if prepared.tutor_ids is None:
        concurrency.full_run_writes(db)
    written = _Written()
    _write_figures(db, prepared, written, None)
    return _write_population(db, prepared, written, now=now, holdout=holdout)


WriteStep = Callable[[Session], Any]
# Tables that get a new day of rows from every full run, which the dashboard reads by day.
DAY_TABLES = tuple(
    model.__tablename__ for model in (TutorPerformanceMetric, ChurnPrediction, TutorFlag, Alert)
)


def refresh_planner_statistics(db: Session) -> None:
    """PostgreSQL: ANALYZE the tables a full run has just added a day to.

    Until autovacuum gets to them, the planner's statistics end the day before: it expects a
    handful of rows for the new day instead of one per tutor and picks nested loops that
    re-scan the day's predictions per tutor (the tutor list took 5.1 s at 10x, 0.34 s after
    ANALYZE; the four tables take ~0.8 s to analyze at 10x).
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text(f"ANALYZE {', '.join(DAY_TABLES)}"))


def write_steps(
    prepared: PreparedRun,
    *,
    now: datetime,
    holdout: HoldoutPolicy | None = None,
    chunk_size: int = WRITE_CHUNK,
) -> list[WriteStep]:
    """A full run's write phase as short steps, each for a transaction of its own (the caller
    commits after each): the tutors' own figures ``chunk_size`` tutors at a time, then model
    scores, interventions and tier changes. Micro-batches run between two steps, not during
    one; each step marks dirty again the tutors a micro-batch recomputed since the read phase,
    so a tutor never keeps figures older than its data, even if a later step never runs.
    The last step returns the ``PipelineResult``. Between steps, readers see some tutors
    with the new day's figures and some with the previous run's, each tutor consistent."""
    assert prepared.tutor_ids is None and prepared.counters is not None
    seen = prepared.counters
    written = _Written()
    tutors = [str(t) for t in prepared.evaluation.frame.index]

    def figures(chunk: list[str]) -> WriteStep:
        def step(db: Session) -> int:
            concurrency.full_run_writes(db)
            _write_figures(db, prepared, written, chunk)
            concurrency.remark_fresher(db, seen=seen, now=now, tutor_ids=chunk)
            return len(chunk)

        return step

    def population(db: Session) -> PipelineResult:
        concurrency.full_run_writes(db)
        return _write_population(db, prepared, written, now=now, holdout=holdout)

    chunks = [tutors[i : i + chunk_size] for i in range(0, len(tutors), chunk_size)]
    return [*(figures(chunk) for chunk in chunks), population]


def run_pipeline(
    db: Session,
    *,
    as_of: date,
    now: datetime,
    tutor_ids: list[str] | None = None,
    data: MarketData | None = None,
    holdout: HoldoutPolicy | None = None,
) -> PipelineResult:
    """Compute and store one day for all tutors (or only ``tutor_ids``). Never commits.

    ``holdout``: the interventions' holdout seed and share (default: the rules' own).

    An incremental run for a few tutors ranks them against the day's stored population only
    through their own figures; percentile tiers are refreshed by the next full run. The
    pipeline worker runs its scheduled full runs in phases instead: ``prepare_run`` in a
    read-only session, then ``write_steps``, each step in a short transaction.
    """
    prepared = prepare_run(db, as_of=as_of, tutor_ids=tutor_ids, data=data)
    return write_run(db, prepared, now=now, holdout=holdout)


def _keep_stored_tiers(db: Session, tiers: pd.DataFrame, *, as_of: date) -> pd.DataFrame:
    """Percentile tiers need the whole population: a partial run keeps the last full run's."""
    stored = dict(
        db.execute(
            select(TutorPerformanceMetric.tutor_id, TutorPerformanceMetric.performance_tier)
            .where(
                TutorPerformanceMetric.tutor_id.in_([str(t) for t in tiers.index]),
                TutorPerformanceMetric.window_days == 30,
                TutorPerformanceMetric.calculation_date <= as_of,
            )
            .order_by(TutorPerformanceMetric.calculation_date)
        ).all()
    )
    index = [str(t) for t in tiers.index]
    if not any(tutor_id in stored for tutor_id in index):
        return tiers
    # Whole columns rebuilt once (not cell by cell): same dtypes as ``assign_tiers`` gives.
    tier = tiers["tier"].to_numpy(dtype=object).copy()
    reason = tiers["reason"].tolist()
    for position, tutor_id in enumerate(index):
        if tutor_id in stored:
            tier[position] = stored[tutor_id]
            reason[position] = "tier from the last full run"
    return pd.DataFrame(
        {
            "tier": pd.Series(tier, index=tiers.index, dtype=object),
            "percentile": tiers["percentile"],
            "reason": pd.Series(reason, index=tiers.index, dtype=tiers["reason"].dtype),
        },
        index=tiers.index,
    )


def process_dirty(db: Session, *, as_of: date, now: datetime, limit: int = 500) -> int:
    """Recompute a batch of the tutors marked dirty by ingestion; returns how many.

    On PostgreSQL the batch is claimed with ``FOR UPDATE SKIP LOCKED``, so several pipeline
    workers share the queue without processing a tutor twice. A tutor marked again while the
    batch runs keeps its newer mark and is picked up by the next batch. A full run in
    progress does not hold a batch up, except for the full run's short write phase.
    """
    concurrency.micro_batch_writes(db)
    claimed = db.execute(
        select(DirtyTutor.tutor_id, DirtyTutor.marked_at)
        .order_by(DirtyTutor.marked_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not claimed:
        return 0
    tutor_ids = [tutor_id for tutor_id, _ in claimed]
    run_pipeline(db, as_of=as_of, now=now, tutor_ids=tutor_ids)
    concurrency.note_recomputed(db, tutor_ids=tutor_ids)
    for tutor_id, marked_at in claimed:
        db.execute(
            delete(DirtyTutor).where(
                DirtyTutor.tutor_id == tutor_id, DirtyTutor.marked_at == marked_at
            )
        )
    return len(tutor_ids)
