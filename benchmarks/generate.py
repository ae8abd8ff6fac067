"""Simulator benchmark (issue 4): ``tutorpulse generate`` at 1x and 10x the default volume.

Each run simulates 90 days and streams the DESIGN.md §3 files to a temporary directory, in a
child process that reports its own wall time and peak RSS. In the same run, a baseline writes
the same number of lines of each kind from pre-built records (orjson, same buffering), so that
the figures can be read as ratios on a noisy or shared machine.

Targets: 1x (3,000 sessions/day, ~270k sessions) in < 30 s with peak RSS < 500 MB;
10x (30,000 sessions/day) in < 300 s. Wall time is what the targets judge; CPU time and the
load average are recorded too, because on a shared machine wall time also measures the
neighbours. Results go to ``benchmarks/results/generate.json``.

    .venv/bin/python benchmarks/generate.py            # 1x and 10x, 90 days
    .venv/bin/python benchmarks/generate.py --quick    # 1x, 14 days (smoke test)
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_OUT = BENCH_DIR / "results" / "generate.json"
SEED = 0
DAYS = 90
QUICK_DAYS = 14
BASE_SESSIONS_PER_DAY = 3000
TARGETS = {
    "seconds_1x": 30.0,
    "peak_rss_mb_1x": 500.0,
    "seconds_10x": 300.0,
}
CHILD_TIMEOUT_S = 1800
WRITE_BUFFER = 1 << 20


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None


def child(days: int, sessions_per_day: int, out: Path) -> None:
    """Runs in a fresh interpreter: generate, then print wall time, counts and peak RSS."""
    from tutorpulse.simulator.config import SimulationConfig
    from tutorpulse.simulator.export import generate_dataset

    config = SimulationConfig.build(seed=SEED, sessions_per_day=sessions_per_day)
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = generate_dataset(config, days=days, out=out)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load = os.getloadavg()[0]
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(
        orjson.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "load_average_1min": load,
                "counts": summary.counts,
                "tutors_initial": config.initial_tutors,
                "peak_rss_mb": peak_kb / 1024,
                "bytes": sum(sizes.values()),
            }
        ).decode()
    )


def run_child(days: int, sessions_per_day: int, out: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(days), str(sessions_per_day), str(out)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"generate child failed:\n{result.stderr}")
    payload: dict[str, Any] = orjson.loads(result.stdout.strip().splitlines()[-1])
    return payload


def baseline(source: Path, counts: dict[str, int], scratch: Path) -> float:
    """Seconds to write the same number of lines per file from pre-built records."""
    samples: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(source.glob("*.jsonl")):
        with path.open("rb") as handle:
            samples[path.stem] = [orjson.loads(next(handle)) for _ in range(100)]
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for kind, records in samples.items():
        total = counts.get(kind, 0)
        with (scratch / f"{kind}.jsonl").open("wb", buffering=WRITE_BUFFER) as handle:
            written = 0
            while written < total:
                batch = records[: min(len(records), total - written)]
                handle.write(b"".join(orjson.dumps(r) + b"\n" for r in batch))
                written += len(batch)
    return time.perf_counter() - started


def measure(scale: int, days: int, workdir: Path) -> dict[str, Any]:
    sessions_per_day = BASE_SESSIONS_PER_DAY * scale
    out = workdir / f"generated_{scale}x"
    result = run_child(days, sessions_per_day, out)
    counts = result["counts"]
    baseline_seconds = baseline(out, counts, workdir / f"baseline_{scale}x")
    records = sum(v for k, v in counts.items() if k != "sessions_held_or_missed")
    seconds = result["seconds"]
    run: dict[str, Any] = {
        "scale": scale,
        "days": days,
        "sessions_per_day_target": sessions_per_day,
        "tutors_initial": result["tutors_initial"],
        "records": counts,
        "records_total": records,
        "output_mb": round(result["bytes"] / 2**20, 1),
        "generate_seconds": round(seconds, 2),
        # CPU time of the generator alone: what the run costs on an otherwise idle machine.
        "generate_cpu_seconds": round(result["cpu_seconds"], 2),
        "load_average_at_end": round(result["load_average_1min"], 2),
        "records_per_second": round(records / seconds),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "baseline_write_seconds": round(baseline_seconds, 2),
        "generate_vs_baseline_ratio": round(seconds / baseline_seconds, 2),
    }
    if days == DAYS and scale == 1:
        run["pass"] = {
            "seconds": seconds < TARGETS["seconds_1x"],
            "peak_rss": result["peak_rss_mb"] < TARGETS["peak_rss_mb_1x"],
        }
    elif days == DAYS and scale == 10:
        run["pass"] = {"seconds": seconds < TARGETS["seconds_10x"]}
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(workdir / f"baseline_{scale}x", ignore_errors=True)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"1x only, {QUICK_DAYS} days")
    parser.add_argument("--scales", default="1,10", help="comma-separated volume multiples")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    days = QUICK_DAYS if args.quick else DAYS
    scales = [1] if args.quick else [int(s) for s in args.scales.split(",")]
    runs = []
    with tempfile.TemporaryDirectory(prefix="tp-bench-generate-") as tmp:
        for scale in scales:
            run = measure(scale, days, Path(tmp))
            runs.append(run)
            print(
                f"{scale}x: {run['generate_seconds']} s ({run['generate_cpu_seconds']} s CPU, "
                f"load {run['load_average_at_end']}), {run['records_total']:,} records, "
                f"peak {run['peak_rss_mb']} MB, {run['generate_vs_baseline_ratio']}x the "
                f"plain write ({run['baseline_write_seconds']} s)"
            )
    result = {
        "benchmark": "generate",
        "git_commit": git_commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seed": SEED,
        "targets": TARGETS,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    failed = [r for r in runs if not all(r.get("pass", {}).values())]
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
