"""Admin "system" page: is the platform keeping up? Ingest rate and rejects, pipeline lag and
queue depth, the champion model's AUC, SLA breaches, the scheduler's last runs, and the
database and Redis checks — the figures of ``/metrics`` and ``/readyz``, for people.

Refreshed every few seconds; admin role only (``Permission.READ_SYSTEM``, checked on the
server before anything renders).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request, Response
from nicegui import run, ui

from tutorpulse.auth.permissions import Permission
from tutorpulse.observability.system import SystemStatus, system_status
from tutorpulse.ui.context import PageContext, duration, empty_state, frame, page_context

REFRESH_SECONDS = 5.0
JOB_LABELS = {
    "dirty": "Micro-batches (dirty tutors)",
    "full": "Full recompute (every 15 min)",
    "nightly": "Nightly rollup (00:05 UTC)",
    "sla": "SLA checks (every 5 min)",
}


def check_text(value: str) -> tuple[str, str]:
    """Label and colour class of a check: ok, degraded (Redis) or error (database)."""
    if value == "ok":
        return "OK", "text-green-800"
    if value.startswith("degraded"):
        return f"Degraded — {value.partition(': ')[2] or 'unreachable'}", "text-amber-800"
    return f"Down — {value.partition(': ')[2] or value}", "text-red-800"


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return duration(int(seconds))


def tiles(status: SystemStatus) -> list[tuple[str, str, str]]:
    """(label, value, hint) of each figure."""
    auc = "—" if status.champion_auc is None else f"{status.champion_auc:.3f}"
    return [
        (
            "Ingest rate",
            f"{status.ingest_rate_per_minute:,.1f} /min",
            f"{status.accepted_last_hour:,} records accepted in the last hour",
        ),
        (
            "Rejects",
            f"{status.rejected_last_hour:,}",
            f"last hour · {status.rejected_total:,} of "
            f"{status.accepted_total + status.rejected_total:,} records in all",
        ),
        ("Pipeline lag", age_text(status.pipeline_lag_seconds), "age of the oldest dirty mark"),
        ("Dirty queue", f"{status.queue_depth:,}", "tutors waiting for recomputation"),
        ("Champion AUC (30 d)", auc, status.champion_version or "no champion model yet"),
        ("SLA breaches", f"{status.sla_breaches_open:,}", "escalated overdue tasks, open"),
    ]


class SystemPage:
    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.busy = False
        self.status_label = ui.label().classes("text-xs tp-muted").props('aria-live="polite"')

    def _load(self) -> tuple[SystemStatus, datetime]:
        now = self.ctx.clock.now()
        with self.ctx.db() as db:
            return system_status(db, settings=self.ctx.settings, now=now), now

    async def refresh(self) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            loaded = await run.io_bound(self._load)
        finally:
            self.busy = False
        if loaded is None:  # the app is shutting down
            return
        status, now = loaded
        self.show(status, now)
        self.status_label.set_text(f"Updated {self.ctx.fmt(now, '%H:%M:%S')}")

    @ui.refreshable_method
    def show(self, status: SystemStatus | None = None, now: datetime | None = None) -> None:
        if status is None or now is None:
            ui.spinner()
            return
        with ui.row().classes("w-full gap-4 flex-wrap"):
            for name, value in status.checks.items():
                text, colour = check_text(value)
                with ui.card().classes("tp-card min-w-[220px]"):
                    ui.label(name.capitalize()).classes("text-sm tp-muted")
                    ui.label(text).classes(f"text-lg font-semibold {colour}")
        if status.checks["database"] != "ok":
            empty_state("The database is unreachable: no figures until it is back.", "error")
            return
        with ui.row().classes("w-full gap-4 flex-wrap"):
            for label, value, hint in tiles(status):
                with ui.card().classes("tp-card min-w-[220px]"):
                    ui.label(label).classes("text-sm tp-muted")
                    ui.label(value).classes("tp-kpi-value")
                    ui.label(hint).classes("text-xs tp-muted")
        with ui.card().classes("tp-card w-full"):
            ui.label("Scheduler: last successful run per job").classes(
                "text-lg font-semibold"
            ).props('role="heading" aria-level="2"')
            if not status.last_runs:
                empty_state("No scheduled job has completed yet.", "schedule")
                return
            rows = [
                {
                    "job": JOB_LABELS.get(job, job),
                    "at": self.ctx.fmt(at),
                    "ago": age_text((now - at).total_seconds()),
                }
                for job, at in sorted(status.last_runs.items())
            ]
            ui.table(
                columns=[
                    {"name": "job", "label": "Job", "field": "job", "align": "left"},
                    {"name": "at", "label": "Last run", "field": "at", "align": "left"},
                    {"name": "ago", "label": "Ago", "field": "ago", "align": "left"},
                ],
                rows=rows,
                row_key="job",
            ).classes("w-full").props("flat dense")


def register() -> None:
    @ui.page("/admin/system")
    async def system_page(request: Request) -> Response | None:
        ctx = page_context(request, Permission.READ_SYSTEM)
        if not isinstance(ctx, PageContext):
            return ctx
        frame(ctx, "System")
        with ui.column().classes("w-full max-w-screen-xl mx-auto p-4 gap-4"):
            with ui.row().classes("w-full items-center"):
                ui.label("System").classes("text-2xl font-semibold").props(
                    'role="heading" aria-level="1"'
                )
                ui.space()
                page = SystemPage(ctx)
            page.show()
        ui.timer(0.05, page.refresh, once=True)
        ui.timer(REFRESH_SECONDS, page.refresh)
        return None
