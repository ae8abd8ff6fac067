"""The ingest benchmark runs end to end (quick mode, SQLite) and writes its JSON report.

No timing is asserted: the figures depend on the machine; only the shape of the report and
the benchmark's own consistency checks are.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from ..conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "ingest.py"
KINDS = {"tutors", "students", "sessions", "feedback", "tutor_events"}


@pytest.mark.slow
def test_quick_benchmark_writes_a_complete_report(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--backends", "sqlite", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "sqlite" in completed.stdout

    report = orjson.loads(out.read_bytes())
    assert report["benchmark"] == "ingest"
    assert {"commit", "dirty"} <= set(report["git"])
    assert {"cpu_count", "python", "sqlite"} <= set(report["machine"])
    assert set(report["targets"]) == {"records_per_s", "ratio_to_baseline", "peak_rss_mb"}
    assert set(report["dataset"]["records"]) == KINDS
    assert report["dataset"]["total_records"] > 0
    assert set(report["backends"]) == {"sqlite"}

    result = report["backends"]["sqlite"]
    imported = result["import"]
    assert imported["records"] == report["dataset"]["total_records"]
    assert imported["seconds"] > 0 and imported["records_per_s"] > 0
    assert imported["peak_rss_mb"] > 0
    assert imported["rejected"] == 0
    assert imported["rows_stored"] == report["dataset"]["rows"]
    baseline = result["baselines"]["executemany"]
    assert baseline["records"] == sum(report["dataset"]["rows"].values())
    assert result["ratio_baseline"] == "executemany"
    assert result["baseline_records_per_s"] == baseline["records_per_s"] > 0
    assert result["ratio"] > 0
    assert set(result["checks"]) >= {"records_per_s", "ratio_to_baseline", "peak_rss_mb"}
    assert result["checks"]["no_rejections"] and result["checks"]["rows_as_expected"]
    assert isinstance(result["passed"], bool) and isinstance(report["passed"], bool)
