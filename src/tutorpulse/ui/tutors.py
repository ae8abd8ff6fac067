"""Tutor list: server-side search, filters, sorting and pagination (thousands of tutors)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from nicegui import run, ui

from tutorpulse.auth.permissions import Permission
from tutorpulse.dashboard import service
from tutorpulse.dashboard.schemas import TutorPage
from tutorpulse.metrics.tiers import TIERS
from tutorpulse.ui.context import PageContext, empty_state, frame, page_context, pager

PAGE_SIZE = 25
RISK_LEVELS = ("Critical", "High", "Medium", "Low")
SORTS = {
    "-risk": "Churn score (high first)",
    "risk": "Churn score (low first)",
    "name": "Name",
    "-rating": "Rating (high first)",
    "rating": "Rating (low first)",
    "tier": "Tier (at risk first)",
    "sessions": "Sessions (most first)",
}
COLUMNS = [
    {"name": "name", "label": "Tutor", "field": "name", "align": "left"},
    {"name": "tier", "label": "Tier", "field": "tier", "align": "left"},
    {"name": "score", "label": "Churn score", "field": "churn_score", "align": "right"},
    {"name": "level", "label": "Risk level", "field": "risk_level", "align": "left"},
    {"name": "rating", "label": "Avg rating (30 d)", "field": "rating", "align": "right"},
    {"name": "sessions", "label": "Sessions (30 d)", "field": "sessions_30d", "align": "right"},
    {"name": "flags", "label": "Open flags", "field": "open_flags", "align": "right"},
    {"name": "subjects", "label": "Subjects", "field": "subjects", "align": "left"},
]
NAME_SLOT = (
    '<q-td :props="props"><a class="tp-link" :href="\'/tutors/\' + props.row.tutor_id">'
    "{{ props.value }}</a></q-td>"
)


class TutorList:
    def __init__(self, ctx: PageContext, subjects: list[str]) -> None:
        self.ctx = ctx
        self.filters: dict[str, Any] = {
            "q": "",
            "risk_level": None,
            "tier": None,
            "subject": None,
            "sort": "-risk",
            "page": 1,
        }
        self.subjects = subjects

    def _load(self) -> TutorPage:
        f = self.filters
        with self.ctx.db() as db:
            return service.list_tutors(
                db,
                q=f["q"] or None,
                risk_level=f["risk_level"],
                tier=f["tier"],
                subject=f["subject"],
                sort=f["sort"],
                page=f["page"],
                page_size=PAGE_SIZE,
            )

    async def load(self, *, reset_page: bool = True) -> None:
        if reset_page:
            self.filters["page"] = 1
        page = await run.io_bound(self._load)
        if page is not None:
            self.table.refresh(page)

    def controls(self) -> None:
        with ui.row().classes("w-full items-end gap-3"):
            ui.input(
                "Search name, id or email",
                on_change=lambda e: self._set("q", e.value),
            ).props('clearable debounce=300 aria-label="Search tutors"').classes("w-72")
            ui.select(
                {None: "Any risk level", **{r: r for r in RISK_LEVELS}},
                value=None,
                label="Risk level",
                on_change=lambda e: self._set("risk_level", e.value),
            ).classes("w-40")
            ui.select(
                {None: "Any tier", **{t: t for t in TIERS}, "none": "Not enough data"},
                value=None,
                label="Tier",
                on_change=lambda e: self._set("tier", e.value),
            ).classes("w-44")
            ui.select(
                {None: "Any subject", **{s: s for s in self.subjects}},
                value=None,
                label="Subject",
                on_change=lambda e: self._set("subject", e.value),
            ).classes("w-48")
            ui.select(
                SORTS,
                value="-risk",
                label="Sort by",
                on_change=lambda e: self._set("sort", e.value),
            ).classes("w-56")

    async def _set(self, key: str, value: Any) -> None:
        self.filters[key] = value
        await self.load()

    async def _page(self, number: int) -> None:
        self.filters["page"] = number
        await self.load(reset_page=False)

    @ui.refreshable_method
    def table(self, page: TutorPage | None = None) -> None:
        if page is None:
            ui.skeleton(type="rect", height="20rem").classes("w-full")
            return
        if not page.items:
            empty_state("No tutor matches these filters.", "person_search")
            return
        rows = [
            row.model_dump()
            | {
                "subjects": ", ".join(row.subjects),
                "rating": f"{row.avg_rating:.2f}" if row.avg_rating is not None else "—",
                "tier": row.tier or "Not enough data",
            }
            for row in page.items
        ]
        table = ui.table(columns=COLUMNS, rows=rows, row_key="tutor_id").classes("w-full")
        table.props('flat bordered dense aria-label="Tutors" :rows-per-page-options="[0]"')
        table.props("hide-pagination")
        table.add_slot("body-cell-name", NAME_SLOT)
        pager(
            page=page.page,
            page_size=page.page_size,
            shown=len(page.items),
            total=page.total,
            noun="tutors",
            on_change=self._page,
        )


def register() -> None:
    @ui.page("/tutors")
    async def tutors(request: Request) -> Response | None:
        ctx = page_context(request, Permission.LIST_TUTORS)
        if not isinstance(ctx, PageContext):
            return ctx
        frame(ctx, "Tutors")

        def subjects() -> list[str]:
            with ctx.db() as db:
                return service.subjects(db)

        view = TutorList(ctx, await run.io_bound(subjects) or [])
        with ui.column().classes("w-full max-w-screen-xl mx-auto p-4 gap-3"):
            ui.label("Tutors").classes("text-2xl font-semibold").props(
                'role="heading" aria-level="1"'
            )
            view.controls()
            view.table()
        ui.timer(0.05, view.load, once=True)
        return None
