"""Analytics: churn heatmaps, cohort retention curves, intervention effectiveness with uplift
intervals, tier distribution and the model card, each with an empty and a loading state and a
CSV download of the table behind it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request, Response
from nicegui import run, ui

from tutorpulse.auth.permissions import Permission
from tutorpulse.dashboard import analytics
from tutorpulse.dashboard.analytics import WEEKDAYS, AnalyticsTable
from tutorpulse.errors import TutorpulseError
from tutorpulse.ui.context import PageContext, empty_state, frame, page_context

Chart = Callable[[AnalyticsTable], dict[str, Any] | None]


def _heatmap(
    table: AnalyticsTable, x_key: int, y_key: int, x_order: list[str] | None
) -> dict[str, Any] | None:
    if not table.rows:
        return None
    xs = x_order or sorted({str(r[x_key]) for r in table.rows})
    ys = sorted(
        {str(r[y_key]) for r in table.rows}, key=lambda v: [r[y_key] for r in table.rows].index(v)
    )
    data = [[xs.index(str(r[x_key])), ys.index(str(r[y_key])), r[2]] for r in table.rows]
    top = max((r[2] for r in table.rows), default=0)
    return {
        "aria": {"enabled": True},
        "tooltip": {"position": "top"},
        "grid": {"left": 120, "right": 20, "top": 10, "bottom": 70},
        "xAxis": {"type": "category", "data": xs, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": ys, "splitArea": {"show": True}},
        "visualMap": {
            "min": 0,
            "max": max(1, top),
            "calculable": True,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "inRange": {"color": ["#f1f5fb", "#f4a259", "#b3261e"]},
        },
        "series": [{"type": "heatmap", "data": data, "label": {"show": True}}],
    }


def subject_weekday(table: AnalyticsTable) -> dict[str, Any] | None:
    return _heatmap(table, 1, 0, list(WEEKDAYS))


def tenure_month(table: AnalyticsTable) -> dict[str, Any] | None:
    return _heatmap(table, 1, 0, None)


def retention(table: AnalyticsTable) -> dict[str, Any] | None:
    if not table.rows:
        return None
    cohorts: dict[str, list[Any]] = {}
    for cohort, month, _tutors, _retained, share in table.rows:
        cohorts.setdefault(cohort, []).append([month, round(share * 100, 1)])
    months = sorted({r[1] for r in table.rows})
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll", "top": 0},
        "grid": {"left": 50, "right": 30, "top": 50, "bottom": 40},
        "xAxis": {"type": "value", "name": "months after joining", "min": 0, "max": max(months)},
        "yAxis": {"type": "value", "name": "% holding sessions", "max": 100},
        "series": [
            {"name": name, "type": "line", "data": points} for name, points in cohorts.items()
        ],
    }


def effectiveness(table: AnalyticsTable) -> dict[str, Any] | None:
    rows = [r for r in table.rows if r[2] == "all" and r[9] is not None]
    if not rows:
        return None
    names = [f"{r[0]} {r[1]}" for r in rows]
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": ["uplift", "95% low", "95% high"]},
        "grid": {"left": 220, "right": 30, "top": 40, "bottom": 50},
        "xAxis": {
            "type": "value",
            "name": "improvement vs holdout (points)",
            "nameLocation": "middle",
            "nameGap": 28,
        },
        "yAxis": {"type": "category", "data": names},
        "series": [
            {"name": "uplift", "type": "bar", "data": [round(r[9] * 100, 1) for r in rows]},
            {
                "name": "95% low",
                "type": "scatter",
                "symbol": "rect",
                "data": [round(r[10] * 100, 1) for r in rows],
            },
            {
                "name": "95% high",
                "type": "scatter",
                "symbol": "rect",
                "data": [round(r[11] * 100, 1) for r in rows],
            },
        ],
    }


def tiers(table: AnalyticsTable) -> dict[str, Any] | None:
    rows = [r for r in table.rows if r[3] is not None]
    if not any(r[1] for r in table.rows):
        return None
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": ["share", "PRD target"]},
        "grid": {"left": 50, "right": 20, "top": 40, "bottom": 30},
        "xAxis": {"type": "category", "data": [r[0] for r in rows]},
        "yAxis": {"type": "value", "name": "% of tutors"},
        "series": [
            {
                "name": "share",
                "type": "bar",
                "data": [round((r[2] or 0) * 100, 1) for r in rows],
            },
            {"name": "PRD target", "type": "bar", "data": [round(r[3] * 100, 1) for r in rows]},
        ],
    }


def trend(table: AnalyticsTable) -> dict[str, Any] | None:
    if not table.rows:
        return None
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 40, "right": 20, "top": 20, "bottom": 30},
        "xAxis": {"type": "category", "data": [r[0] for r in table.rows]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"name": "7-day churned", "type": "line", "data": [r[2] for r in table.rows]}],
    }


def backtest(table: AnalyticsTable) -> dict[str, Any] | None:
    if not table.rows:
        return None
    months = sorted({r[0] for r in table.rows})
    series = []
    for band in ("Low", "Medium", "High", "Critical"):
        by_month = {r[0]: r for r in table.rows if r[1] == band}
        for index, label in ((3, "predicted"), (4, "actual")):
            values = [by_month.get(m, [None] * 7)[index] for m in months]
            series.append(
                {
                    "name": f"{band} {label}",
                    "type": "line",
                    "lineStyle": {"type": "dashed" if label == "predicted" else "solid"},
                    "data": [None if v is None else round(v * 100, 1) for v in values],
                }
            )
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll", "top": 0},
        "grid": {"left": 50, "right": 20, "top": 50, "bottom": 30},
        "xAxis": {"type": "category", "data": months},
        "yAxis": {"type": "value", "name": "% churned in 30 days"},
        "series": series,
    }


def calibration(table: AnalyticsTable) -> dict[str, Any] | None:
    if not table.rows:
        return None
    horizons = sorted({r[0] for r in table.rows})
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "item"},
        "legend": {"top": 0},
        "grid": {"left": 50, "right": 20, "top": 50, "bottom": 40},
        "xAxis": {"type": "value", "name": "predicted", "min": 0, "max": 1},
        "yAxis": {"type": "value", "name": "observed", "min": 0, "max": 1},
        "series": [
            {
                "name": "perfect",
                "type": "line",
                "symbol": "none",
                "lineStyle": {"type": "dashed"},
                "data": [[0, 0], [1, 1]],
            },
            *[
                {
                    "name": f"{h}-day",
                    "type": "line",
                    "data": [[r[4], r[5]] for r in table.rows if r[0] == h],
                }
                for h in horizons
            ],
        ],
    }


SECTIONS: tuple[tuple[str, Chart | None], ...] = (
    ("churn_subject_weekday", subject_weekday),
    ("churn_tenure_month", tenure_month),
    ("cohort_retention", retention),
    ("intervention_effectiveness", effectiveness),
    ("tier_distribution", tiers),
    ("churn_trend", trend),
    ("model_card", None),
    ("model_backtest", backtest),
    ("model_calibration", calibration),
)


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    return "—" if value is None else value


class Section:
    def __init__(self, ctx: PageContext, name: str, chart: Chart | None) -> None:
        self.ctx = ctx
        self.name = name
        self.chart = chart
        self.table: AnalyticsTable | None = None
        with ui.card().classes("tp-card w-full").props(f'data-section="{name}"'):
            self.body()

    def _load(self) -> AnalyticsTable:
        with self.ctx.db() as db:
            return analytics.analytics_table(db, name=self.name)

    async def load(self) -> None:
        self.table = await run.io_bound(self._load) or self.table
        self.body.refresh()

    def _export(self, table: AnalyticsTable) -> str:
        with self.ctx.write(Permission.READ_ANALYTICS) as (db, actor):
            content = analytics.export_csv(
                db, table=table, name=self.name, actor=actor, now=self.ctx.clock.now()
            )
            db.commit()  # the export's entry is stored before the file leaves
            return content

    async def download(self) -> None:
        table = self.table
        if table is None:
            return
        try:
            content = await run.io_bound(self._export, table)
        except TutorpulseError as exc:
            ui.notify(str(exc), type="warning")
            return
        if content is not None:
            ui.download.content(content, f"{self.name}.csv", "text/csv")

    @ui.refreshable_method
    def body(self) -> None:
        table = self.table
        with ui.row().classes("w-full items-center"):
            ui.label(table.title if table else self.name.replace("_", " ").capitalize()).classes(
                "text-lg font-semibold"
            ).props('role="heading" aria-level="2"')
            ui.space()
            ui.button("Download CSV", icon="download", on_click=self.download).props(
                f'flat dense aria-label="Download {self.name} as CSV"'
            ).set_enabled(table is not None)
        if table is None:
            with ui.row().classes("items-center gap-2 tp-muted"):
                ui.spinner(size="md")
                ui.label("Loading…")
            return
        if table.note:
            ui.label(table.note).classes("text-xs tp-muted")
        options = self.chart(table) if self.chart else None
        if self.chart is not None and options is None:
            empty_state("Not enough data for this chart yet.", "insights")
            return
        if options is not None:
            ui.echart(options).classes("w-full h-80").props(f'aria-label="{table.title} chart"')
        if self.chart is None or self.name == "intervention_effectiveness":
            if not table.rows:
                empty_state("Nothing to show yet.", "insights")
                return
            ui.table(
                columns=[
                    {"name": c, "label": c, "field": c, "align": "left"} for c in table.columns
                ],
                rows=[dict(zip(table.columns, map(_fmt, row), strict=True)) for row in table.rows],
                pagination=10,
            ).props(f'flat dense aria-label="{table.title}"').classes("w-full")


def register() -> None:
    @ui.page("/analytics")
    async def analytics_page(request: Request) -> Response | None:
        ctx = page_context(request, Permission.READ_ANALYTICS)
        if not isinstance(ctx, PageContext):
            return ctx
        frame(ctx, "Analytics")
        sections: list[Section] = []
        with ui.column().classes("w-full max-w-screen-xl mx-auto p-4 gap-4"):
            ui.label("Analytics").classes("text-2xl font-semibold").props(
                'role="heading" aria-level="1"'
            )
            for name, chart in SECTIONS:
                sections.append(Section(ctx, name, chart))

        async def load_all() -> None:
            for section in sections:
                await section.load()

        ui.timer(0.05, load_all, once=True)
        return None
