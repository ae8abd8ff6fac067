"""Student feedback (mobile first, no account): stars, then category ratings, optional text
with a live 500-character counter, and for first sessions "Would you want to work with this
tutor again?" with improvement areas when the answer is negative. One submission per session;
a second attempt gets a polite note. The only credential is the signed link."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from nicegui import run, ui
from pydantic import ValidationError

from tutorpulse.auth import audit
from tutorpulse.dashboard import feedback as feedback_service
from tutorpulse.dashboard.schemas import FeedbackForm, FeedbackSubmission
from tutorpulse.errors import TutorpulseError
from tutorpulse.ui.context import frame, public_context

CATEGORIES = (
    ("subject_knowledge", "Subject knowledge"),
    ("communication", "Clear explanations"),
    ("patience", "Patience"),
    ("engagement", "Kept me engaged"),
    ("helpfulness", "Helpfulness"),
)
AGAIN = {"yes": "Yes", "maybe": "Maybe", "probably_not": "Probably not", "no": "No"}
AREAS = {
    "late": "Started late",
    "unprepared": "Seemed unprepared",
    "unclear": "Explanations were unclear",
    "not_patient": "Not patient",
    "technical_issues": "Technical issues",
}
PRIVACY = "Your tutor sees your ratings but not your name."
MAX_TEXT = 500
STARS = "color=amber-8 icon=star_border icon-selected=star"


def _thanks(text: str, icon: str = "favorite") -> None:
    with ui.column().classes("items-center w-full py-10 gap-2 text-center"):
        ui.icon(icon, size="3rem", color="primary").props('aria-hidden="true"')
        ui.label(text).classes("text-lg").props('role="status"')


class FeedbackFormView:
    def __init__(self, form: FeedbackForm, submit: Any) -> None:
        self.form = form
        self.submit_fn = submit
        self.values: dict[str, Any] = {"overall_rating": 0}
        self.values.update({key: 0 for key, _ in CATEGORIES})
        self.container = ui.column().classes("w-full gap-4")
        with self.container:
            self.build()

    def build(self) -> None:
        form = self.form
        ui.label(f"How was your {form.subject} session with {form.tutor_first_name}?").classes(
            "text-xl font-semibold"
        ).props('role="heading" aria-level="1"')
        ui.label(f"{form.session_date:%A %d %B}").classes("text-sm tp-muted")
        with ui.card().classes("tp-card w-full"):
            ui.label("Overall (required)").classes("font-medium").props('id="overall-label"')
            ui.rating(
                max=5, size="2.6rem", on_change=lambda e: self._set("overall_rating", e.value)
            ).props(f'{STARS} aria-labelledby="overall-label" data-testid="overall"')
        with (
            ui.card()
            .classes("tp-card w-full")
            .bind_visibility_from(self.values, "overall_rating", backward=lambda v: bool(v))
        ):
            ui.label("A bit more detail").classes("font-medium")
            for key, label in CATEGORIES:
                with ui.row().classes("w-full items-center justify-between no-wrap"):
                    ui.label(label).classes("text-sm").props(f'id="label-{key}"')
                    ui.rating(
                        max=5, size="1.5rem", on_change=lambda e, k=key: self._set(k, e.value)
                    ).classes("shrink-0").props(
                        f'{STARS} aria-labelledby="label-{key}" data-testid="{key}"'
                    )
            if form.first_session:
                ui.separator()
                ui.label("Would you want to work with this tutor again?").classes(
                    "font-medium"
                ).props('id="again-label"')
                self.again = ui.radio(AGAIN, on_change=self._again_changed).props(
                    'inline aria-labelledby="again-label" data-testid="again"'
                )
                self.areas_box = ui.column().classes("gap-0")
                self.areas_box.visible = False
                self.areas: dict[str, Any] = {}
                with self.areas_box:
                    ui.label("What could be better? (optional)").classes("text-sm")
                    for key, label in AREAS.items():
                        self.areas[key] = ui.checkbox(label).props(f'data-testid="area-{key}"')
            ui.separator()
            self.text = (
                ui.textarea("Anything else? (optional)")
                .props(f'maxlength={MAX_TEXT} autogrow outlined data-testid="text"')
                .classes("w-full")
            )
            ui.label().bind_text_from(
                self.text, "value", backward=lambda v: f"{len(v or '')}/{MAX_TEXT}"
            ).classes("text-xs tp-muted self-end").props('aria-live="polite" data-testid="counter"')
        ui.label(PRIVACY).classes("text-sm tp-muted").props('data-testid="privacy"')
        self.button = (
            ui.button("Send feedback", on_click=self.submit)
            .props('unelevated no-caps color=primary size=lg data-testid="submit"')
            .classes("w-full")
        )
        self.button.bind_enabled_from(self.values, "overall_rating", backward=lambda v: bool(v))

    def _set(self, key: str, value: Any) -> None:
        self.values[key] = int(value or 0)

    def _again_changed(self, event: Any) -> None:
        self.areas_box.visible = event.value in ("probably_not", "no")

    async def submit(self) -> None:
        missing = [label for key, label in CATEGORIES if not self.values[key]]
        if missing:
            ui.notify("Please rate: " + ", ".join(missing), type="warning")
            return
        answer = getattr(self, "again", None)
        try:
            body = FeedbackSubmission(
                overall_rating=self.values["overall_rating"],
                **{key: self.values[key] for key, _ in CATEGORIES},
                free_text_feedback=(self.text.value or "").strip() or None,
                would_work_again=answer.value if answer is not None else None,
                improvement_areas=[
                    key for key, box in getattr(self, "areas", {}).items() if box.value
                ],
            )
        except ValidationError:
            ui.notify("Please check your answers.", type="warning")
            return
        self.button.disable()
        message = await self.submit_fn(body)
        self.container.clear()
        with self.container:
            _thanks(message)


def register() -> None:
    @ui.page("/feedback/{token}", title="Session feedback")
    async def feedback_page(request: Request, token: str) -> Response | None:
        settings, factory, clock = public_context(request)
        ip = request.client.host if request.client else "unknown"

        def load() -> FeedbackForm | str:
            with factory() as db:
                try:
                    return feedback_service.feedback_form(
                        db, secret_key=settings.secret_key, token=token, now=clock.now()
                    )
                except feedback_service.InvalidLink as exc:
                    return str(exc)

        form = await run.io_bound(load) or "this feedback link is not valid"
        frame(None, "Session feedback")
        with ui.column().classes("w-full max-w-md mx-auto p-4 gap-3"):
            if isinstance(form, str):
                _thanks(f"Sorry, {form}. Please use the latest link we sent you.", "link_off")
                return None
            if form.already_submitted:
                _thanks("Thank you! We already have your feedback for this session.", "task_alt")
                return None

            async def submit(body: FeedbackSubmission) -> str:
                def write() -> str:
                    # The submission's audit entry says where it came from, like the API's.
                    with factory() as db, audit.origin(ip):
                        try:
                            feedback_service.submit_feedback(
                                db,
                                secret_key=settings.secret_key,
                                token=token,
                                body=body,
                                now=clock.now(),
                            )
                        except feedback_service.AlreadySubmitted:
                            db.rollback()
                            return "Thank you! We already have your feedback for this session."
                        except TutorpulseError as exc:
                            db.rollback()
                            return f"Sorry, we could not save your feedback: {exc}."
                        db.commit()
                        return "Thank you! Your feedback helps your tutor grow."

                return await run.io_bound(write) or "Sorry, something went wrong."

            FeedbackFormView(form, submit)
        return None
