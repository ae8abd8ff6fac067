"""The tutor portal (mobile first, 375 px wide): tier with an encouraging message, weekly
stats, 30-day rating trend, the way to the next tier, goals, badges, training and anonymous
feedback. Built only from ``dashboard.portal``, which never loads a churn figure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from nicegui import run, ui

from tutorpulse.auth.permissions import Permission
from tutorpulse.dashboard import notes
from tutorpulse.dashboard import portal as portal_service
from tutorpulse.dashboard.schemas import PortalResponse
from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.ui.context import PageContext, empty_state, frame, page_context, percent

TIER_COLORS = {
    "Exemplary": "#1b7f3b",
    "Strong": "#0f766e",
    "Developing": "#1d4ed8",
    "Needs Attention": "#b45309",
    "At Risk": "#b3261e",
}


def _stat(label: str, value: str) -> None:
    with ui.column().classes("items-center gap-0 flex-1"):
        ui.label(value).classes("text-xl font-semibold")
        ui.label(label).classes("text-xs tp-muted text-center")


GoalSetter = Callable[[str, float], Awaitable[None]]


def _goal_editor(goal: Any, on_goal: GoalSetter) -> None:
    stars = goal.unit == "stars"
    with ui.row().classes("items-center gap-2 no-wrap"):
        field = (
            ui.number(
                "My target" + (" (stars)" if stars else " (%)"),
                value=goal.target if stars else round(goal.target * 100),
                min=1 if stars else 0,
                max=5 if stars else 100,
                step=0.1 if stars else 5,
            )
            .props(f'dense outlined data-testid="goal-{goal.key}"')
            .classes("w-32")
        )

        async def save() -> None:
            value = float(field.value or 0)
            await on_goal(goal.key, value if stars else value / 100)

        ui.button("Set", on_click=save).props(f'flat dense no-caps aria-label="Set {goal.title}"')


def render(data: PortalResponse, on_goal: GoalSetter | None = None) -> None:
    first_name = data.name.split()[0] if data.name else "there"
    ui.label(f"Hi {first_name}!").classes("text-2xl font-semibold").props(
        'role="heading" aria-level="1"'
    )
    color = TIER_COLORS.get(data.tier or "", "#5f6b7a")
    with ui.card().classes("tp-card w-full").props('aria-label="Your tier"'):
        ui.label("Your performance tier").classes("text-sm tp-muted")
        ui.label(data.tier or "Coming soon").classes("text-3xl font-bold").style(
            f"color: {color}"
        ).props('data-testid="tier"')
        ui.label(data.tier_message)
        if data.percentile_rank is not None:
            ui.label(
                f"You're doing better than {data.percentile_rank}% of tutors on our quality "
                "measures."
            ).classes("text-sm tp-muted")

    with ui.card().classes("tp-card w-full"):
        ui.label("This week").classes("text-lg font-semibold")
        with ui.row().classes("w-full no-wrap"):
            week = data.weekly
            _stat("sessions", str(week.sessions))
            _stat("average rating", f"{week.avg_rating:.1f} ★" if week.avg_rating else "—")
            _stat("on time", percent(week.on_time_ratio))

    with ui.card().classes("tp-card w-full"):
        ui.label("Your ratings, last 30 days").classes("text-lg font-semibold")
        rated = [p for p in data.rating_trend if p.value is not None]
        if not rated:
            empty_state("Ratings appear here after your sessions.", "star_rate")
        else:
            ui.echart(
                {
                    "aria": {"enabled": True},
                    "tooltip": {"trigger": "axis"},
                    "grid": {"left": 30, "right": 10, "top": 10, "bottom": 30},
                    "xAxis": {
                        "type": "category",
                        "data": [f"{p.day:%d %b}" for p in data.rating_trend],
                    },
                    "yAxis": {"type": "value", "min": 1, "max": 5},
                    "series": [
                        {
                            "name": "average rating",
                            "type": "line",
                            "connectNulls": True,
                            "data": [p.value for p in data.rating_trend],
                        }
                    ],
                }
            ).classes("w-full h-48").props('aria-label="Rating trend chart"')

    with ui.card().classes("tp-card w-full"):
        title = f"Your path to {data.next_tier}" if data.next_tier else "Keep it up"
        ui.label(title).classes("text-lg font-semibold")
        for step in data.next_tier_steps:
            with ui.row().classes("items-start gap-2 no-wrap"):
                ui.icon("trending_up", color="primary").props('aria-hidden="true"')
                ui.label(step.text)

    with ui.card().classes("tp-card w-full"):
        ui.label("Goals").classes("text-lg font-semibold")
        for goal in data.goals:
            current = (
                "—"
                if goal.current is None
                else (percent(goal.current) if goal.unit == "ratio" else f"{goal.current:.2f}")
            )
            ui.label(f"{goal.title} (now {current})").classes("text-sm")
            ui.linear_progress(value=goal.progress, show_value=False).props(
                f'rounded size=10px aria-label="{goal.title}: {goal.progress:.0%}"'
            )
            if on_goal is not None:
                _goal_editor(goal, on_goal)

    with ui.card().classes("tp-card w-full"):
        ui.label("Badges").classes("text-lg font-semibold")
        with ui.grid(columns=2).classes("w-full gap-2"):
            for badge in data.badges:
                with (
                    ui.row()
                    .classes("items-center gap-2 no-wrap")
                    .props(
                        f'aria-label="{badge.title}: {"earned" if badge.earned else "in progress"}"'
                    )
                ):
                    ui.icon(
                        "military_tech" if badge.earned else "lock_clock",
                        color="amber-8" if badge.earned else "grey-6",
                        size="1.6rem",
                    )
                    with ui.column().classes("gap-0"):
                        ui.label(badge.title).classes("text-sm font-medium")
                        ui.label(
                            badge.description
                            if badge.earned
                            else f"{badge.description} · {badge.progress:.0%}"
                        ).classes("text-xs tp-muted")

    with ui.card().classes("tp-card w-full"):
        ui.label("Recommended for you").classes("text-lg font-semibold")
        for training in data.training:
            icon = {"guide": "menu_book", "module": "school", "check_in": "forum"}[training.kind]
            with ui.row().classes("items-start gap-2 no-wrap"):
                ui.icon(icon, color="primary").props('aria-hidden="true"')
                with ui.column().classes("gap-0"):
                    ui.label(training.title).classes("font-medium")
                    ui.label(training.why).classes("text-xs tp-muted")

    with ui.card().classes("tp-card w-full"):
        ui.label("What students said").classes("text-lg font-semibold")
        if not data.feedback:
            empty_state("Feedback from your students will appear here.", "rate_review")
        for item in data.feedback:
            with ui.column().classes("gap-0 mb-2"):
                ui.label(
                    f"{'★' * item.overall_rating}{'☆' * (5 - item.overall_rating)}"
                    f" · {item.submitted_on:%d %b}"
                    + (" · first session" if item.first_session else "")
                ).props(f'aria-label="{item.overall_rating} of 5 stars"')
                if item.text:
                    ui.label(f"“{item.text}”").classes("text-sm italic")
        ui.label("Feedback is anonymous: students' names are never shown.").classes(
            "text-xs tp-muted"
        )


def register() -> None:
    @ui.page("/portal")
    async def portal_page(request: Request) -> Response | None:
        ctx = page_context(request, Permission.READ_PORTAL)
        if not isinstance(ctx, PageContext):
            return ctx
        tutor_id = ctx.user.tutor_id
        if not tutor_id:
            return Response(
                "No tutor record is linked to this account.",
                status_code=404,
                media_type="text/plain",
            )

        def load() -> PortalResponse | None:
            with ctx.db() as db:
                try:
                    return portal_service.portal(db, tutor_id=tutor_id, now=ctx.clock.now())
                except NotFoundError:
                    return None

        data = await run.io_bound(load)
        frame(ctx, "My portal")
        body = ui.column().classes("w-full max-w-screen-sm mx-auto p-3 gap-3")

        async def set_goal(key: str, target: float) -> None:
            def write() -> PortalResponse:
                with ctx.write(Permission.READ_PORTAL) as (db, actor):
                    notes.set_goal(
                        db,
                        tutor_id=tutor_id,
                        key=key,
                        target=target,
                        actor=actor,
                        now=ctx.clock.now(),
                    )
                    db.commit()
                    return portal_service.portal(db, tutor_id=tutor_id, now=ctx.clock.now())

            try:
                fresh = await run.io_bound(write)
            except TutorpulseError as exc:
                ui.notify(str(exc), type="warning")
                return
            body.clear()
            with body:
                if fresh is not None:
                    render(fresh, set_goal)
            ui.notify("Goal saved. You've got this!", type="positive")

        with body:
            if data is None:
                empty_state("Your portal is being prepared.", "hourglass_empty")
            else:
                render(data, set_goal)
        return None
