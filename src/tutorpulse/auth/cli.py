"""``tutorpulse users ...`` and ``tutorpulse tokens ...``: accounts and API tokens.

Passwords are read from standard input only (never from arguments, which end up in shell
history and process lists); API tokens are printed once, to standard output.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from tutorpulse.auth import audit, service
from tutorpulse.auth.permissions import API_SCOPES, Role
from tutorpulse.clock import SystemClock
from tutorpulse.errors import TutorpulseError

users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for machine clients.", no_args_is_help=True)
console = Console(stderr=True)


def cli_actor() -> audit.MachineActor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return audit.MachineActor(f"cli:{who}")


@contextmanager
def db_session() -> Iterator[Session]:
    from tutorpulse.cli import load_settings, require_migrated
    from tutorpulse.db.engine import make_engine, make_session_factory, session_scope

    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    try:
        with session_scope(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise TutorpulseError("the passwords differ")
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    role: Annotated[Role, typer.Option(help="Role of the account.")],
    tutor_id: Annotated[str | None, typer.Option(help="Link a tutor account.")] = None,
    student_id: Annotated[str | None, typer.Option(help="Link a student account.")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the UI.")] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
) -> None:
    """Create an account. Without --password-stdin it can sign in only by SSO."""
    from tutorpulse.cli import load_settings

    if tutor_id and student_id:
        raise typer.BadParameter("give --tutor-id or --student-id, not both")
    password = _read_password() if password_stdin else None
    with db_session() as db:
        user = service.create_user(
            db,
            email=email,
            role=role.value,
            password=password,
            display_name=display_name,
            tutor_id=tutor_id,
            student_id=student_id,
            actor=cli_actor(),
            now=SystemClock().now(),
            min_password_length=load_settings().password_min_length,
        )
        console.print(f"created user {user.id} {user.email} ({user.role})")


@users_app.command("list")
def users_list() -> None:
    """List accounts."""
    with db_session() as db:
        users, _total = service.list_users(db, limit=10_000)
        table = Table("id", "email", "role", "linked", "active", "last login")
        for user in users:
            linked = user.tutor_id or user.student_id or ""
            last = user.last_login_at.isoformat(timespec="minutes") if user.last_login_at else ""
            table.add_row(str(user.id), user.email, user.role, linked, str(user.is_active), last)
        Console().print(table)


@users_app.command("set-password")
def users_set_password(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a new password (signs the account out everywhere, lifts a lockout)."""
    from tutorpulse.cli import load_settings

    if not password_stdin:
        raise typer.BadParameter("--password-stdin is required")
    password = _read_password()
    now = SystemClock().now()
    with db_session() as db:
        user = service.get_user_by_email(db, email=email)
        if user is None:
            raise TutorpulseError(f"no user with email {email}")
        service.set_password(
            db,
            user=user,
            password=password,
            now=now,
            min_length=load_settings().password_min_length,
        )
        audit.record(
            db,
            actor=cli_actor(),
            action="user.set_password",
            target_type="user",
            target_id=user.id,
            now=now,
        )
        console.print(f"password changed for {user.email}")


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Option(help="Sign-in email.")]) -> None:
    """Disable an account and end its sessions."""
    with db_session() as db:
        user = service.get_user_by_email(db, email=email)
        if user is None:
            raise TutorpulseError(f"no user with email {email}")
        service.update_user(
            db, user_id=user.id, is_active=False, actor=cli_actor(), now=SystemClock().now()
        )
        console.print(f"disabled {user.email}")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option(help="What the token is for (shown in lists).")],
    scope: Annotated[list[str], typer.Option(help=f"Scope(s): {', '.join(sorted(API_SCOPES))}.")],
    expires_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Expire after this many days.")
    ] = None,
) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    now = SystemClock().now()
    with db_session() as db:
        token, row = service.create_api_token(
            db,
            name=name,
            scopes=scope,
            actor=cli_actor(),
            now=now,
            expires_at=now + timedelta(days=expires_days) if expires_days else None,
        )
        console.print(f"token {row.id} ({row.name}, scopes: {', '.join(row.scopes)}):")
    typer.echo(token)
    console.print("store it now: it will not be shown again")


@tokens_app.command("list")
def tokens_list() -> None:
    """List API tokens (never the tokens themselves)."""
    with db_session() as db:
        table = Table("id", "name", "prefix", "scopes", "last used", "revoked")
        for row in service.list_api_tokens(db):
            table.add_row(
                str(row.id),
                row.name,
                row.prefix + "…",
                ",".join(row.scopes),
                row.last_used_at.isoformat(timespec="minutes") if row.last_used_at else "",
                row.revoked_at.isoformat(timespec="minutes") if row.revoked_at else "",
            )
        Console().print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="Token id (see list).")]) -> None:
    """Revoke an API token: it stops working at once."""
    with db_session() as db:
        row = service.revoke_api_token(
            db, token_id=token_id, actor=cli_actor(), now=SystemClock().now()
        )
        console.print(f"revoked token {row.id} ({row.name})")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    from tutorpulse.privacy.cli import register as register_privacy

    register_privacy(app)
