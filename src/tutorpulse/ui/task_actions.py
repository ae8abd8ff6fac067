"""Intervention tasks as both the home page ("my interventions") and the task list show and
act on them: the outcome choices, the SLA text, the outcome menu and the two writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from tutorpulse.auth.permissions import Permission
from tutorpulse.dashboard.schemas import InterventionRow
from tutorpulse.interventions import service as interventions
from tutorpulse.ui.context import PageContext, duration

OUTCOMES = {
    "improved": "Improved",
    "no_change": "No change",
    "declined": "Declined",
    "churned": "Left the platform",
}


def sla_text(row: InterventionRow) -> tuple[str, str]:
    if row.seconds_to_due is None:
        return "no deadline", "tp-muted"
    if row.overdue:
        return f"overdue by {duration(row.seconds_to_due)}", "tp-overdue"
    return f"due in {duration(row.seconds_to_due)}", ""


def outcome_menu(intervention_id: int, on_pick: Callable[[int, str], Any]) -> None:
    """An "Outcome" button; its menu calls ``on_pick(intervention_id, outcome key)``."""
    with ui.button("Outcome", icon="flag").props("flat dense"), ui.menu():
        for key, label in OUTCOMES.items():
            ui.menu_item(label, on_click=lambda _=None, k=key: on_pick(intervention_id, k))


# The writes run off the event loop (``run_write``), each in a transaction of its own.
def assign_to_me(ctx: PageContext, intervention_id: int) -> None:
    with ctx.write(Permission.ASSIGN_INTERVENTIONS) as (db, actor):
        interventions.assign(
            db,
            intervention_id=intervention_id,
            assignee_id=actor.id or -1,
            actor=actor,
            now=ctx.clock.now(),
        )
        db.commit()


def record_outcome(ctx: PageContext, intervention_id: int, outcome: str) -> None:
    with ctx.write(Permission.RECORD_OUTCOMES) as (db, actor):
        interventions.record_outcome(
            db,
            intervention_id=intervention_id,
            outcome=outcome,
            notes=None,
            actor=actor,
            now=ctx.clock.now(),
        )
        db.commit()
