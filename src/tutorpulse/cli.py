"""The ``tutorpulse`` command line (DESIGN.md §4). Exit codes: 0 ok, 1 error, 2 usage."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import OperationalError, ProgrammingError

from tutorpulse.clock import SystemClock
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import current_revision, head_revision, upgrade
from tutorpulse.errors import TutorpulseError
from tutorpulse.ingest.cli import import_command
from tutorpulse.jobs.cli import worker_command
from tutorpulse.pipeline.cli import pipeline_app

app = typer.Typer(
    name="tutorpulse",
    help="Tutor performance evaluation and retention: metrics, churn risk, interventions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TutorpulseError(
            f"invalid settings{' (' + where + ')' if where else ''}: {first['msg']}"
        ) from exc


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations to TUTORPULSE_DATABASE_URL."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine, revision)
    console.print(f"database at revision {current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current migration revision."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    typer.echo(current_revision(engine) or "(empty database)")


app.command("import")(import_command)
app.add_typer(pipeline_app, name="pipeline")
app.command("worker")(worker_command)


@app.command()
def backup(
    out: Annotated[
        Path | None, typer.Option(help="Backup file (default: DATA_DIR/backups/<time>).")
    ] = None,
) -> None:
    """Back up the database (SQLite online backup, or pg_dump for PostgreSQL)."""
    from tutorpulse.db.backup import backup as run_backup
    from tutorpulse.db.backup import default_backup_path

    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    target = out or default_backup_path(settings.data_dir, engine, SystemClock().now())
    console.print(f"backup written to {run_backup(engine, out=target)}")


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A file written by `tutorpulse backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm replacing the database.")] = False,
) -> None:
    """Replace the database's content with a backup (stop the app and workers first)."""
    from tutorpulse.db.backup import restore as run_restore

    if not yes:
        raise TutorpulseError("restore replaces every record in the database: add --yes")
    settings = load_settings()
    run_restore(make_engine(settings.effective_database_url), source=source)
    console.print(f"database restored from {source}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Uvicorn worker processes. Several suit the API; serve the UI (NiceGUI) from "
            "single-worker instances behind sticky sessions (docs/deploy.md).",
        ),
    ] = 1,
) -> None:
    """Run the web app (API and UI)."""
    import uvicorn

    from tutorpulse.api.app import create_app

    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(
        f"tutorpulse listening on http://{bind_host}:{bind_port}  (API docs: /docs, "
        f"{workers} worker{'s' if workers > 1 else ''})"
    )
    if workers > 1:
        # Each worker process builds its own app from the environment (import string).
        engine.dispose()
        uvicorn.run(
            "tutorpulse.api.app:create_app_from_env",
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_level="info",
            # Uvicorn kills a worker that misses a 5 s health ping: start-up (NiceGUI,
            # SQLAlchemy) on a busy host takes longer, which made the workers restart forever.
            timeout_worker_healthcheck=60,
        )
        return
    application = create_app(settings, session_factory=make_session_factory(engine))
    uvicorn.run(application, host=bind_host, port=bind_port, log_level="info")


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="Port for the web app.")] = None,
    serve_app: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the web app after loading data.")
    ] = True,
    small: Annotated[
        bool, typer.Option("--small", help="A quick start: 200 tutors over four weeks.")
    ] = False,
) -> None:
    """Embedded SQLite demo: simulate and import a marketplace, compute, serve it live."""
    from tutorpulse.demo import run_demo

    run_demo(settings=load_settings(), port=port, serve_app=serve_app, small=small, console=console)


def require_migrated(engine: object) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    if current_revision(engine) != head_revision():
        raise TutorpulseError(
            "the database schema is not up to date: run `tutorpulse db upgrade` first"
        )


# Domains that bring their own commands register them here (each module has ``register``).
DOMAIN_COMMANDS = (
    "tutorpulse.auth.cli",
    "tutorpulse.simulator.cli",
    "tutorpulse.risk.cli",
    "tutorpulse.interventions.cli",
)


def _register_domain_commands() -> None:
    for module_name in DOMAIN_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # that domain has no commands in this build
        module.register(app)


_register_domain_commands()


def main() -> None:
    # Click handles usage errors (exit 2) and --help itself; expected failures end here.
    try:
        app()
    except KeyboardInterrupt:
        console.print("aborted")
        sys.exit(1)
    except TutorpulseError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        console.print(
            f"[red]error:[/red] database: {escape(reason)}", highlight=False, soft_wrap=True
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
