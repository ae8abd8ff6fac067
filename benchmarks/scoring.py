"""Scoring every tutor of the last day, phase by phase (issue 11): features, probabilities,
TreeSHAP factors, with CPU seconds (meaningful on a shared machine) and seconds per tutor.

The same steps as the scoring phase of ``benchmarks/train.py``, on an imported SQLite
database and a saved model directory (``ChurnModel.save``), so that one model can score a 1x
and a 10x population and the time per tutor be compared:

    python benchmarks/scoring.py --db 1x.db --model DIR
    python benchmarks/scoring.py --db 10x.db --model DIR --compare   # + plain TreeSHAP
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.metrics.data import LOOKBACK_DAYS, day_end, day_start, load_market_range
from tutorpulse.pipeline.service import evaluate_day
from tutorpulse.risk import treeshap
from tutorpulse.risk.explain import explain
from tutorpulse.risk.features import features_from_metrics
from tutorpulse.risk.hazard import ChurnModel
from tutorpulse.risk.jobs import data_days
from tutorpulse.risk.scoring import score_frame

T = TypeVar("T")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True, help="an imported SQLite database")
    parser.add_argument("--model", type=Path, required=True, help="a saved model directory")
    parser.add_argument("--compare", action="store_true", help="also time plain TreeSHAP")
    args = parser.parse_args()
    model = ChurnModel.load(args.model)
    with make_session_factory(make_engine(f"sqlite:///{args.db}"))() as db:
        first, last = data_days(db)
        data = load_market_range(
            db, start=day_start(first - timedelta(days=LOOKBACK_DAYS)), end=day_end(last)
        )
    frame = evaluate_day(data, as_of=last).frame
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}

    def timed(name: str, step: Callable[..., T], *a: Any, **k: Any) -> T:
        c, w = time.process_time(), time.perf_counter()
        result = step(*a, **k)
        cpu[name] = round(time.process_time() - c, 3)
        wall[name] = round(time.perf_counter() - w, 3)
        return result

    features = timed("features", features_from_metrics, frame, data, as_of=last)
    timed("probabilities", score_frame, model, features)
    timed("factors", explain, model, features)
    total = sum(cpu.values())
    result = {
        "tutors": len(features),
        "sessions_loaded": len(data.sessions),
        "trees": model.booster.num_boosted_rounds(),
        "max_depth": model.params.get("max_depth"),
        "cpu_seconds": cpu | {"total": round(total, 3)},
        "wall_seconds": wall | {"total": round(sum(wall.values()), 3)},
        "cpu_ms_per_tutor": round(1000 * total / max(len(features), 1), 3),
    }
    if args.compare:
        plain = timed("plain_treeshap", model.contributions, features)
        shared = timed("shared_treeshap", treeshap.contributions, model, features)
        result["treeshap_cpu_seconds"] = {
            "plain": cpu["plain_treeshap"],
            "shared": cpu["shared_treeshap"],
        }
        result["treeshap_bit_identical"] = bool(
            np.array_equal(plain.to_numpy().view(np.uint64), shared.to_numpy().view(np.uint64))
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
