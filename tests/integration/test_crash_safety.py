"""kill -9 of a pipeline worker mid-run: nothing lost, nothing doubled, and after a restart
every tutor matches a clean recompute. Graceful SIGTERM exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade
from tutorpulse.events.models import DirtyTutor, OutboxMessage
from tutorpulse.interventions.models import Intervention
from tutorpulse.marketplace.models import TutoringSession
from tutorpulse.metrics.models import TutorPerformanceMetric
from tutorpulse.pipeline.service import run_pipeline

from ..conftest import SAMPLE_DIR
from .helpers import run_import

CLI = str(Path(sys.executable).parent / "tutorpulse")
AS_OF_DAY = "2025-01-19"


def _start_worker(data_dir: Path) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TUTORPULSE_")}
    environment |= {"TUTORPULSE_DATA_DIR": str(data_dir), "TUTORPULSE_PIPELINE_CLOCK": "data"}
    return subprocess.Popen(
        [CLI, "worker", "pipeline"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition: object, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def _completed(engine: Engine, job: str) -> int:
    with Session(engine) as db:
        return sum(
            1
            for payload in db.scalars(
                select(OutboxMessage.payload).where(OutboxMessage.topic == "job.completed")
            )
            if payload.get("job") == job
        )


def _snapshot(engine: Engine) -> list[tuple[object, ...]]:
    with Session(engine) as db:
        rows = db.execute(
            select(
                TutorPerformanceMetric.tutor_id,
                TutorPerformanceMetric.window_days,
                TutorPerformanceMetric.sessions_completed,
                TutorPerformanceMetric.avg_rating,
                TutorPerformanceMetric.no_show_count,
                TutorPerformanceMetric.performance_tier,
            )
            .where(TutorPerformanceMetric.calculation_date == datetime(2025, 1, 19).date())
            .order_by(TutorPerformanceMetric.tutor_id, TutorPerformanceMetric.window_days)
        ).all()
    return [tuple(row) for row in rows]


def test_kill_9_then_restart_converges(tmp_path: Path) -> None:
    live = tmp_path / "live"
    engine = make_engine(f"sqlite:///{live / 'tutorpulse.db'}")
    upgrade(engine)
    with make_session_factory(engine)() as db:
        run_import(db, SAMPLE_DIR)
        db.commit()
    sessions_before = _count(engine, TutoringSession)

    worker = _start_worker(live)
    # Killed as soon as it has started to work (possibly in the middle of a transaction).
    _wait_for(lambda: _completed(engine, "dirty") >= 1 or worker.poll() is not None)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)

    full_runs = _completed(engine, "full")
    restarted = _start_worker(live)
    try:
        # A full run by the restarted worker also proves it is up (signal handlers set).
        _wait_for(
            lambda: _count(engine, DirtyTutor) == 0 and _completed(engine, "full") > full_runs
        )
    finally:
        restarted.send_signal(signal.SIGTERM)
        _, stderr = restarted.communicate(timeout=60)
    assert restarted.returncode == 0, stderr
    assert "pipeline worker stopped" in stderr

    assert _count(engine, TutoringSession) == sessions_before  # nothing lost or doubled
    with Session(engine) as db:
        duplicates = db.execute(
            select(Intervention.tutor_id, Intervention.intervention_type, Intervention.subject_key)
            .where(Intervention.status.in_(("pending", "in_progress", "holdout")))
            .group_by(
                Intervention.tutor_id, Intervention.intervention_type, Intervention.subject_key
            )
            .having(func.count() > 1)
        ).all()
    assert duplicates == []

    clean = make_engine(f"sqlite:///{tmp_path / 'clean.db'}")
    upgrade(clean)
    with make_session_factory(clean)() as db:
        run_import(db, SAMPLE_DIR)
        run_pipeline(
            db,
            as_of=datetime(2025, 1, 19).date(),
            now=datetime(2025, 1, 19, 20, tzinfo=UTC),
        )
        db.commit()
    assert _snapshot(engine) == _snapshot(clean)


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)
