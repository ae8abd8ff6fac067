"""Intervention tasks: everyone's or mine, open / overdue / done, with SLA countdowns."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from nicegui import run, ui

from tutorpulse.auth.permissions import Permission
from tutorpulse.dashboard import service
from tutorpulse.dashboard.schemas import InterventionPage
from tutorpulse.ui.context import PageContext, empty_state, frame, page_context, run_write
from tutorpulse.ui.task_actions import assign_to_me, outcome_menu, record_outcome, sla_text

PAGE_SIZE = 25


class TaskList:
    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.filters: dict[str, Any] = {"assignee": "me", "status": "open", "page": 1}

    def _load(self) -> InterventionPage:
        f, ctx = self.filters, self.ctx
        with ctx.db() as db:
            return service.list_interventions(
                db,
                now=ctx.clock.now(),
                assignee_id=(ctx.user.id or -1) if f["assignee"] == "me" else None,
                unassigned=f["assignee"] == "unassigned",
                status=None if f["status"] == "all" else f["status"],
                page=f["page"],
                page_size=PAGE_SIZE,
            )

    async def load(self) -> None:
        page = await run.io_bound(self._load)
        if page is not None:
            self.view.refresh(page)

    async def _set(self, key: str, value: Any) -> None:
        self.filters[key] = value
        if key != "page":
            self.filters["page"] = 1
        await self.load()

    async def _act(self, action: str, intervention_id: int, outcome: str = "") -> None:
        def write() -> None:
            if action == "assign":
                assign_to_me(self.ctx, intervention_id)
            else:
                record_outcome(self.ctx, intervention_id, outcome)

        if not await run_write(write):
            return
        ui.notify("Saved", type="positive")
        await self.load()

    def controls(self) -> None:
        with ui.row().classes("items-end gap-3"):
            ui.toggle(
                {"me": "Mine", "unassigned": "Unassigned", "all": "Everyone"},
                value="me",
                on_change=lambda e: self._set("assignee", e.value),
            ).props('aria-label="Whose tasks"')
            ui.select(
                {
                    "open": "Open",
                    "overdue": "Overdue",
                    "completed": "Completed",
                    "cancelled": "Cancelled",
                    "all": "All",
                },
                value="open",
                label="Status",
                on_change=lambda e: self._set("status", e.value),
            ).classes("w-40")

    @ui.refreshable_method
    def view(self, page: InterventionPage | None = None) -> None:
        if page is None:
            ui.skeleton(type="rect", height="16rem").classes("w-full")
            return
        if not page.items:
            empty_state("No task here.", "task_alt")
            return
        can_assign = self.ctx.can(Permission.ASSIGN_INTERVENTIONS)
        with ui.list().props("bordered separator").classes("w-full bg-white"):
            for row in page.items:
                text, css = sla_text(row)
                with ui.item().props(f'data-task="{row.intervention_id}"'):
                    with ui.item_section():
                        ui.label(f"{row.name} ({row.intervention_type})").classes("font-medium")
                        ui.link(row.tutor_name or row.tutor_id, f"/tutors/{row.tutor_id}").classes(
                            "tp-link text-sm"
                        )
                        ui.label(row.trigger_reason).classes("text-xs tp-muted")
                    with ui.item_section().props("side"):
                        ui.label(text).classes(f"text-sm {css}")
                        ui.label(f"{row.status} · {row.assignee_name or 'unassigned'}").classes(
                            "text-xs tp-muted"
                        )
                        with ui.row().classes("gap-1"):
                            if can_assign and row.status in ("pending", "in_progress"):
                                ui.button(
                                    "Assign to me",
                                    on_click=lambda _=None, i=row.intervention_id: self._act(
                                        "assign", i
                                    ),
                                ).props("flat dense")
                            if row.status in ("pending", "in_progress"):
                                outcome_menu(
                                    row.intervention_id,
                                    lambda i, k: self._act("outcome", i, k),
                                )
        pages = max(1, -(-page.total // page.page_size))
        with ui.row().classes("w-full items-center justify-between"):
            ui.label(f"{page.total:,} tasks").classes("text-sm tp-muted")
            ui.pagination(
                1, pages, value=page.page, direction_links=True,
                on_change=lambda e: self._set("page", int(e.value)),
            ).props("max-pages=7")  # fmt: skip


def register() -> None:
    @ui.page("/interventions")
    async def tasks(request: Request) -> Response | None:
        ctx = page_context(request, Permission.READ_INTERVENTIONS)
        if not isinstance(ctx, PageContext):
            return ctx
        frame(ctx, "Tasks")
        view = TaskList(ctx)
        with ui.column().classes("w-full max-w-screen-lg mx-auto p-4 gap-3"):
            ui.label("Intervention tasks").classes("text-2xl font-semibold").props(
                'role="heading" aria-level="1"'
            )
            view.controls()
            view.view()
        ui.timer(0.05, view.load, once=True)
        return None
