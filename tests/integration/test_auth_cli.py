"""``tutorpulse users`` / ``tutorpulse tokens`` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from tutorpulse.auth.models import ApiToken, AuditEntry, User
from tutorpulse.auth.passwords import verify_password
from tutorpulse.auth.service import digest
from tutorpulse.db.engine import make_engine, make_session_factory

CLI = str(Path(sys.executable).parent / "tutorpulse")


def run(*args: str, data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TUTORPULSE_")}
    environment |= {"TUTORPULSE_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run(
        [CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_users_and_tokens_commands(tmp_path: Path) -> None:
    assert run("db", "upgrade", data_dir=tmp_path).returncode == 0
    created = run(
        "users",
        "create",
        "--email",
        "Boss@Example.org",
        "--role",
        "admin",
        "--password-stdin",
        data_dir=tmp_path,
        stdin="a very good password\n",
    )
    assert created.returncode == 0, created.stderr
    assert "a very good password" not in created.stdout + created.stderr
    # Usage errors exit 2; a missing tutor record is a one-line error (exit 1).
    assert (
        run("users", "create", "--email", "x@y.z", "--role", "pope", data_dir=tmp_path).returncode
        == 2
    )
    missing = run(
        "users",
        "create",
        "--email",
        "t@y.z",
        "--role",
        "tutor",
        "--tutor-id",
        "t404",
        data_dir=tmp_path,
    )
    assert missing.returncode == 1 and "tutor 't404' not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    short = run(
        "users",
        "create",
        "--email",
        "s@y.z",
        "--role",
        "ops_manager",
        "--password-stdin",
        data_dir=tmp_path,
        stdin="short\n",
    )
    assert short.returncode == 1 and "at least" in short.stderr

    token_run = run("tokens", "create", "--name", "feed", "--scope", "ingest", data_dir=tmp_path)
    assert token_run.returncode == 0, token_run.stderr
    token = token_run.stdout.strip()
    assert token.startswith("tpa_") and token not in token_run.stderr
    bad_scope = run("tokens", "create", "--name", "x", "--scope", "admin", data_dir=tmp_path)
    assert bad_scope.returncode == 1

    listed = run("tokens", "list", data_dir=tmp_path)
    assert listed.returncode == 0 and token not in listed.stdout and token[:12] in listed.stdout

    engine = make_engine(f"sqlite:///{tmp_path / 'tutorpulse.db'}")
    with make_session_factory(engine)() as db:
        user = db.scalar(select(User).where(User.email == "boss@example.org"))
        assert user is not None and user.role == "admin"
        assert user.password_hash and user.password_hash.startswith("$argon2id$")
        assert verify_password(user.password_hash, "a very good password")
        row = db.scalar(select(ApiToken))
        assert row is not None and row.token_hash == digest(token) and row.scopes == ["ingest"]
        token_id = row.id

    assert run("tokens", "revoke", str(token_id), data_dir=tmp_path).returncode == 0
    with make_session_factory(engine)() as db:
        assert db.scalar(select(ApiToken.revoked_at)) is not None
        actions = set(db.scalars(select(AuditEntry.action)))
        labels = set(db.scalars(select(AuditEntry.actor_label)))
    assert {"user.create", "token.create", "token.revoke"} <= actions
    assert all(label.startswith("cli:") for label in labels)
    engine.dispose()
