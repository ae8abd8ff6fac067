"""Tutor profile: churn score and level with the 1/7/30/90-day probabilities and the top
factors in plain words (staff), tier and history, metrics with sample sizes, active flags with
evidence, intervention history, recent feedback and the timeline of sessions and events.

A tutor may open their own profile only, and sees it without any churn figure: the page is
built from the service's tutor view, which never loads them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import Request, Response
from nicegui import run, ui

from tutorpulse.auth import audit
from tutorpulse.auth.permissions import Permission
from tutorpulse.dashboard import notes as notes_service
from tutorpulse.dashboard import profile as profile_service
from tutorpulse.dashboard.api import pseudonym_for
from tutorpulse.dashboard.schemas import MetricFigure, NoteRow, TutorProfile
from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.risk.overrides import create_override
from tutorpulse.ui.context import PageContext, empty_state, frame, page_context, percent, run_write

LEVEL_COLORS = {"Critical": "red-8", "High": "orange-8", "Medium": "amber-8", "Low": "green-8"}
TIER_COLORS = {
    "Exemplary": "green-8",
    "Strong": "teal-7",
    "Developing": "blue-7",
    "Needs Attention": "orange-8",
    "At Risk": "red-8",
}


def figure_text(figure: MetricFigure) -> str:
    if not figure.enough_data or figure.value is None:
        return "not enough data"
    if figure.unit == "ratio":
        text = percent(figure.value, 1)
    elif figure.unit == "rating":
        text = f"{figure.value:.2f} / 5"
    elif figure.unit == "minutes":
        text = f"{figure.value:.0f} min"
    else:
        text = f"{figure.value:.0f}"
    if figure.interval95:
        low, high = figure.interval95
        text += f" (95%: {percent(low)} to {percent(high)})"
    return text


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() or abs(value) >= 1 else f"{value:.2f}"
    if isinstance(value, list):
        return f"{len(value)} item(s)"
    return str(value)


def evidence_text(evidence: dict[str, Any]) -> str:
    return ", ".join(
        f"{key.replace('_', ' ')}: {_value(value)}"
        for key, value in evidence.items()
        if key != "label" and value is not None
    )


def _header(ctx: PageContext, data: TutorProfile) -> None:
    tutor = data.tutor
    with ui.row().classes("w-full items-center gap-3"):
        ui.label(tutor.name).classes("text-2xl font-semibold").props(
            'role="heading" aria-level="1"'
        )
        ui.label(f"#{tutor.tutor_id}").classes("tp-muted")
        tier = data.tier.tier or "Not enough data"
        ui.badge(f"Tier: {tier}", color=TIER_COLORS.get(tier, "grey-7")).classes("text-sm px-2")
    ui.label(
        f"{', '.join(tutor.subjects)} · {tutor.education_level or ''} · {tutor.location or ''} · "
        f"joined {tutor.onboarding_date:%d %b %Y} ({tutor.tenure_days} days)"
    ).classes("tp-muted text-sm")


def _override_dialog(ctx: PageContext, tutor_id: str) -> None:
    """Ops managers: override the risk level with a reason and an expiry (risk/overrides)."""
    with ui.dialog() as dialog, ui.card().classes("w-96"):
        ui.label("Override the risk level").classes("text-lg font-semibold")
        level = ui.select(["Low", "Medium", "High", "Critical"], value="High", label="Level")
        reason = ui.textarea("Reason (required)").props("outlined autogrow").classes("w-full")
        days = ui.number("Expires after (days)", value=14, min=1, max=180, step=1)

        async def save() -> None:
            chosen, text, span = level.value, (reason.value or "").strip(), int(days.value or 0)

            def write() -> None:
                now = ctx.clock.now()
                with ctx.write(Permission.OVERRIDE_PREDICTIONS) as (db, actor):
                    create_override(
                        db,
                        tutor_id=tutor_id,
                        risk_level=str(chosen),
                        reason=text,
                        expires_at=now + timedelta(days=span),
                        actor=actor,
                        now=now,
                    )
                    db.commit()

            if not await run_write(write):
                return
            dialog.close()
            ui.notify("Override saved", type="positive")
            ui.navigate.reload()

        with ui.row():
            ui.button("Save", on_click=save).props("unelevated no-caps color=primary")
            ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
    ui.button("Override risk level", icon="edit", on_click=dialog.open).props("flat dense no-caps")


def _risk(ctx: PageContext, data: TutorProfile) -> None:
    risk = data.churn_risk
    with ui.card().classes("tp-card w-full md:w-96").props('aria-label="Churn risk"'):
        ui.label("Churn risk").classes("text-lg font-semibold")
        if risk is None:
            empty_state("No prediction yet.", "query_stats")
            return
        with ui.row().classes("items-center gap-3"):
            ui.label(str(risk.churn_score)).classes("text-4xl font-bold")
            ui.badge(f"{risk.risk_level} risk", color=LEVEL_COLORS.get(risk.risk_level, "grey"))
        source = f"model {risk.model_version}" if risk.score_source == "model" else "PRD rule score"
        extra = f" · rule score {risk.rules_score}" if risk.score_source == "model" else ""
        ui.label(f"{source}, {risk.prediction_date:%d %b %Y}{extra}").classes("text-xs tp-muted")
        if risk.probabilities:
            with ui.grid(columns=4).classes("w-full gap-1 mt-2"):
                for horizon in ("1d", "7d", "30d", "90d"):
                    value = risk.probabilities.get(horizon)
                    with ui.column().classes("items-center gap-0"):
                        ui.label(horizon.replace("d", "-day")).classes("text-xs tp-muted")
                        ui.label(percent(value)).classes("font-semibold")
        else:
            ui.label("Horizon probabilities appear once a model is trained.").classes(
                "text-xs tp-muted"
            )
        if risk.top_factors:
            ui.label("Why").classes("font-medium mt-2")
            with ui.column().classes("gap-1"):
                for factor in risk.top_factors:
                    with ui.row().classes("items-start gap-2 no-wrap"):
                        ui.icon("arrow_right").props('aria-hidden="true"')
                        ui.label(factor.text)
        if risk.override:
            o = risk.override
            ui.label(
                f"Override: {o['risk_level']} until {o['expires_at'][:10]} "
                f"by {o['created_by']}: {o['reason']}"
            ).classes("text-sm mt-2").props('data-testid="override"')
        if ctx.can(Permission.OVERRIDE_PREDICTIONS):
            _override_dialog(ctx, data.tutor.tutor_id)


def _metrics(data: TutorProfile) -> None:
    with ui.card().classes("tp-card w-full md:flex-1"):
        ui.label("Performance").classes("text-lg font-semibold")
        if not data.metrics:
            empty_state("No metrics yet.", "query_stats")
            return
        by_window = {m.window_days: m for m in data.metrics}
        with ui.tabs().props('dense align="left"') as tabs:
            for window in sorted(by_window):
                ui.tab(str(window), label=f"{window} days")
        with ui.tab_panels(tabs, value="30" if 30 in by_window else str(min(by_window))):
            for window, metrics in sorted(by_window.items()):
                with ui.tab_panel(str(window)):
                    ui.label(f"{metrics.sessions_completed} sessions completed").classes(
                        "text-sm tp-muted"
                    )
                    rows = [
                        {
                            "metric": f.label,
                            "value": figure_text(f),
                            "n": "—" if f.n is None else f"{f.n}",
                        }
                        for f in metrics.figures
                    ]
                    ui.table(
                        columns=[
                            {
                                "name": "metric",
                                "label": "Metric",
                                "field": "metric",
                                "align": "left",
                            },
                            {"name": "value", "label": "Value", "field": "value", "align": "left"},
                            {"name": "n", "label": "Sample (n)", "field": "n", "align": "right"},
                        ],
                        rows=rows,
                    ).props(
                        f'flat dense hide-pagination aria-label="Metrics, {window} days"'
                    ).classes("w-full")


def _flags_and_tier(ctx: PageContext, data: TutorProfile) -> None:
    with ui.card().classes("tp-card w-full md:flex-1"):
        ui.label("Active flags").classes("text-lg font-semibold")
        if not data.flags:
            empty_state("No active flags.", "verified")
        for flag in data.flags:
            evidence = evidence_text(flag.evidence)
            with ui.column().classes("gap-0 mb-2").props(f'data-flag="{flag.flag_type}"'):
                ui.label(f"{flag.label} (since {flag.raised_on:%d %b})").classes("font-medium")
                ui.label(evidence).classes("text-xs tp-muted")
        ui.separator()
        ui.label("Tier history").classes("font-medium mt-2")
        if data.tier.reason:
            ui.label(f"Now: {data.tier.reason}").classes("text-xs tp-muted")
        changes = [c for c in data.tier.history if c.kind == "change"][:8]
        if not changes:
            ui.label("No tier change recorded yet.").classes("text-sm tp-muted")
        for change in changes:
            ui.label(
                f"{change.changed_on:%d %b %Y}: {change.from_tier or '—'} → {change.to_tier or '—'}"
            ).classes("text-sm")


def _interventions(ctx: PageContext, data: TutorProfile) -> None:
    items = data.interventions or []
    with ui.card().classes("tp-card w-full"):
        ui.label("Intervention history").classes("text-lg font-semibold")
        if not items:
            empty_state("No interventions yet.", "history")
            return
        rows = [
            {
                "id": i.intervention_id,
                "when": ctx.fmt(i.recommended_date, "%d %b %Y"),
                "what": f"{i.intervention_type} · {i.name}",
                "status": i.status + (" (holdout)" if i.status == "holdout" else ""),
                "why": i.trigger_reason,
                "who": i.assignee_name or "—",
                "outcome": i.outcome or "—",
            }
            for i in items
        ]
        ui.table(
            columns=[
                {"name": k, "label": label, "field": k, "align": "left"}
                for k, label in (
                    ("when", "Recommended"),
                    ("what", "Intervention"),
                    ("status", "Status"),
                    ("who", "Assignee"),
                    ("outcome", "Outcome"),
                    ("why", "Why"),
                )
            ],
            rows=rows,
            row_key="id",
            pagination=10,
        ).props('flat dense aria-label="Intervention history"').classes("w-full")


def _feedback_and_timeline(ctx: PageContext, data: TutorProfile) -> None:
    with ui.row().classes("w-full gap-4 items-start flex-wrap md:flex-nowrap"):
        with ui.card().classes("tp-card w-full md:w-1/2"):
            ui.label("Recent feedback").classes("text-lg font-semibold")
            if not data.feedback:
                empty_state("No feedback yet.", "rate_review")
            for item in data.feedback:
                with ui.column().classes("gap-0 mb-3"):
                    first = " · first session" if item.first_session else ""
                    answer = (
                        f" · would work again: {item.would_work_again.replace('_', ' ')}"
                        if item.would_work_again
                        else ""
                    )
                    ui.label(
                        f"{'★' * item.overall_rating}{'☆' * (5 - item.overall_rating)} "
                        f"{item.student}{first}{answer}"
                    ).props(f'aria-label="{item.overall_rating} of 5 stars"')
                    ui.label(ctx.fmt(item.submitted_at)).classes("text-xs tp-muted")
                    if item.improvement_areas:
                        ui.label(
                            "To improve: "
                            + ", ".join(a.replace("_", " ") for a in item.improvement_areas)
                        ).classes("text-sm")
                    if item.text:
                        ui.label(f"“{item.text}”").classes("text-sm italic")
        with ui.card().classes("tp-card w-full md:w-1/2"):
            ui.label("Timeline (30 days)").classes("text-lg font-semibold")
            if not data.timeline:
                empty_state("Nothing happened in the last 30 days.", "event_busy")
                return
            with (
                ui.scroll_area().classes("h-[36rem]").props('aria-label="Timeline"'),
                ui.timeline(side="right", layout="dense"),
            ):
                for entry in data.timeline[:40]:
                    ui.timeline_entry(
                        entry.detail or "", title=entry.title, subtitle=ctx.fmt(entry.at)
                    )


class NotesView:
    """Managers' notes (internal): the list and a field to add one."""

    def __init__(self, ctx: PageContext, tutor_id: str, rows: list[NoteRow]) -> None:
        self.ctx = ctx
        self.tutor_id = tutor_id
        with ui.card().classes("tp-card w-full").props('aria-label="Manager notes"'):
            ui.label("Manager notes (internal, never shown to the tutor)").classes(
                "text-lg font-semibold"
            )
            self.field = (
                ui.textarea("Add a note")
                .props('outlined autogrow maxlength=4000 data-testid="note"')
                .classes("w-full")
            )
            ui.button("Save note", icon="save", on_click=self.save).props(
                'unelevated no-caps color=primary data-testid="save-note"'
            )
            self.list(rows)

    @ui.refreshable_method
    def list(self, rows: list[NoteRow]) -> None:
        if not rows:
            ui.label("No notes yet.").classes("text-sm tp-muted")
        for note in rows:
            with ui.column().classes("gap-0 mb-2"):
                ui.label(f"{note.author} · {self.ctx.fmt(note.created_at)}").classes(
                    "text-xs tp-muted"
                )
                ui.label(note.body).classes("whitespace-pre-wrap")

    async def save(self) -> None:
        text = (self.field.value or "").strip()
        if not text:
            ui.notify("Write something first", type="warning")
            return
        ctx, tutor_id = self.ctx, self.tutor_id

        def write() -> list[NoteRow]:
            with ctx.write(Permission.RECORD_OUTCOMES) as (db, actor):
                notes_service.add_note(
                    db, tutor_id=tutor_id, body=text, author=actor, now=ctx.clock.now()
                )
                db.commit()
                return notes_service.list_notes(db, tutor_id=tutor_id)

        try:
            rows = await run.io_bound(write)
        except TutorpulseError as exc:
            ui.notify(str(exc), type="warning")
            return
        self.field.value = ""
        self.list.refresh(rows or [])
        ui.notify("Note saved", type="positive")


def register() -> None:
    @ui.page("/tutors/{tutor_id}")
    async def tutor_profile(request: Request, tutor_id: str) -> Response | None:
        ctx = page_context(request, Permission.READ_TUTOR_PROFILE)
        if not isinstance(ctx, PageContext):
            return ctx
        own = ctx.user.role == "tutor" and ctx.user.tutor_id == tutor_id
        if not ctx.staff and not own:
            return Response("Tutor not found.", status_code=404, media_type="text/plain")

        def load() -> TutorProfile | None:
            audience: Literal["staff", "tutor"] = "staff" if ctx.staff else "tutor"
            with ctx.db() as db, audit.origin(ctx.ip):
                try:
                    view = profile_service.tutor_profile(
                        db,
                        tutor_id=tutor_id,
                        now=ctx.clock.now(),
                        pseudonym=pseudonym_for(ctx.settings),
                        audience=audience,
                        notes=notes_service.list_notes(db, tutor_id=tutor_id)
                        if ctx.staff
                        else None,
                    )
                except NotFoundError:
                    return None
                # The read is audited like the API's (committed before the page is shown).
                profile_service.record_view(
                    db, tutor_id=tutor_id, audience=audience, actor=ctx.user, now=ctx.clock.now()
                )
                db.commit()
                return view

        data = await run.io_bound(load)
        if data is None:
            return Response("Tutor not found.", status_code=404, media_type="text/plain")
        frame(ctx, data.tutor.name)
        with ui.column().classes("w-full max-w-screen-xl mx-auto p-4 gap-4"):
            _header(ctx, data)
            with ui.row().classes("w-full gap-4 items-start flex-wrap md:flex-nowrap"):
                if ctx.staff:
                    _risk(ctx, data)
                _metrics(data)
            with ui.row().classes("w-full gap-4 items-start flex-wrap md:flex-nowrap"):
                _flags_and_tier(ctx, data)
            if ctx.staff:
                _interventions(ctx, data)
                NotesView(ctx, tutor_id, data.manager_notes or [])
            _feedback_and_timeline(ctx, data)
        return None
