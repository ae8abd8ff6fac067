"""The pipeline benchmark runs end to end in its quick mode (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..conftest import REPO_ROOT


def test_pipeline_benchmark_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.json"
    subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "pipeline.py"),
            "--quick",
            "--backends",
            "sqlite",
            "--samples",
            "3",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    result = json.loads(out.read_text())
    (run,) = result["runs"]
    for key in ("full_pipeline_seconds", "incremental_ms_median", "baseline_sql_aggregate_seconds"):
        assert run[key] > 0
    assert run["tutors"] > 100 and set(run["pass"]) == {"full", "incremental"}
