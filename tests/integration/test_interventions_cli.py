"""``tutorpulse interventions validate``: a short run end to end, and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from tutorpulse.errors import TutorpulseError
from tutorpulse.interventions.cli import register

SHORT = ["--days", "45", "--warmup", "14", "--horizon", "14", "--sessions-per-day", "80"]


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


def test_validate_prints_the_table_and_writes_the_report(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "uplift.json"
    workdir = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            *("interventions", "validate", *SHORT, "--seed", "3", "--effect", "a3=0.9"),
            *("--out", str(out), "--workdir", str(workdir)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Uplift vs true effect" in result.output and "recovered" in result.output
    report = orjson.loads(out.read_bytes())
    assert report["plan"]["days"] == 45 and report["plan"]["effects"]["A3"] == 0.9
    assert report["rejected_records"] == 0 and report["types"]
    assert any(row["treated_n"] and row["holdout_n"] for row in report["types"])
    for row in report["types"]:
        assert set(row) >= {"estimate", "ci95", "true_effect", "recovered"}
    assert (workdir / "validation.sqlite").exists()
    # The kept database is never reused: a second run into it is refused.
    again = CliRunner().invoke(
        app, ["interventions", "validate", *SHORT, "--workdir", str(workdir)]
    )
    assert isinstance(again.exception, TutorpulseError)
    assert "validation.sqlite exists" in str(again.exception)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--holdout-share", "1.5"], "holdout share must be between 0 and 1"),
        (["--days", "50", "--warmup", "28", "--horizon", "60"], "must exceed warm-up + horizon"),
        (["--effect", "H4=2"], "reduction for H4 must be between 0 and 1"),
        (["--churn-multiplier", "0"], "churn multiplier must be > 0"),
    ],
)
def test_bad_plans_are_refused_before_anything_runs(
    app: typer.Typer, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["interventions", "validate", *args])
    assert isinstance(result.exception, TutorpulseError)
    assert message in str(result.exception)


def test_usage_errors_through_the_real_command(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tutorpulse.cli", "interventions", "validate", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    malformed = run("--effect", "H4")
    assert malformed.returncode == 2 and "TYPE=REDUCTION" in malformed.stderr
    refused = run("--holdout-share", "1")
    assert refused.returncode == 1
    assert "holdout share" in refused.stderr and "Traceback" not in refused.stderr
    (tmp_path / "dir").mkdir()
    directory = run("--out", str(tmp_path / "dir"))
    assert directory.returncode == 1 and "is a directory" in directory.stderr
