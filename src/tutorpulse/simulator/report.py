"""``tutorpulse synth-report``: realism targets and integrity of a generated directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from tutorpulse.simulator.dataset import load_dataset
from tutorpulse.simulator.integrity import IntegrityCheck, run_integrity
from tutorpulse.simulator.realism import Check, Prepared, prepare, run_checks

VERDICT_STYLE = {"PASS": "green", "FAIL": "bold red", "N/A": "yellow"}


@dataclass
class RealismReport:
    directory: Path
    manifest: dict[str, Any]
    targets: list[Check]
    integrity: list[IntegrityCheck]
    prepared: Prepared

    @property
    def failed_targets(self) -> list[Check]:
        return [c for c in self.targets if c.passed is False]

    @property
    def failed_integrity(self) -> list[IntegrityCheck]:
        return [c for c in self.integrity if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failed_targets and not self.failed_integrity

    def as_dict(self) -> dict[str, Any]:
        keys = ("seed", "days", "start", "end", "tutors", "sessions_per_day", "generator")
        return {
            "directory": str(self.directory),
            "dataset": {k: self.manifest.get(k) for k in keys},
            "passed": self.passed,
            "targets": [c.as_dict() for c in self.targets],
            "integrity": [c.as_dict() for c in self.integrity],
        }


def build_report(directory: Path) -> RealismReport:
    data = load_dataset(directory)
    prepared = prepare(data)
    return RealismReport(
        directory=directory,
        manifest=data.manifest,
        targets=run_checks(prepared),
        integrity=run_integrity(data, prepared.tutors[["tutor_id", "churn_day"]]),
        prepared=prepared,
    )


def write_json(report: RealismReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = orjson.dumps(
        report.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
    )
    path.write_bytes(payload + b"\n")


def render(report: RealismReport, console: Console) -> None:
    m = report.manifest
    title = (
        f"Realism: {report.directory}  (seed {m.get('seed')}, {m.get('days')} days from "
        f"{m.get('start')}, target {m.get('sessions_per_day')} sessions/day)"
    )
    table = Table(title=title, show_lines=False, expand=False)
    for column, style in (
        ("check", "bold"),
        ("target", ""),
        ("measured", ""),
        ("tolerance", "dim"),
        ("", ""),
    ):
        table.add_column(column, style=style, overflow="fold")
    for check in report.targets:
        verdict = check.verdict
        table.add_row(
            check.description,
            check.target,
            check.measured,
            check.tolerance,
            f"[{VERDICT_STYLE[verdict]}]{verdict}[/]",
        )
    console.print(table)
    integrity = Table(title="Integrity", expand=False)
    for column in ("check", "checked", "violations", "examples", ""):
        integrity.add_column(column, overflow="fold")
    for item in report.integrity:
        verdict = item.verdict
        integrity.add_row(
            item.description,
            f"{item.checked:,}",
            f"{item.violations:,}",
            ", ".join(item.examples),
            f"[{VERDICT_STYLE[verdict]}]{verdict}[/]",
        )
    console.print(integrity)
    failed = len(report.failed_targets) + len(report.failed_integrity)
    if failed:
        console.print(f"[bold red]{failed} check(s) failed[/]")
    else:
        console.print("[green]all checks passed[/]")
