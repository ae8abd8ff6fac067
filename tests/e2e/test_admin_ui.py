"""Admin pages in Debian's Chromium: create and disable an account, an API token shown once
and revoked, and the audit log filtered and exported (the export itself audited)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.api.app import create_app
from tutorpulse.auth import service as auth_service
from tutorpulse.auth.models import ApiToken, AuditEntry, User
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade

from .conftest import _free_port

pytestmark = pytest.mark.browser

NOW = datetime(2025, 1, 19, 12, 0, tzinfo=UTC)
SECRET = "e2e-admin-secret-key-0123456789abcdef0123"
PASSWORD = "correct horse battery staple"
ADMIN = "root@example.org"
WAIT_MS = 20_000


@dataclass
class Site:
    url: str
    factory: sessionmaker[Session]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("admin-ui")
    settings = Settings(env="test", data_dir=data_dir, secret_key=SECRET)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as db:
        auth_service.create_user(
            db, email=ADMIN, role="admin", password=PASSWORD, actor=None, now=NOW
        )
        db.commit()
    app = create_app(settings, session_factory=factory, clock=FixedClock(NOW))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    yield Site(f"http://127.0.0.1:{port}", factory)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _login(page: Any, site: Site, next_path: str) -> None:
    page.goto(f"{site.url}/login?next={next_path}")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(site.url) + re.escape(next_path) + r"(\?.*)?$"))


def test_admin_creates_and_disables_an_account_and_manages_a_token(
    browser: Any, site: Site
) -> None:
    context = browser.new_context(timezone_id="UTC", locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    _login(page, site, "/admin/users")
    page.get_by_role("cell", name=ADMIN, exact=True).wait_for()

    page.get_by_text("New account").click()
    page.get_by_label("Email", exact=True).fill("coach@example.org")
    page.get_by_label("Display name").fill("Coach Carter")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Account coach@example.org created").wait_for()
    page.get_by_role("cell", name="coach@example.org", exact=True).wait_for()
    # A second account with the same email is refused with a message, nothing crashes.
    page.get_by_label("Email", exact=True).fill("COACH@example.org")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("already exists").wait_for()

    page.get_by_role("button", name="Edit coach@example.org").click()
    page.get_by_text("Active (may sign in)").click()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Account coach@example.org saved").wait_for()
    page.get_by_role("cell", name="disabled", exact=True).wait_for()
    with site.factory() as db:
        coach = db.scalars(select(User).where(User.email == "coach@example.org")).one()
        assert not coach.is_active and coach.display_name == "Coach Carter"
        actions = set(
            db.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(coach.id)))
        )
        assert {"user.create", "user.update"} <= actions

    page.get_by_label("Token name (who uses it)").fill("nightly feed")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_label("New API token")
    shown.wait_for()
    token = shown.input_value()
    page.get_by_role("button", name="I have copied it").click()
    with site.factory() as db:
        stored = db.scalars(select(ApiToken).where(ApiToken.name == "nightly feed")).one()
        assert token and token not in stored.token_hash  # only the hash is kept
        assert auth_service.verify_api_token(db, token=token, now=NOW) is not None
    page.get_by_role("button", name="Revoke nightly feed").click()
    page.get_by_text("Token nightly feed revoked").wait_for()
    with site.factory() as db:
        assert auth_service.verify_api_token(db, token=token, now=NOW) is None
    context.close()


def test_audit_log_filters_and_exports(browser: Any, site: Site) -> None:
    with site.factory() as db:
        auth_service.create_user(
            db, email="viewer@example.org", role="people_ops", password=None, actor=None, now=NOW
        )
        db.commit()
    context = browser.new_context(timezone_id="UTC", locale="en-GB", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    _login(page, site, "/admin/audit")
    page.get_by_role("cell", name="auth.login").first.wait_for()

    page.get_by_label("Action").fill("user.*")
    page.get_by_role("button", name="Search").click()
    # The unfiltered page lists user.create too: wait for the filter, not for a cell.
    expect(page.get_by_role("cell", name="auth.login")).to_have_count(0, timeout=WAIT_MS)
    page.get_by_role("cell", name="user.create").first.wait_for()

    page.get_by_label("From (YYYY-MM-DD)").fill("not a date")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("From: 'not a date' is not a date (YYYY-MM-DD)").wait_for()
    page.get_by_label("From (YYYY-MM-DD)").fill("2025-01-19")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert content.startswith("id,at,actor_user_id")
    assert "user.create" in content and "auth.login" not in content
    with site.factory() as db:
        export = db.scalars(select(AuditEntry).where(AuditEntry.action == "audit.export")).one()
        assert export.actor_label.endswith(ADMIN)
        assert export.details["filters"]["action"] == "user.*"
    context.close()
