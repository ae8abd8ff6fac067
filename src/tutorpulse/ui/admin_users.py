"""Admin: accounts (list, search, create, change role, disable, link to a tutor or student)
and API tokens (create — the token is shown once — and revoke).

The page calls the same services as ``/api/v1/admin/users`` and ``/api/v1/admin/tokens``
(``auth.service``), which validate the input and write the audit entries; the page only
commits. The user is checked on the server at page load (``page_context``) and again before
every write (``PageContext.write``: account, role and sign-in session as they are now), so a
role changed or a session ended meanwhile cannot keep using an open page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response
from nicegui import run, ui
from sqlalchemy.orm import Session

from tutorpulse.auth import service
from tutorpulse.auth.deps import client_ip
from tutorpulse.auth.models import ApiToken, User
from tutorpulse.auth.permissions import API_SCOPES, Permission, Role
from tutorpulse.errors import TutorpulseError
from tutorpulse.ui.context import PageContext, empty_state, frame, page_context, pager

PAGE_SIZE = 25
ROLES = {role.value: role.value.replace("_", " ") for role in Role}
USER_COLUMNS = [
    {"name": "id", "label": "Id", "field": "id", "align": "right"},
    {"name": "email", "label": "Email", "field": "email", "align": "left"},
    {"name": "display_name", "label": "Name", "field": "display_name", "align": "left"},
    {"name": "role", "label": "Role", "field": "role", "align": "left"},
    {"name": "linked", "label": "Linked record", "field": "linked", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "last_login", "label": "Last sign-in", "field": "last_login", "align": "left"},
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]
TOKEN_COLUMNS = [
    {"name": "name", "label": "Name", "field": "name", "align": "left"},
    {"name": "prefix", "label": "Starts with", "field": "prefix", "align": "left"},
    {"name": "scopes", "label": "Scopes", "field": "scopes", "align": "left"},
    {"name": "created", "label": "Created", "field": "created", "align": "left"},
    {"name": "last_used", "label": "Last used", "field": "last_used", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]
EDIT_SLOT = (
    '<q-td :props="props"><q-btn flat dense icon="edit" :aria-label="\'Edit \' + '
    'props.row.email" @click="() => $parent.$emit(\'edit\', props.row)" /></q-td>'
)
REVOKE_SLOT = (
    '<q-td :props="props"><q-btn v-if="!props.row.revoked" flat dense color="negative" '
    'label="Revoke" :aria-label="\'Revoke \' + props.row.name" '
    "@click=\"() => $parent.$emit('revoke', props.row)\" /></q-td>"
)

T = TypeVar("T")


@dataclass(frozen=True)
class UserListing:
    rows: list[dict[str, Any]]
    total: int
    page: int


def user_row(ctx: PageContext, user: User) -> dict[str, Any]:
    linked = (
        f"tutor {user.tutor_id}"
        if user.tutor_id
        else f"student {user.student_id}"
        if user.student_id
        else "—"
    )
    locked = user.locked_until is not None and user.locked_until > ctx.clock.now()
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name or "—",
        "role": user.role,
        "tutor_id": user.tutor_id or "",
        "student_id": user.student_id or "",
        "linked": linked,
        "is_active": user.is_active,
        "status": "disabled" if not user.is_active else "locked" if locked else "active",
        "last_login": ctx.fmt(user.last_login_at),
    }


def token_row(ctx: PageContext, token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix + "…",
        "scopes": ", ".join(token.scopes or []),
        "created": ctx.fmt(token.created_at),
        "last_used": ctx.fmt(token.last_used_at),
        "revoked": token.revoked_at is not None,
        "status": "revoked" if token.revoked_at is not None else "active",
    }


def _blank(value: Any) -> str | None:
    text = str(value or "").strip()
    return text or None


class UsersPage:
    def __init__(self, ctx: PageContext, request_ip: str | None) -> None:
        self.ctx = ctx
        self.ip = request_ip
        self.q = ""
        self.page = 1

    # ------------------------------------------------------------------ data
    def _users(self) -> UserListing:
        with self.ctx.db() as db:
            users, total = service.list_users(
                db, limit=PAGE_SIZE, offset=(self.page - 1) * PAGE_SIZE, q=self.q or None
            )
            return UserListing([user_row(self.ctx, u) for u in users], total, self.page)

    def _tokens(self) -> list[dict[str, Any]]:
        with self.ctx.db() as db:
            return [token_row(self.ctx, t) for t in service.list_api_tokens(db)]

    async def _write(self, permission: Permission, action: Callable[[Session], T]) -> T | None:
        """Run ``action`` in a transaction of its own; a refusal is shown, never raised."""

        def work() -> T:
            with self.ctx.write(permission) as (db, _current):
                result = action(db)
                db.commit()
                return result

        try:
            return await run.io_bound(work)
        except TutorpulseError as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return None

    # ------------------------------------------------------------------ users
    async def reload_users(self) -> None:
        listing = await run.io_bound(self._users)
        if listing is not None:
            self.users_table.refresh(listing)

    async def search(self, value: str | None) -> None:
        self.q = (value or "").strip()[:200]
        self.page = 1
        await self.reload_users()

    async def go_to(self, page: int) -> None:
        self.page = max(1, page)
        await self.reload_users()

    @ui.refreshable_method
    def users_table(self, listing: UserListing | None = None) -> None:
        if listing is None:
            ui.skeleton(type="rect", height="12rem").classes("w-full")
            return
        if not listing.rows:
            empty_state("No account matches this search." if self.q else "No accounts yet.")
            return
        table = ui.table(columns=USER_COLUMNS, rows=listing.rows, row_key="id").classes("w-full")
        table.props('flat bordered dense aria-label="Accounts" hide-pagination')
        table.props(':rows-per-page-options="[0]"')
        table.add_slot("body-cell-actions", EDIT_SLOT)
        table.on("edit", lambda e: self.edit_dialog(e.args))
        pager(
            page=listing.page,
            page_size=PAGE_SIZE,
            shown=len(listing.rows),
            total=listing.total,
            noun="accounts",
            on_change=self.go_to,
        )

    def create_form(self) -> None:
        with ui.expansion("New account", icon="person_add").classes("w-full"):
            with ui.row().classes("w-full items-end gap-3"):
                email = ui.input("Email").props('type=email aria-label="Email"').classes("w-64")
                name = ui.input("Display name").classes("w-48")
                role = ui.select(ROLES, value="people_ops", label="Role").classes("w-40")
                tutor_id = ui.input("Tutor id (tutor accounts)").classes("w-44")
                student_id = ui.input("Student id (student accounts)").classes("w-44")
                password = ui.input(
                    "Password (empty: sign in by SSO or a reset link)",
                    password=True,
                    password_toggle_button=True,
                ).classes("w-72")

            async def create() -> None:
                if not _blank(email.value):
                    ui.notify("Email: required", type="negative")
                    return

                def action(db: Session) -> str:
                    user = service.create_user(
                        db,
                        email=str(email.value),
                        role=str(role.value),
                        password=_blank(password.value),
                        display_name=_blank(name.value),
                        tutor_id=_blank(tutor_id.value),
                        student_id=_blank(student_id.value),
                        actor=self.ctx.user,
                        now=self.ctx.clock.now(),
                        ip=self.ip,
                        min_password_length=self.ctx.settings.password_min_length,
                    )
                    return user.email

                created = await self._write(Permission.MANAGE_USERS, action)
                if created is not None:
                    ui.notify(f"Account {created} created", type="positive")
                    for field in (email, name, tutor_id, student_id, password):
                        field.value = ""
                    await self.reload_users()

            ui.button("Create account", icon="add", on_click=create)

    def edit_dialog(self, row: dict[str, Any]) -> None:
        own = row["id"] == self.ctx.user.id
        with ui.dialog() as dialog, ui.card().classes("w-96"):
            ui.label(f"Account {row['email']}").classes("text-lg font-semibold")
            role = ui.select(ROLES, value=row["role"], label="Role").classes("w-full")
            name = ui.input("Display name", value=row["display_name"].strip("—")).classes("w-full")
            tutor_id = ui.input("Linked tutor id", value=row["tutor_id"]).classes("w-full")
            student_id = ui.input("Linked student id", value=row["student_id"]).classes("w-full")
            active = ui.switch("Active (may sign in)", value=row["is_active"])
            unlock = ui.checkbox("Clear a sign-in lockout", value=False)
            if own:
                ui.label("You cannot demote or disable your own account.").classes(
                    "text-xs tp-muted"
                )

            async def save() -> None:
                if own and (role.value != Role.ADMIN or not active.value):
                    ui.notify("You cannot demote or disable yourself", type="negative")
                    return

                def action(db: Session) -> str:
                    user = service.update_user(
                        db,
                        user_id=int(row["id"]),
                        actor=self.ctx.user,
                        now=self.ctx.clock.now(),
                        ip=self.ip,
                        role=str(role.value),
                        is_active=bool(active.value),
                        display_name=_blank(name.value),
                        tutor_id=_blank(tutor_id.value),
                        student_id=_blank(student_id.value),
                        unlock=bool(unlock.value),
                    )
                    return user.email

                saved = await self._write(Permission.MANAGE_USERS, action)
                if saved is not None:
                    ui.notify(f"Account {saved} saved", type="positive")
                    dialog.close()
                    await self.reload_users()

            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Save", on_click=save)
        dialog.open()

    # ------------------------------------------------------------------ tokens
    async def reload_tokens(self) -> None:
        rows = await run.io_bound(self._tokens)
        if rows is not None:
            self.tokens_table.refresh(rows)

    @ui.refreshable_method
    def tokens_table(self, rows: list[dict[str, Any]] | None = None) -> None:
        if rows is None:
            ui.skeleton(type="rect", height="6rem").classes("w-full")
            return
        if not rows:
            empty_state("No API tokens. Machine clients (ingest) need one.", "key")
            return
        table = ui.table(columns=TOKEN_COLUMNS, rows=rows, row_key="id").classes("w-full")
        table.props('flat bordered dense aria-label="API tokens" hide-pagination')
        table.props(':rows-per-page-options="[0]"')
        table.add_slot("body-cell-actions", REVOKE_SLOT)
        table.on("revoke", lambda e: self.revoke(e.args))

    async def revoke(self, row: dict[str, Any]) -> None:
        def action(db: Session) -> str:
            token = service.revoke_api_token(
                db,
                token_id=int(row["id"]),
                actor=self.ctx.user,
                now=self.ctx.clock.now(),
                ip=self.ip,
            )
            return token.name

        revoked = await self._write(Permission.MANAGE_TOKENS, action)
        if revoked is not None:
            ui.notify(f"Token {revoked} revoked", type="positive")
            await self.reload_tokens()

    def token_form(self) -> None:
        with ui.row().classes("w-full items-end gap-3"):
            name = ui.input("Token name (who uses it)").classes("w-64")
            scopes = ui.select(
                sorted(API_SCOPES), value=sorted(API_SCOPES)[:1], label="Scopes", multiple=True
            ).classes("w-48")

            async def create() -> None:
                label = _blank(name.value)
                if label is None or len(label) > 100:
                    ui.notify("Token name: 1 to 100 characters", type="negative")
                    return

                def action(db: Session) -> str:
                    token, _row = service.create_api_token(
                        db,
                        name=label,
                        scopes=list(scopes.value or []),
                        actor=self.ctx.user,
                        now=self.ctx.clock.now(),
                        ip=self.ip,
                    )
                    return token

                token = await self._write(Permission.MANAGE_TOKENS, action)
                if token is None:
                    return
                name.value = ""
                self.show_once(label, token)
                await self.reload_tokens()

            ui.button("Create token", icon="vpn_key", on_click=create)

    def show_once(self, label: str, token: str) -> None:
        with ui.dialog().props("persistent") as dialog, ui.card().classes("w-[36rem]"):
            ui.label(f"Token {label}").classes("text-lg font-semibold")
            ui.label(
                "Copy it now: it is shown this once. Only its hash is stored; a lost token "
                "is revoked and replaced, never recovered."
            ).classes("text-sm")
            ui.input(value=token).props('readonly outlined aria-label="New API token"').classes(
                "w-full font-mono"
            )
            ui.button("I have copied it", on_click=dialog.close)
        dialog.open()


def register() -> None:
    @ui.page("/admin/users")
    async def admin_users(request: Request) -> Response | None:
        ctx = page_context(request, Permission.MANAGE_USERS)
        if not isinstance(ctx, PageContext):
            return ctx
        frame(ctx, "Accounts")
        view = UsersPage(ctx, client_ip(request))
        with ui.column().classes("w-full max-w-screen-xl mx-auto p-4 gap-3"):
            ui.label("Accounts").classes("text-2xl font-semibold").props(
                'role="heading" aria-level="1"'
            )
            ui.input("Search email or name", on_change=lambda e: view.search(e.value)).props(
                'clearable debounce=300 aria-label="Search accounts"'
            ).classes("w-72")
            view.create_form()
            view.users_table()
            if ctx.can(Permission.MANAGE_TOKENS):
                ui.label("API tokens").classes("text-xl font-semibold mt-4").props(
                    'role="heading" aria-level="2"'
                )
                view.token_form()
                view.tokens_table()
        ui.timer(0.05, view.reload_users, once=True)
        if ctx.can(Permission.MANAGE_TOKENS):
            ui.timer(0.05, view.reload_tokens, once=True)
        return None
