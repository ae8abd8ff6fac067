"""``tutorpulse import DIR``: progress bar, per-kind counts, rejects with reasons."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.orm import Session

from tutorpulse.clock import SystemClock
from tutorpulse.errors import TutorpulseError
from tutorpulse.ingest.files import import_directory, plan_directory
from tutorpulse.ingest.service import ImportReport

REJECTS_SHOWN = 20


def import_command(
    directory: Annotated[Path, typer.Argument(help="Directory holding tutors.jsonl etc.")],
    source: Annotated[
        str,
        typer.Option(help="auto (manifest.json decides, else real), real or synthetic."),
    ] = "auto",
    batch_size: Annotated[
        int | None, typer.Option(min=1, max=100_000, help="Records per committed chunk.")
    ] = None,
    rejects_out: Annotated[
        Path | None, typer.Option("--rejects-out", help="Also write every reject as JSON lines.")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when any record is rejected.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Load DESIGN.md §3 files (JSON Lines or CSV); print accepted / rejected counts per kind."""
    from tutorpulse.cli import load_settings, require_migrated
    from tutorpulse.db.engine import make_engine, make_session_factory
    from tutorpulse.realtime.live import publish_commits

    console = Console(stderr=True)
    settings = load_settings()
    plan = plan_directory(directory, source=source)
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    factory = make_session_factory(engine)
    publish_commits(settings, factory)  # each committed chunk: "re-read now" (Redis)
    session = factory()
    started = time.perf_counter()
    with _progress(console, quiet) as progress:
        task = progress.add_task("importing", total=plan.total_bytes, rate="")
        processed = 0

        def on_progress(kind: str, records: int, size: int) -> None:
            nonlocal processed
            processed += records
            rate = processed / max(time.perf_counter() - started, 1e-6)
            progress.update(
                task, advance=size, description=f"importing {kind}", rate=f"{rate:,.0f} rec/s"
            )

        now = SystemClock().now()
        try:
            report = import_directory(
                session,
                plan=plan,
                now=now,
                chunk_size=batch_size or settings.import_batch_size,
                checkpoint=session.commit,
                on_progress=on_progress,
            )
            _audit(session, report, plan.source, now)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        progress.update(task, completed=plan.total_bytes)
    elapsed = time.perf_counter() - started
    _print_report(console, report, plan.source, elapsed)
    if rejects_out is not None:
        _write_rejects(rejects_out, engine, report.batch_id)
        console.print(f"rejects written to {rejects_out}")
    if strict and report.total_rejected:
        raise TutorpulseError(f"{report.total_rejected} record(s) rejected (--strict)")


def _audit(db: Session, report: ImportReport, source: str, now: datetime) -> None:
    """One audit entry per import (the operator, the batch and its counts), like the HTTP
    ingest route's; records are not audited one by one."""
    from tutorpulse.auth import audit
    from tutorpulse.auth.cli import cli_actor

    counts = {k: {"accepted": c.accepted, "rejected": c.rejected} for k, c in report.counts.items()}
    audit.record(
        db,
        actor=cli_actor(),
        action="ingest.batch",
        target_type="ingest_batch",
        target_id=report.batch_id,
        details={"origin": "cli", "source": source, "counts": counts},
        now=now,
    )


def _progress(console: Console, quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    )


def _print_report(console: Console, report: ImportReport, source: str, elapsed: float) -> None:
    table = Table(title=f"import batch {report.batch_id} ({source} data)")
    for column in ("kind", "received", "accepted", "new", "updated", "unchanged", "rejected"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, counts in report.counts.items():
        table.add_row(
            kind,
            f"{counts.received:,}",
            f"{counts.accepted:,}",
            f"{counts.inserted:,}",
            f"{counts.updated:,}",
            f"{counts.unchanged:,}",
            f"[red]{counts.rejected:,}[/red]" if counts.rejected else "0",
        )
    console.print(table)
    total = report.total_accepted + report.total_rejected
    console.print(
        f"{report.total_accepted:,} accepted, {report.total_rejected:,} rejected "
        f"in {elapsed:.1f}s ({total / max(elapsed, 1e-6):,.0f} records/s)"
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)
    for rejection in report.rejections[:REJECTS_SHOWN]:
        line = escape(f"{rejection.kind} {rejection.describe()}")
        console.print(f"[red]rejected[/red] {line}", highlight=False, soft_wrap=True)
    hidden = report.total_rejected - min(len(report.rejections), REJECTS_SHOWN)
    if hidden > 0:
        console.print(
            f"... and {hidden:,} more rejects (stored in ingest_rejects for batch "
            f"{report.batch_id}; use --rejects-out FILE to list them all)"
        )


def _write_rejects(path: Path, engine: object, batch_id: int) -> None:
    from sqlalchemy import Engine, select

    from tutorpulse.ingest.models import RejectedRecord

    assert isinstance(engine, Engine)
    columns = [RejectedRecord.kind, RejectedRecord.file, RejectedRecord.line]
    columns += [RejectedRecord.record_id, RejectedRecord.field, RejectedRecord.reason]
    with engine.connect() as connection, path.open("wb") as out:
        query = select(*columns).where(RejectedRecord.batch_id == batch_id)
        for row in connection.execute(query.order_by(RejectedRecord.id)):
            out.write(orjson.dumps(dict(row._mapping)) + b"\n")
