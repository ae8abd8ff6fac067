"""``tutorpulse pipeline run``: metrics, flags, rule scores and tiers as of a day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.clock import SystemClock
from tutorpulse.errors import TutorpulseError
from tutorpulse.marketplace.models import TutoringSession
from tutorpulse.pipeline.service import process_dirty, run_pipeline

pipeline_app = typer.Typer(help="Compute metrics, flags, scores and tiers.", no_args_is_help=True)


def latest_data_day(db: Session) -> date:
    latest = db.scalar(
        select(func.max(TutoringSession.scheduled_start)).where(
            TutoringSession.status.in_(("completed", "no_show"))
        )
    )
    if latest is None:
        raise TutorpulseError("no sessions in the database yet: import data first")
    value = latest if isinstance(latest, datetime) else datetime.fromisoformat(str(latest))
    return value.date()


@pipeline_app.command("run")
def run_command(
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="Day to compute (YYYY-MM-DD); default: the day of the latest session.",
        ),
    ] = None,
    dirty_only: Annotated[
        bool, typer.Option(help="Only the tutors marked dirty by ingestion (micro-batch).")
    ] = False,
) -> None:
    """Compute everything as of a day, using only data up to the end of that day."""
    from tutorpulse.cli import load_settings, require_migrated
    from tutorpulse.db.engine import make_engine, make_session_factory

    console = Console(stderr=True)
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    now = SystemClock().now()
    with make_session_factory(engine)() as db:
        day = as_of.date() if as_of else latest_data_day(db)
        if dirty_only:
            count = process_dirty(db, as_of=day, now=now)
            db.commit()
            console.print(f"recomputed {count} dirty tutor(s) as of {day}")
            return
        with console.status(f"computing as of {day}"):
            result = run_pipeline(db, as_of=day, now=now)
        db.commit()
    table = Table(title=f"pipeline as of {result.as_of}: {result.tutors:,} active tutors")
    table.add_column("tier")
    table.add_column("tutors", justify="right")
    for tier, count in result.tier_counts.items():
        table.add_row(tier, f"{count:,}")
    console.print(table)
    levels = ", ".join(f"{level} {count:,}" for level, count in sorted(result.risk_counts.items()))
    console.print(f"risk levels (rule score): {levels}")
    created = ", ".join(f"{k} {v}" for k, v in sorted(result.interventions.items())) or "none"
    console.print(f"interventions created: {created}")
    flags = result.flags
    console.print(
        f"flags: {flags['raised']:,} raised, {flags['cleared']:,} cleared, {flags['open']:,} open"
    )
