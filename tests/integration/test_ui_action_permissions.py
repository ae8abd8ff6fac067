"""UI actions are checked on the server when invoked, not only by hiding their buttons.

A page is checked when it loads; its buttons act later. The services check the acting user
against the permission table, and ``PageContext.write`` (every page action's transaction)
re-reads the user and the sign-in session first. Both backends.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from starlette.requests import Request

from tutorpulse.auth.guard import PermissionDenied
from tutorpulse.auth.models import AuditEntry, AuthSession, User
from tutorpulse.auth.permissions import Permission
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.dashboard import analytics, notes
from tutorpulse.interventions import service as interventions
from tutorpulse.ui.context import SCOPE_KEY, PageContext, page_context

from .test_dashboard_data import NOW, OWN_TUTOR, SECRET, Market, as_user, make_app, market

__all__ = ["market"]  # fixture


def _audit_count(market: Market) -> int:
    return market.db.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_services_refuse_a_role_without_the_permission(market: Market) -> None:
    db, users = market.db, market.users
    task, alert = market.task, market.alert
    before = _audit_count(market)
    attempts = [
        # people_ops may record outcomes but not assign (interventions.assign)
        lambda: interventions.assign(
            db,
            intervention_id=task.intervention_id,
            assignee_id=users["people_ops"].id,
            actor=users["people_ops"],
            now=NOW,
        ),
        lambda: interventions.record_outcome(
            db,
            intervention_id=task.intervention_id,
            outcome="improved",
            notes=None,
            actor=users["tutor"],
            now=NOW,
        ),
        lambda: interventions.acknowledge_alert(
            db, alert_id=alert.id, actor=users["tutor"], now=NOW
        ),
        lambda: interventions.snooze_alert(
            db, alert_id=alert.id, until=NOW + timedelta(hours=2), actor=users["student"], now=NOW
        ),
        lambda: interventions.dismiss_alert(
            db, alert_id=alert.id, reason="wrong", actor=users["tutor"], now=NOW
        ),
        lambda: notes.add_note(
            db, tutor_id=OWN_TUTOR, body="internal", author=users["tutor"], now=NOW
        ),
        lambda: notes.set_goal(
            db, tutor_id=OWN_TUTOR, key="on_time", target=0.9, actor=users["people_ops"], now=NOW
        ),
        # a tutor sets their own goals only
        lambda: notes.set_goal(
            db, tutor_id="tutor_003", key="on_time", target=0.9, actor=users["tutor"], now=NOW
        ),
        lambda: analytics.export_csv(
            db,
            table=analytics.analytics_table(db, name="tier_distribution"),
            name="tier_distribution",
            actor=users["tutor"],
            now=NOW,
        ),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    # A disabled account is refused whatever its role.
    users["manager"].is_active = False
    with pytest.raises(PermissionDenied, match="disabled"):
        interventions.assign(
            db,
            intervention_id=task.intervention_id,
            assignee_id=users["manager"].id,
            actor=users["manager"],
            now=NOW,
        )
    db.flush()
    db.refresh(task)
    db.refresh(alert)
    assert task.assigned_to is None and task.status == "pending"
    assert alert.status == "open"
    assert _audit_count(market) == before
    # The same calls by a permitted user go through (and are audited).
    users["manager"].is_active = True
    interventions.assign(
        db,
        intervention_id=task.intervention_id,
        assignee_id=users["manager"].id,
        actor=users["manager"],
        now=NOW,
    )
    assert task.assigned_to == users["manager"].id
    assert _audit_count(market) == before + 1


def _page(market: Market, user: User, *, session_id: int | None) -> PageContext:
    # What a page holds: a detached copy of the user as it was when the page loaded.
    snapshot = User(
        id=user.id, email=user.email, role=user.role, is_active=True, tutor_id=user.tutor_id
    )
    return PageContext(
        user=snapshot,
        settings=Settings(env="test", secret_key=SECRET),
        session_factory=sessionmaker(
            bind=market.db.connection(), join_transaction_mode="create_savepoint"
        ),
        clock=FixedClock(NOW),
        tz=UTC,
        path="/",
        ip="203.0.113.7",
        session_id=session_id,
    )


def _session_of(market: Market, user: User) -> AuthSession:
    row = market.db.scalar(select(AuthSession).where(AuthSession.user_id == user.id))
    assert row is not None
    return row


def _assign(ctx: PageContext, market: Market) -> None:
    """What the home page's and the task list's "Assign to me" buttons run."""
    with ctx.write(Permission.ASSIGN_INTERVENTIONS) as (db, actor):
        interventions.assign(
            db,
            intervention_id=market.task.intervention_id,
            assignee_id=actor.id,
            actor=actor,
            now=ctx.clock.now(),
        )
        db.commit()


def test_page_actions_recheck_role_session_and_account(market: Market) -> None:
    make_app(market.db, market.users)  # signs every user in
    db, manager = market.db, market.users["manager"]
    auth_session = _session_of(market, manager)
    ctx = _page(market, manager, session_id=auth_session.id)

    # The role changed after the page loaded: the open page can no longer assign.
    manager.role = "people_ops"
    db.flush()
    with pytest.raises(PermissionDenied, match="not allowed"):
        _assign(ctx, market)
    manager.role = "ops_manager"
    # Signed out elsewhere: the page's session has ended.
    auth_session.revoked_at = NOW
    db.flush()
    with pytest.raises(PermissionDenied, match="session has ended"):
        _assign(ctx, market)
    auth_session.revoked_at = None
    # Disabled by an admin.
    manager.is_active = False
    db.flush()
    with pytest.raises(PermissionDenied, match="disabled"):
        _assign(ctx, market)
    manager.is_active = True
    db.flush()
    db.refresh(market.task)
    assert market.task.assigned_to is None
    assert (
        db.scalars(select(AuditEntry).where(AuditEntry.action == "intervention.assign")).all() == []
    )

    # Still allowed: the action runs, as the current user, audited with the page's address.
    _assign(ctx, market)
    db.refresh(market.task)
    assert market.task.assigned_to == manager.id
    (entry,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "intervention.assign"))
    assert (entry.actor_user_id, entry.ip) == (manager.id, "203.0.113.7")


def test_a_role_without_the_permission_cannot_act_from_any_page(market: Market) -> None:
    """A tutor's page context (their portal) cannot reach the staff actions."""
    make_app(market.db, market.users)
    tutor = market.users["tutor"]
    ctx = _page(market, tutor, session_id=_session_of(market, tutor).id)
    for permission in (
        Permission.ASSIGN_INTERVENTIONS,
        Permission.RECORD_OUTCOMES,
        Permission.OVERRIDE_PREDICTIONS,
        Permission.READ_ANALYTICS,
    ):
        with pytest.raises(PermissionDenied), ctx.write(permission):
            pytest.fail(f"a tutor was let through to {permission}")
    # Their own goal is theirs to set.
    with ctx.write(Permission.READ_PORTAL) as (db, actor):
        notes.set_goal(db, tutor_id=OWN_TUTOR, key="on_time", target=0.95, actor=actor, now=NOW)
        db.commit()
    entry = market.db.scalar(select(AuditEntry).where(AuditEntry.action == "tutor.goal_set"))
    assert entry is not None and entry.actor_user_id == tutor.id and entry.ip == "203.0.113.7"


def test_page_context_keeps_the_session_and_address_it_was_loaded_with(market: Market) -> None:
    app = make_app(market.db, market.users)
    manager = market.users["manager"]
    header = as_user(manager)["Authorization"]
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "query_string": b"",
            "headers": [(b"authorization", header.encode())],
            "client": ("198.51.100.4", 50000),
            "server": ("testserver", 80),
            "scheme": "http",
            SCOPE_KEY: app,
        }
    )
    ctx = page_context(request, Permission.READ_INTERVENTIONS)
    assert isinstance(ctx, PageContext)
    assert ctx.ip == "198.51.100.4"
    assert ctx.session_id == _session_of(market, manager).id
