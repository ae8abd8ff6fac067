"""Churn model benchmark (issue 6): features, training, search and scoring times, plus the
full metric report, on the default 90-day simulation (seed 1, ~1,400 active tutors).

Timed separately:
- features: labels and point-in-time features for every active tutor-day (one data load);
- training: all horizons with the default hyper-parameters (the hazard model + calibration);
- search: the bounded hyper-parameter search (``--max-configs`` sets, reported on its own);
- scoring: every tutor active on the last day (features, probabilities, SHAP factors).

    python benchmarks/train.py                       # 1x: simulate, import, measure
    python benchmarks/train.py --db /path/to.db      # reuse an imported SQLite database
    python benchmarks/train.py --scales 1,10         # also 10x data (long)
    python benchmarks/train.py --scales 10 --workdir /var/tmp/tp-train --build-only  # then
    python benchmarks/train.py --scales 10 --workdir /var/tmp/tp-train               # measure
    python benchmarks/train.py --quick --out F.json  # 200 tutors, 300 sessions/day (smoke)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade
from tutorpulse.ingest.files import import_directory, plan_directory
from tutorpulse.metrics.data import LOOKBACK_DAYS, day_end, day_start, load_market_range
from tutorpulse.pipeline.service import evaluate_day
from tutorpulse.risk.evaluation import json_safe
from tutorpulse.risk.explain import explain
from tutorpulse.risk.features import features_from_metrics
from tutorpulse.risk.jobs import data_days
from tutorpulse.risk.scoring import score_frame
from tutorpulse.risk.training import (
    DEFAULT_PARAMS,
    build_dataset,
    fit_calibrators,
    fit_hazard,
    temporal_split,
    train_churn_model,
)
from tutorpulse.simulator.config import SimulationConfig
from tutorpulse.simulator.export import generate_dataset

RESULTS = Path(__file__).parent / "results" / "train.json"
TARGETS = {
    "features_plus_training_seconds_1x": 60.0,
    "scoring_seconds": 2.0,
    "training_seconds_10x": 600.0,
}
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def prepare(scale: int, workdir: Path, *, quick: bool = False) -> Engine:
    config = SimulationConfig.build(seed=1)
    if quick:
        config = SimulationConfig.build(seed=1, tutors=200, sessions_per_day=300)
    elif scale != 1:
        config = SimulationConfig.build(
            seed=1,
            tutors=config.initial_tutors * scale,
            sessions_per_day=config.sessions_per_day * scale,
        )
    name = f"bench-{scale}x{'-quick' if quick else ''}"
    database = workdir / f"{name}.db"
    ready = database.with_suffix(".ready")
    if ready.is_file():  # built by an earlier run with the same --workdir
        engine = make_engine(f"sqlite:///{database}")
        upgrade(engine)
        return engine
    for leftover in workdir.glob(f"{name}.db*"):
        leftover.unlink()  # a half-built database: start afresh
    out = workdir / f"sim-{name}"
    shutil.rmtree(out, ignore_errors=True)
    generate_dataset(config, days=90, out=out)
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    with make_session_factory(engine)() as db:
        import_directory(
            db,
            plan=plan_directory(out, source="synthetic"),
            now=NOW,
            chunk_size=5000,
            checkpoint=db.commit,
        )
        db.commit()
    shutil.rmtree(out, ignore_errors=True)
    ready.touch()
    return engine


class Timer:
    """Wall and CPU seconds of a block: CPU time stays meaningful on a shared machine."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def measure(engine: Engine, *, max_configs: int, threads: int) -> dict[str, Any]:
    with make_session_factory(engine)() as db:
        first, last = data_days(db)
        started = time.perf_counter()
        data = load_market_range(
            db, start=day_start(first - timedelta(days=LOOKBACK_DAYS)), end=day_end(last)
        )
        load_seconds = time.perf_counter() - started
    with Timer() as features_timer:
        dataset = build_dataset(data, observed_from=first, observed_until=last)
    feature_seconds = features_timer.wall

    rows = dataset.rows
    split = temporal_split(list(rows["day"]), observed_until=last)
    train = rows[(rows["day"] >= split.train[0]) & (rows["day"] <= split.train[1])]
    val = rows[(rows["day"] >= split.validation[0]) & (rows["day"] <= split.validation[1])]
    with Timer() as training_timer:
        model = fit_hazard(
            train,
            val,
            split=split,
            features=list(_features()),
            params=DEFAULT_PARAMS,
            seed=0,
            threads=threads,
        )
        model.calibrators = fit_calibrators(model, val, observed_until=last)
    training_seconds = training_timer.wall

    with Timer() as search_timer:
        result = train_churn_model(dataset, seed=0, max_configs=max_configs, threads=threads)
    search_seconds = search_timer.wall

    day_data = data  # the whole range holds the last day's point-in-time slice
    frame = evaluate_day(day_data, as_of=last).frame
    with Timer() as scoring_timer:
        features = features_from_metrics(frame, day_data, as_of=last)
        scores = score_frame(result.model, features)
        factors = explain(result.model, features)
    scoring_seconds = scoring_timer.wall
    assert len(factors) == len(scores)
    return {
        "observed": [first.isoformat(), last.isoformat()],
        "snapshots": len(rows),
        "tutors_scored": len(scores),
        "load_seconds": round(load_seconds, 2),
        "features_seconds": round(feature_seconds, 2),
        "training_seconds": round(training_seconds, 2),
        "features_plus_training_seconds": round(feature_seconds + training_seconds, 2),
        "search_seconds": round(search_seconds, 2),
        "search_configs": result.report["search"]["configs_tried"],
        "scoring_seconds": round(scoring_seconds, 3),
        "cpu_seconds": {
            "features": round(features_timer.cpu, 2),
            "training": round(training_timer.cpu, 2),
            "features_plus_training": round(features_timer.cpu + training_timer.cpu, 2),
            "search": round(search_timer.cpu, 2),
            "scoring": round(scoring_timer.cpu, 3),
        },
        "load_average_1min": round(os.getloadavg()[0], 2),
        "report": json_safe(result.report),
    }


def _features() -> tuple[str, ...]:
    from tutorpulse.risk.features import FEATURES

    return FEATURES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="1")
    parser.add_argument("--db", type=Path, help="an imported SQLite database to reuse (1x)")
    parser.add_argument("--max-configs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="200 tutors, 300/day, 1 config")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--workdir", type=Path,
        help="keep the simulated databases here and reuse them in later runs (10x takes long "
        "to build: build with --build-only while the machine is busy, measure when quiet)",
    )  # fmt: skip
    parser.add_argument("--build-only", action="store_true", help="with --workdir: no timing")
    args = parser.parse_args()
    if args.build_only and args.workdir is None:
        parser.error("--build-only needs --workdir")
    if args.quick:
        args.scales, args.max_configs = "1", 1
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for scale in (int(s) for s in args.scales.split(",")):
            if args.db is not None and scale == 1:
                engine = make_engine(f"sqlite:///{args.db}")
                upgrade(engine)
            else:
                engine = prepare(scale, workdir, quick=args.quick)
            if args.build_only:
                engine.dispose()
                print(f"{scale}x database ready in {workdir}", flush=True)
                continue
            run = {"scale": scale} | measure(
                engine, max_configs=args.max_configs, threads=args.threads
            )
            engine.dispose()
            runs.append(run)
            print(json.dumps({k: v for k, v in run.items() if k != "report"}), flush=True)
    if args.build_only:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    # Runs of other scales from an earlier invocation are kept (10x is measured on its own).
    if args.out.is_file() and not args.quick:
        kept = [
            r
            for r in json.loads(args.out.read_text()).get("runs", [])
            if r["scale"] not in {run["scale"] for run in runs}
        ]
        runs = sorted(kept + runs, key=lambda r: r["scale"])
    result: dict[str, Any] = {
        "benchmark": "train",
        "git_commit": commit,
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "targets": TARGETS,
        "runs": runs,
    }
    if args.quick:
        result["quick"] = True
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
