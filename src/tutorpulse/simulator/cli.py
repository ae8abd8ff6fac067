"""``tutorpulse generate`` and ``tutorpulse synth-report`` (registered on the main Typer app)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tutorpulse.errors import TutorpulseError
from tutorpulse.simulator.config import DEFAULT_START, SimulationConfig
from tutorpulse.simulator.export import GENERATOR, MANIFEST, generate_dataset
from tutorpulse.simulator.records import FILE_NAMES

MAX_DAYS = 3660


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)
    app.command("synth-report")(synth_report_command)


def _parse_start(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--start"
        ) from exc


def _check_output_directory(out: Path) -> None:
    """Refuse to write into a directory that holds anything but an earlier generated dataset."""
    if out.exists() and not out.is_dir():
        raise TutorpulseError(f"{out} exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return
    manifest = out / MANIFEST
    ours = set(FILE_NAMES.values()) | {MANIFEST}
    try:
        generated = orjson.loads(manifest.read_bytes()).get("generator") == GENERATOR
    except (OSError, orjson.JSONDecodeError, AttributeError):
        generated = False
    strangers = [p.name for p in out.iterdir() if p.name not in ours]
    if not generated or strangers:
        raise TutorpulseError(
            f"{out} is not empty and does not hold a generated dataset; choose another --out"
        )


def generate_command(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the JSONL files to.")],
    days: Annotated[int, typer.Option(min=1, max=MAX_DAYS, help="Days to simulate.")] = 90,
    seed: Annotated[int, typer.Option(min=0, help="Master seed: same seed, same bytes.")] = 0,
    tutors: Annotated[
        int | None,
        typer.Option(min=1, help="Initial tutors (default: enough for --sessions-per-day)."),
    ] = None,
    sessions_per_day: Annotated[
        int | None,
        typer.Option("--sessions-per-day", min=1, help="Target sessions per day (default 3,000)."),
    ] = None,
    start: Annotated[
        str, typer.Option(help="First simulated day, YYYY-MM-DD.")
    ] = DEFAULT_START.isoformat(),
) -> None:
    """Write a synthetic marketplace (DESIGN.md §3 files) for DAYS days from START."""
    first_day = _parse_start(start)
    _check_output_directory(out)
    config = SimulationConfig.build(
        seed=seed, start=first_day, tutors=tutors, sessions_per_day=sessions_per_day
    )
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("days", total=days)
        summary = generate_dataset(
            config, days=days, out=out, on_day=lambda _day: progress.advance(task)
        )
    counts = summary.counts
    console.print(
        f"wrote {out}: {counts['tutors']:,} tutors, {counts['students']:,} students, "
        f"{counts['sessions']:,} sessions ({summary.sessions_per_day:,.0f}/day held or missed), "
        f"{counts['feedback']:,} feedback, {counts['tutor_events']:,} events"
    )


def synth_report_command(
    directory: Annotated[
        Path, typer.Argument(help="A directory written by `tutorpulse generate`.")
    ] = Path("."),
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON to this file.")
    ] = None,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Write PNG charts to this directory.")
    ] = None,
) -> None:
    """Realism report: PRD targets vs the generated data, plus integrity checks."""
    from tutorpulse.simulator.report import build_report, render, write_json

    report = build_report(directory)
    render(report, Console())
    if json_path is not None:
        write_json(report, json_path)
    if charts is not None:
        from tutorpulse.simulator.charts import write_charts

        for path in write_charts(report.prepared, charts):
            Console(stderr=True).print(f"chart: {path}")
    failed = len(report.failed_targets) + len(report.failed_integrity)
    if failed:
        raise TutorpulseError(f"{failed} realism or integrity check(s) failed")
