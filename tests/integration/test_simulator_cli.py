"""``generate`` and ``synth-report`` on their own Typer app, and through ``tutorpulse``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tutorpulse.errors import TutorpulseError
from tutorpulse.marketplace.models import Tutor, TutoringSession
from tutorpulse.simulator.cli import register

from .helpers import run_import, table_checksums

FILES = {"tutors", "students", "sessions", "feedback", "tutor_events"}


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


def _generate(app: typer.Typer, out: Path, *extra: str) -> None:
    args = [
        "generate",
        "--days",
        "7",
        "--seed",
        "4",
        "--sessions-per-day",
        "120",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output


def test_generate_writes_the_files_and_manifest(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "data"
    _generate(app, out, "--start", "2025-03-03")
    assert {p.stem for p in out.glob("*.jsonl")} == FILES
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["generator"] == "tutorpulse-simulator"
    assert manifest["source"] == "synthetic"
    assert (manifest["seed"], manifest["days"], manifest["start"]) == (4, 7, "2025-03-03")
    assert manifest["sessions_per_day"] == 120
    assert manifest["tutors"] > 0


def test_generate_is_repeatable(app: typer.Typer, tmp_path: Path) -> None:
    _generate(app, tmp_path / "a")
    _generate(app, tmp_path / "b")
    for name in (*(f"{k}.jsonl" for k in FILES), "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    _generate(app, tmp_path / "a")  # its own earlier output may be overwritten


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "06/01/2025"],
        ["--days", "0"],
        ["--seed", "-1"],
        ["--tutors", "0"],
    ],
)
def test_bad_arguments_are_usage_errors(app: typer.Typer, tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 2


def test_refuses_a_foreign_directory(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["generate", "--days", "1", "--out", str(tmp_path)])
    assert isinstance(result.exception, TutorpulseError)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_synth_report_writes_json_and_charts(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "data"
    _generate(app, out)
    result = CliRunner().invoke(
        app,
        [
            "synth-report",
            str(out),
            "--json",
            str(tmp_path / "r.json"),
            "--charts",
            str(tmp_path / "c"),
        ],
    )
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    assert {c["verdict"] for c in report["integrity"]} == {"PASS"}
    verdicts = {c["name"]: c["verdict"] for c in report["targets"]}
    # A week is too short for the 30-day churn measures: reported, not guessed.
    assert verdicts["reschedule_churn_lift"] == "N/A"
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "churn_by_subject_family.png",
        "rating_vs_tenure.png",
        "sessions_weekday_hour.png",
    ]
    assert "Realism" in result.output
    if report["passed"]:
        assert result.exit_code == 0
    else:
        assert isinstance(result.exception, TutorpulseError)


def test_synth_report_on_a_missing_directory(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth-report", str(tmp_path / "nope")])
    assert isinstance(result.exception, TutorpulseError)


def test_exit_codes_through_the_real_command(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tutorpulse.cli", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    ok = run("generate", "--days", "2", "--sessions-per-day", "60", "--out", str(tmp_path / "d"))
    assert ok.returncode == 0, ok.stderr
    assert (
        run("generate", "--days", "2", "--start", "soon", "--out", str(tmp_path / "e")).returncode
        == 2
    )
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "x.txt").write_text("x")
    foreign = run("generate", "--days", "1", "--out", str(tmp_path / "f"))
    assert foreign.returncode == 1
    assert "error" in foreign.stderr and len(foreign.stderr.strip().splitlines()) == 1


def test_generated_files_import_without_rejects(db: Session, tmp_path: Path) -> None:
    out = tmp_path / "data"
    app = typer.Typer()
    register(app)
    _generate(app, out)
    report = run_import(db, out)
    assert report.total_rejected == 0, report.as_dict()["rejections"]
    assert report.source == "synthetic"
    assert db.scalar(select(func.count()).select_from(Tutor)) == sum(
        1 for _ in (out / "tutors.jsonl").open()
    )
    sources = set(db.scalars(select(TutoringSession.source).distinct()))
    assert sources == {"synthetic"}
    before = table_checksums(db)
    run_import(db, out)
    assert table_checksums(db) == before
