"""``tutorpulse export-subject``, ``erase-subject`` and ``retention run``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from tutorpulse.clock import SystemClock
from tutorpulse.errors import TutorpulseError

console = Console(stderr=True)
retention_app = typer.Typer(help="Data retention jobs.", no_args_is_help=True)
keys_app = typer.Typer(help="PII encryption keys.", no_args_is_help=True)


def _subject(tutor: str | None, student: str | None) -> tuple[str, str]:
    if bool(tutor) == bool(student):
        raise typer.BadParameter("give exactly one of --tutor or --student")
    return ("tutor", tutor) if tutor else ("student", student)  # type: ignore[return-value]


def export_subject_command(
    tutor: Annotated[str | None, typer.Option(help="Tutor id.")] = None,
    student: Annotated[str | None, typer.Option(help="Student id.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the JSON here (default: standard output).")
    ] = None,
) -> None:
    """Everything stored about one tutor or student, as JSON (an access request; audited)."""
    from tutorpulse.auth.cli import cli_actor, db_session
    from tutorpulse.privacy.subjects import export_subject

    kind, subject_id = _subject(tutor, student)
    with db_session() as db:
        data = export_subject(
            db,
            kind=kind,  # type: ignore[arg-type]
            subject_id=subject_id,
            actor=cli_actor(),
            now=SystemClock().now(),
        )
    payload = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str)
    if out is None:
        typer.echo(payload.decode())
    else:
        out.write_bytes(payload)
        console.print(f"exported {kind} {subject_id} to {out}")


def erase_subject_command(
    tutor: Annotated[str | None, typer.Option(help="Tutor id.")] = None,
    student: Annotated[str | None, typer.Option(help="Student id.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Delete one tutor's or student's records (a deletion request; audited)."""
    from tutorpulse.auth.cli import cli_actor, db_session
    from tutorpulse.privacy.subjects import erase_subject

    kind, subject_id = _subject(tutor, student)
    if not yes:
        raise TutorpulseError(f"erasing {kind} {subject_id} cannot be undone: add --yes")
    with db_session() as db:
        counts = erase_subject(
            db,
            kind=kind,  # type: ignore[arg-type]
            subject_id=subject_id,
            actor=cli_actor(),
            now=SystemClock().now(),
        )
    summary = ", ".join(f"{table}: {n}" for table, n in sorted(counts.items()))
    console.print(f"erased {kind} {subject_id} ({summary})")


@retention_app.command("run")
def retention_run(
    as_of: Annotated[
        str | None, typer.Option(help="Apply the rules as of this date (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Purge old audit entries, anonymize/delete old records, minimize under-13 data."""
    from tutorpulse.auth.cli import db_session
    from tutorpulse.cli import load_settings
    from tutorpulse.privacy.retention import run_retention

    settings = load_settings()
    now = SystemClock().now()
    if as_of:
        try:
            now = datetime.combine(date.fromisoformat(as_of), time(0), tzinfo=UTC)
        except ValueError:
            raise typer.BadParameter("--as-of must be YYYY-MM-DD") from None
    with db_session() as db:
        report = run_retention(db, now=now, settings=settings)
    typer.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every PII value under TUTORPULSE_PII_ACTIVE_KEY_ID (keep old keys set),
    and recompute the email hashes (needed after TUTORPULSE_PII_HMAC_KEY changed)."""
    from tutorpulse.auth import audit
    from tutorpulse.auth.cli import cli_actor, db_session
    from tutorpulse.cli import load_settings
    from tutorpulse.privacy import crypto

    ring = crypto.configure(load_settings())
    with db_session() as db:
        count = crypto.rotate(db)
        hashes = crypto.refresh_email_hashes(db)
        audit.record(
            db,
            actor=cli_actor(),
            action="pii.rotate_keys",
            details={"active_key_id": ring.active_id, "rewritten": count, "email_hashes": hashes},
            now=SystemClock().now(),
        )
    console.print(f"re-encrypted {count} values under key {ring.active_id}")
    if hashes:
        console.print(f"recomputed {hashes} email hashes (the HMAC key changed)")


def register(app: typer.Typer) -> None:
    app.command("export-subject")(export_subject_command)
    app.command("erase-subject")(erase_subject_command)
    app.add_typer(retention_app, name="retention")
    app.add_typer(keys_app, name="keys")
