"""The command line as a user runs it: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import FIXTURES, SAMPLE_DIR

CLI = str(Path(sys.executable).parent / "tutorpulse")


def run(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TUTORPULSE_")}
    environment |= {"TUTORPULSE_DATA_DIR": str(data_dir), "COLUMNS": "200"} | env
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=environment, timeout=120, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and text in error_lines[0], result.stderr


def test_help_and_usage_errors(tmp_path: Path) -> None:
    assert run("--help", data_dir=tmp_path).returncode == 0
    assert run("worker", "nobody", data_dir=tmp_path).returncode == 2
    assert run("import", "--help", data_dir=tmp_path).returncode == 0
    assert run("import", data_dir=tmp_path).returncode == 2
    assert run("no-such-command", data_dir=tmp_path).returncode == 2
    assert run("import", str(SAMPLE_DIR), "--batch-size", "0", data_dir=tmp_path).returncode == 2


def test_import_before_migration_says_what_to_do(tmp_path: Path) -> None:
    result = run("import", str(SAMPLE_DIR), data_dir=tmp_path)
    assert_one_line_error(result, "run `tutorpulse db upgrade` first")


def test_import_flow_and_strict_mode(tmp_path: Path) -> None:
    assert run("db", "upgrade", data_dir=tmp_path).returncode == 0
    result = run("import", str(SAMPLE_DIR), "--quiet", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0 rejected" in result.stderr and "synthetic data" in result.stderr
    # The import is one audit entry: the operator, the batch and its counts.
    with sqlite3.connect(tmp_path / "tutorpulse.db") as audit_db:
        rows = audit_db.execute(
            "SELECT actor_label, target_type, details FROM audit_log WHERE action = 'ingest.batch'"
        ).fetchall()
    assert len(rows) == 1 and rows[0][0].startswith("cli:") and rows[0][1] == "ingest_batch"
    counts = json.loads(rows[0][2])["counts"]
    assert counts["tutors"] == {"accepted": 8, "rejected": 0}
    bad = FIXTURES / "bad" / "bad_values"
    rejects = tmp_path / "rejects.jsonl"
    result = run("import", str(bad), "--quiet", "--rejects-out", str(rejects), data_dir=tmp_path)
    assert result.returncode == 0
    assert "rejected sessions sessions.jsonl:2 id=x1: student_rating:" in result.stderr
    assert len(rejects.read_text().splitlines()) == 16
    strict = run("import", str(bad), "--quiet", "--strict", data_dir=tmp_path)
    assert_one_line_error(strict, "16 record(s) rejected (--strict)")


@pytest.mark.parametrize("mode", sorted(p.name for p in (FIXTURES / "bad").iterdir()))
def test_every_bad_input_mode_exits_cleanly(tmp_path: Path, mode: str) -> None:
    assert run("db", "upgrade", data_dir=tmp_path).returncode == 0
    result = run("import", str(FIXTURES / "bad" / mode), "--quiet", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_missing_directory_and_unreachable_database(tmp_path: Path) -> None:
    assert_one_line_error(
        run("import", str(tmp_path / "nope"), data_dir=tmp_path), "directory not found"
    )
    assert_one_line_error(run("import", str(tmp_path), data_dir=tmp_path), "no importable files")
    dead = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    result = run("db", "upgrade", data_dir=tmp_path, TUTORPULSE_DATABASE_URL=dead)
    assert_one_line_error(result, "database:")


def test_unsafe_settings_are_refused(tmp_path: Path) -> None:
    result = run("db", "upgrade", data_dir=tmp_path, TUTORPULSE_ENV="production")
    assert_one_line_error(result, "TUTORPULSE_SECRET_KEY")


def test_demo_small_loads_and_computes(tmp_path: Path) -> None:
    result = run("demo", "--small", "--no-serve", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "simulated marketplace loaded" in result.stderr
    assert "pipeline computed for" in result.stderr
    assert "demo logins" in result.stderr and "ops-manager@" in result.stderr
    again = run("demo", "--small", "--no-serve", data_dir=tmp_path)
    assert again.returncode == 0 and "reusing it" in again.stderr


def test_backup_and_restore_commands(tmp_path: Path) -> None:
    assert run("db", "upgrade", data_dir=tmp_path).returncode == 0
    target = tmp_path / "copy.db"
    result = run("backup", "--out", str(target), data_dir=tmp_path)
    assert result.returncode == 0 and target.is_file(), result.stderr
    assert_one_line_error(run("restore", str(target), data_dir=tmp_path), "add --yes")
    assert run("restore", str(target), "--yes", data_dir=tmp_path).returncode == 0
