"""Benchmark tooling (issue 11): the report generator of run_all.py and a short locust run.

No timing assertions: the figures are whatever the machine gives; the tests check that the
tools run, read and write what they promise, and refuse bad input with a clear message.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ..conftest import REPO_ROOT

BENCH = REPO_ROOT / "benchmarks"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


run_all = _module("run_all")


def _run(benchmark: str, scale: int, backend: str, metrics: dict[str, float], rss: float) -> dict:
    return {
        "benchmark": benchmark,
        "scale": scale,
        "backend": backend,
        "status": "ok",
        "wall_seconds": 1.0,
        "peak_rss_mb": rss,
        "metrics": metrics,
    }


def _fixture_results(results: Path) -> dict[str, Any]:
    """A summary as run_all writes it: two scales, two backends, one failed run."""
    gen, pipe = "generate", "pipeline"
    runs = [
        _run(gen, 1, "files", {f"{gen}.seconds": 20.0, f"{gen}.baseline_seconds": 2.0}, 100),
        _run(gen, 10, "files", {f"{gen}.seconds": 200.0, f"{gen}.baseline_seconds": 8.0}, 400),
        _run(pipe, 1, "sqlite", {f"{pipe}.full_seconds": 7.0, f"{pipe}.baseline_seconds": 0.05,
                                 f"{pipe}.incremental_ms_median": 38.0, "database.mb": 120.0}, 300),
        _run(pipe, 10, "sqlite", {f"{pipe}.full_seconds": 140.0, f"{pipe}.baseline_seconds": 0.5,
                                  f"{pipe}.incremental_ms_median": 60.0, "database.mb": 1200.0},
             2500),
        _run(pipe, 1, "postgresql", {f"{pipe}.full_seconds": 11.0}, 310),
        {"benchmark": "train", "scale": 10, "backend": "sqlite", "status": "failed",
         "error": "exit 1: MemoryError in build_dataset"},
    ]  # fmt: skip
    summary = {
        "benchmark": "run_all",
        "created_at": "2026-01-01T00:00:00+00:00",
        "git_commit": "0" * 40,
        "command": "benchmarks/run_all.py --scales 1,10",
        "quick": False,
        "scales": [1, 10],
        "machine": {"cpus": 2, "python": "3.11", "load_average_end": [1.0, 1.0, 1.0]},
        "runs": runs,
    }
    load = {
        "command": "benchmarks/load.py --scale 10",
        "database": "postgresql",
        "dataset": {"tutors": 14000, "sessions": 1400000},
        "server": {"workers": 2, "redis": False},
        "baseline": {"p50_ms": 3.0, "p95_ms": 9.0},
        "steps": [
            {"users": 100, "aggregate": {"requests": 5000, "rps": 80.0, "p50_ms": 40.0,
             "p95_ms": 250.0, "p99_ms": 700.0, "failures": 0},
             "backlog": {"start": 3, "end": 2}, "ingest": {"sessions": 1200},
             "checks": {"p95": True, "errors": True}},
        ],
        "saturation": {"rps": 150.0, "users": 60},
        "slowest_routes": [{"name": "GET /kpis", "p95_ms": 280.0, "requests": 400}],
        "profile": "docs/img/load_profile.svg",
        "bottleneck": "the KPI query.",
    }  # fmt: skip
    results.mkdir(parents=True)
    (results / "summary.json").write_text(json.dumps(summary))
    (results / "load.json").write_text(json.dumps(load))
    return summary


def test_power_law_recovers_the_exponent() -> None:
    a, k = run_all.power_law([(1, 3.0), (2, 3.0 * 2**1.5), (10, 3.0 * 10**1.5)])
    assert math.isclose(k, 1.5, rel_tol=1e-9) and math.isclose(a, 3.0, rel_tol=1e-9)
    assert run_all.power_law([(1, 5.0)]) is None  # one scale: nothing to fit
    assert run_all.power_law([(1, 5.0), (10, 0.0)]) is None  # zeros have no logarithm


def test_report_is_rebuilt_from_existing_results(tmp_path: Path) -> None:
    results, docs = tmp_path / "results", tmp_path / "docs"
    _fixture_results(results)
    out = run_all.build_report(results, docs)
    text = out.read_text()
    assert out == docs / "benchmarks.md"
    row = next(
        line for line in text.splitlines() if line.startswith("| full pipeline (s) | sqlite")
    )
    cells = [c.strip() for c in row.strip("|").split("|")]
    # 1x, 10x, 100x (extrapolated), k, baseline, ratio, target, pass
    fitted_k = math.log(140.0 / 7.0) / math.log(10)
    assert cells[2:4] == ["7.00", "140"]
    assert cells[4] == "≈ " + run_all._fmt(7.0 * 100**fitted_k)
    assert cells[5] == f"{fitted_k:.2f}"
    assert cells[6:8] == ["0.50", f"{140.0 / 0.5:.2f}"]
    assert cells[9] == "pass, **FAIL**"  # 7 s <= 10 s at 1x; 140 s > 120 s at 10x
    # A single scale has no fit, hence no 100x figure.
    pg_row = next(r for r in text.splitlines() if r.startswith("| full pipeline (s) | postgresql"))
    assert "≈" not in pg_row
    # Peak RSS per benchmark run, the database size, the failed run and the load section.
    assert "| peak RSS: pipeline (MB) | sqlite | 300 | 2,500 |" in text
    assert "| database size after import + pipeline (MB) | sqlite | 120 | 1,200 |" in text
    assert "train 10x sqlite: failed" in text and "MemoryError" in text
    assert "| 100 | 5000 | 80.0 | 40.0 | 250 | 700 | 0 | 1200 | 3 → 2 |" in text
    assert "Throughput at saturation: 150 req/s" in text
    assert "(img/load_profile.svg)" in text
    for name in ("generate", "pipeline", "database", "memory"):
        chart = docs / "img" / f"bench_{name}.png"
        assert f"(img/bench_{name}.png)" in text
        assert chart.read_bytes()[:8] == PNG_MAGIC


def test_report_refuses_bad_results_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no .*summary\.json: run benchmarks/run_all\.py first"):
        run_all.build_report(tmp_path / "empty", tmp_path / "docs")
    results = tmp_path / "results"
    _fixture_results(results)
    (results / "summary.json").write_text('{"runs": [')
    with pytest.raises(SystemExit, match=r"summary\.json is not valid JSON"):
        run_all.build_report(results, tmp_path / "docs")
    assert not (tmp_path / "docs" / "benchmarks.md").exists()


def test_report_only_command_and_bad_options(tmp_path: Path) -> None:
    results, docs = tmp_path / "results", tmp_path / "docs"
    _fixture_results(results)
    script = str(BENCH / "run_all.py")
    done = subprocess.run(
        [sys.executable, script, "--report-only", "--results", str(results), "--docs", str(docs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The fixture holds a failed run: the command says so through its exit code.
    assert done.returncode == 1, done.stderr
    assert (docs / "benchmarks.md").is_file()
    bad = subprocess.run(
        [sys.executable, script, "--only", "pipeline,bogus"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown: bogus" in bad.stderr
    bad = subprocess.run(
        [sys.executable, script, "--scales", "1,x"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--scales" in bad.stderr


def test_load_driver_refuses_bad_options() -> None:
    script = str(BENCH / "load.py")
    bad = subprocess.run(
        [sys.executable, script, "--users", "20,lots"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--users must be comma-separated integers" in bad.stderr
    bad = subprocess.run([sys.executable, script, "--workers", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "must be positive" in bad.stderr


@pytest.mark.postgres
def test_short_locust_run_against_a_test_server(tmp_path: Path) -> None:
    """The whole driver on a tiny marketplace: 5 users for 5 s, then the report includes it."""
    from ..conftest import service_url

    out = tmp_path / "load.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUTORPULSE_")}
    env["TUTORPULSE_BENCH_POSTGRES_URL"] = service_url("TUTORPULSE_TEST_POSTGRES_URL", "PostgreSQL")
    done = subprocess.run(
        [
            sys.executable, str(BENCH / "load.py"), "--quick",
            "--tutors", "30", "--sessions-per-day", "60", "--days", "4",
            "--users", "5", "--duration", "5", "--saturation-users", "3", "--workers", "1",
            "--no-profile", "--out", str(out),
        ],
        capture_output=True, text=True, timeout=600, env=env, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["database"] == "postgresql" and result["server"]["workers"] == 1
    assert result["baseline"]["requests"] > 0 and result["baseline"]["failures"] == 0
    (step,) = result["steps"]
    assert step["users"] == 5
    assert step["aggregate"]["requests"] > 0
    assert step["aggregate"]["failures"] == 0, step["failure_samples"]
    assert step["routes"]["POST /auth/login"]["requests"] >= 1
    assert step["routes"]["POST /ingest/sessions"]["failures"] == 0
    assert set(step["backlog"]) >= {"start", "end", "max", "keeps_up"}
    assert result["saturation"]["no_think_time"]["users"] == 3
    # The report generator reads it next to a summary.
    results = tmp_path / "results"
    _fixture_results(results)
    (results / "load.json").write_text(out.read_text())
    text = run_all.build_report(results, tmp_path / "docs").read_text()
    assert "| 5 | " in text and "1 API workers" in text


def test_quick_runs_are_not_judged_against_the_full_size_targets(tmp_path: Path) -> None:
    results = tmp_path / "results"
    summary = _fixture_results(results)
    (results / "summary.json").write_text(json.dumps(summary | {"quick": True}))
    text = run_all.build_report(results, tmp_path / "docs").read_text()
    row = next(r for r in text.splitlines() if r.startswith("| full pipeline (s) | sqlite"))
    assert row.endswith("| not judged (quick) |") and "**FAIL**" not in row
    assert "**quick run**" in text


def test_summary_from_earlier_per_benchmark_results(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    generate = {
        "runs": [
            {"scale": 1, "generate_seconds": 24.0, "baseline_write_seconds": 1.8,
             "records_total": 1_000_000, "peak_rss_mb": 105.0},
            {"scale": 10, "generate_seconds": 250.0, "baseline_write_seconds": 8.3,
             "records_total": 10_000_000, "peak_rss_mb": 580.0},
        ]
    }  # fmt: skip
    (results / "generate.json").write_text(json.dumps(generate))
    (results / "train.json").write_text("{not json")  # left out with a warning, not a crash
    summary = run_all.collect_existing(results)
    assert [(r["benchmark"], r["scale"], r["peak_rss_mb"]) for r in summary["runs"]] == [
        ("generate", 1, 105.0),
        ("generate", 10, 580.0),
    ]
    assert summary["runs"][1]["metrics"]["generate.seconds"] == 250.0
    (results / "summary.json").write_text(json.dumps(summary))
    text = run_all.build_report(results, tmp_path / "docs").read_text()
    k = math.log(250.0 / 24.0) / math.log(10)
    assert (
        f"| generate 90 days (s) | files | 24.0 | 250 | ≈ {run_all._fmt(24.0 * 100**k)} |" in text
    )
