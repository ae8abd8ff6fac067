"""Ops / people-ops home: KPIs with their change, the critical alert queue with one-click
assignment, "my interventions" with SLA countdowns, and the 30-day churn trend.

Live: a timer asks the database for the newest outbox id every two seconds (the DB is the
source of truth); when it moved, the sections re-read their data and NiceGUI pushes the new
content over its websocket. No page reload. Between two polls, a quicker timer looks at the
process's live signal (no query): a commit announced by this process or, with Redis, by the
pipeline worker or another web process wakes the page at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from nicegui import run, ui

from tutorpulse.auth.permissions import Permission
from tutorpulse.dashboard import service
from tutorpulse.dashboard.schemas import AlertRow, InterventionRow, Kpi
from tutorpulse.ui.context import PageContext, empty_state, frame, page_context, percent, run_write
from tutorpulse.ui.task_actions import (
    OUTCOMES,
    assign_to_me,
    outcome_menu,
    record_outcome,
    sla_text,
)

LIVE_POLL_SECONDS = 2.0
LIVE_TICK_SECONDS = 0.25
TICKS_PER_POLL = round(LIVE_POLL_SECONDS / LIVE_TICK_SECONDS)
ALERTS_SHOWN = 10


def kpi_text(kpi: Kpi) -> str:
    if kpi.value is None:
        return "—"
    return percent(kpi.value, 1) if kpi.unit == "ratio" else f"{kpi.value:,.0f}"


def delta_text(kpi: Kpi) -> tuple[str, str]:
    if kpi.change is None:
        return "no earlier period to compare", "tp-muted"
    if abs(kpi.change) < (0.0005 if kpi.unit == "ratio" else 0.5):
        return "no change vs last period", "tp-muted"
    arrow = "▲" if kpi.change > 0 else "▼"
    amount = (
        f"{abs(kpi.change) * 100:.1f} pts" if kpi.unit == "ratio" else f"{abs(kpi.change):,.0f}"
    )
    good = (kpi.change > 0) == (kpi.better == "up")
    return f"{arrow} {amount} vs last period", "tp-up-good" if good else "tp-up-bad"


class HomePage:
    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.version = -1
        self.ticks = 0
        self.busy = False
        self.chart: Any = None
        self.status = ui.label()

    # ----------------------------------------------------------------------------- data
    def _load(self) -> dict[str, Any]:
        ctx = self.ctx
        now = ctx.clock.now()
        with ctx.db() as db:
            return {
                "version": service.latest_update_id(db),
                "kpis": service.kpis(db),
                "trend": service.churn_trend(db),
                "alerts": service.list_alerts(db, now=now, page_size=ALERTS_SHOWN),
                "mine": service.list_interventions(
                    db, now=now, assignee_id=ctx.user.id if ctx.user.id else -1, page_size=20
                ),
            }

    async def refresh(self) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            data = await run.io_bound(self._load)
        finally:
            self.busy = False
        if data is None:
            return
        self.version = data["version"]
        self.kpis.refresh(data["kpis"].kpis, data["kpis"].as_of)
        self.alerts.refresh(data["alerts"].items, data["alerts"].total)
        self.mine.refresh(data["mine"].items)
        self.show_trend(data["trend"])
        self.status.set_text(f"Live · updated {self.ctx.fmt(self.ctx.clock.now(), '%H:%M:%S')}")

    async def poll(self) -> None:
        if self.busy:
            return
        latest = await run.io_bound(self._latest)
        if latest != self.version:
            await self.refresh()

    async def tick(self) -> None:
        """Refresh at once when the live signal announces a newer version; else poll the
        database every ``TICKS_PER_POLL`` ticks (a lost signal only delays)."""
        self.ticks += 1
        live = self.ctx.live
        if live is not None and self.version >= 0 and live.version > self.version:
            await self.refresh()
        elif self.ticks % TICKS_PER_POLL == 0:
            await self.poll()

    def _latest(self) -> int:
        with self.ctx.db() as db:
            return service.latest_update_id(db)

    # -------------------------------------------------------------------------- actions
    async def assign(self, intervention_id: int) -> None:
        if not await run_write(lambda: assign_to_me(self.ctx, intervention_id)):
            return
        ui.notify("Assigned to you", type="positive")
        await self.refresh()

    async def close_task(self, intervention_id: int, outcome: str) -> None:
        if not await run_write(lambda: record_outcome(self.ctx, intervention_id, outcome)):
            return
        ui.notify(f"Outcome recorded: {OUTCOMES[outcome]}", type="positive")
        await self.refresh()

    # ---------------------------------------------------------------------------- views
    @ui.refreshable_method
    def kpis(self, kpis: list[Kpi] | None = None, as_of: Any = None) -> None:
        if kpis is None:
            with ui.row().classes("w-full gap-4"):
                for _ in range(5):
                    ui.skeleton(type="rect", height="5.5rem").classes("w-48 tp-card")
            return
        if not kpis:
            empty_state("No figures yet: import data and run the pipeline.")
            return
        with ui.row().classes("w-full gap-4").props('role="list" aria-label="Key figures"'):
            for kpi in kpis:
                text, css = delta_text(kpi)
                with (
                    ui.card()
                    .classes("tp-card w-56 gap-1")
                    .props(f'role="listitem" data-kpi="{kpi.key}"')
                ):
                    ui.label(kpi.label).classes("text-sm tp-muted")
                    ui.label(kpi_text(kpi)).classes("tp-kpi-value")
                    ui.label(text).classes(f"text-xs {css}")
        if as_of:
            ui.label(f"Figures as of {as_of:%d %b %Y}; change vs the previous 30 days.").classes(
                "text-xs tp-muted"
            )

    @ui.refreshable_method
    def alerts(self, items: list[AlertRow] | None = None, total: int = 0) -> None:
        title = "Critical and high-risk alerts"
        ui.label(f"{title} ({total})" if items is not None else title).classes(
            "text-lg font-semibold"
        )
        if items is None:
            ui.skeleton(type="rect", height="12rem").classes("w-full")
            return
        if not items:
            empty_state("No open alerts. Nice!", "verified")
            return
        can_assign = self.ctx.can(Permission.ASSIGN_INTERVENTIONS)
        with ui.list().props("separator").classes("w-full").props('aria-label="Alert queue"'):
            for alert in items:
                with ui.item().props(f'data-alert="{alert.alert_id}"').classes("w-full"):
                    with ui.item_section().props("avatar"):
                        color = "red-8" if alert.severity == "Critical" else "orange-8"
                        ui.badge(
                            str(alert.churn_score if alert.churn_score is not None else "?"),
                            color=color,
                        ).props(f'aria-label="churn score {alert.churn_score}"').classes(
                            "text-base px-2"
                        )
                    with ui.item_section():
                        ui.link(
                            alert.tutor_name or alert.tutor_id, f"/tutors/{alert.tutor_id}"
                        ).classes("tp-link font-medium")
                        task = alert.recommended
                        detail = (
                            f"{alert.severity} · recommended: {task.name}"
                            if task
                            else f"{alert.severity} · no task recommended yet"
                        )
                        ui.label(detail).classes("text-sm tp-muted")
                    with ui.item_section().props("side"):
                        task = alert.recommended
                        if task is None:
                            pass
                        elif task.assigned_to is not None:
                            ui.label(
                                f"Assigned to {task.assignee_name or task.assigned_to}"
                            ).classes("text-sm")
                        elif can_assign:
                            tid = task.intervention_id
                            ui.button(
                                "Assign to me",
                                icon="person_add",
                                on_click=lambda _=None, tid=tid: self.assign(tid),
                            ).props(
                                f'unelevated dense color=primary aria-label="Assign {task.name} '
                                f'for {alert.tutor_name or alert.tutor_id} to me"'
                            )

    @ui.refreshable_method
    def mine(self, items: list[InterventionRow] | None = None) -> None:
        ui.label("My interventions").classes("text-lg font-semibold")
        if items is None:
            ui.skeleton(type="rect", height="8rem").classes("w-full")
            return
        if not items:
            empty_state("Nothing assigned to you right now.", "task_alt")
            return
        with ui.list().props("separator").classes("w-full").props('aria-label="My tasks"'):
            for row in items:
                text, css = sla_text(row)
                with ui.item().props(f'data-task="{row.intervention_id}"'):
                    with ui.item_section():
                        ui.label(f"{row.name}").classes("font-medium")
                        ui.link(row.tutor_name or row.tutor_id, f"/tutors/{row.tutor_id}").classes(
                            "tp-link text-sm"
                        )
                    with ui.item_section().props("side"):
                        ui.label(text).classes(f"text-sm {css}").props(
                            f'data-overdue="{str(row.overdue).lower()}"'
                        )
                        outcome_menu(row.intervention_id, self.close_task)

    def trend_options(self, points: list[Any]) -> dict[str, Any]:
        return {
            "aria": {"enabled": True},
            "animation": False,
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0, "data": ["Churned (7-day total)", "Churned that day"]},
            "grid": {"left": 40, "right": 16, "top": 36, "bottom": 30},
            "xAxis": {"type": "category", "data": [f"{p.day:%d %b}" for p in points]},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [
                {
                    "name": "Churned (7-day total)",
                    "type": "line",
                    "smooth": True,
                    "data": [p.value for p in points],
                },
                {"name": "Churned that day", "type": "bar", "data": [p.count for p in points]},
            ],
        }

    def trend_card(self) -> None:
        ui.label("Churn trend (30 days)").classes("text-lg font-semibold")
        self.trend_box = ui.column().classes("w-full")
        with self.trend_box:
            ui.skeleton(type="rect", height="16rem").classes("w-full")

    def show_trend(self, points: list[Any]) -> None:
        if self.chart is not None and points:
            self.chart.options.clear()
            self.chart.options.update(self.trend_options(points))
            self.chart.update()
            return
        self.trend_box.clear()
        with self.trend_box:
            if not points:
                empty_state("No churn data yet.", "show_chart")
                return
            self.chart = (
                ui.echart(self.trend_options(points))
                .classes("w-full h-64")
                .props('aria-label="Churn trend chart"')
            )


def register() -> None:
    @ui.page("/")
    async def home(request: Request) -> Response | None:
        ctx = page_context(request, Permission.LIST_TUTORS)
        if not isinstance(ctx, PageContext):
            return ctx
        frame(ctx, "Home")
        with ui.column().classes("w-full max-w-screen-xl mx-auto p-4 gap-4"):
            with ui.row().classes("w-full items-center"):
                ui.label("Operations overview").classes("text-2xl font-semibold").props(
                    'role="heading" aria-level="1"'
                )
                ui.space()
                page = HomePage(ctx)
                page.status.classes("text-xs tp-muted").props('aria-live="polite"')
            page.kpis()
            with ui.row().classes("w-full gap-4 items-start flex-wrap lg:flex-nowrap"):
                with ui.card().classes("tp-card w-full lg:w-3/5"):
                    page.alerts()
                with ui.card().classes("tp-card w-full lg:w-2/5"):
                    page.mine()
            with ui.card().classes("tp-card w-full"):
                page.trend_card()
        ui.timer(0.05, page.refresh, once=True)
        ui.timer(LIVE_TICK_SECONDS, page.tick)
        ui.timer(60, page.refresh)
        return None
