"""What every page needs: the application it is served by, the signed-in user (checked on the
server before anything is rendered), a database session, the clock, the viewer's time zone,
and the shared page frame with role-aware navigation.

NiceGUI serves all pages from one process-wide sub-application mounted into our FastAPI app;
a small ASGI middleware on our app puts the app itself in the request scope, so that a page
reaches *this* app's settings, session factory and clock (tests run several apps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from nicegui import run, ui
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from tutorpulse.auth import audit
from tutorpulse.auth.guard import recheck
from tutorpulse.auth.models import User
from tutorpulse.auth.permissions import STAFF_ROLES, Permission, has_permission
from tutorpulse.clock import Clock
from tutorpulse.config import Settings
from tutorpulse.errors import TutorpulseError
from tutorpulse.realtime.live import LiveSignal

SCOPE_KEY = "tutorpulse.app"
TZ_COOKIE = "tp_tz"
LOGIN_PATH = "/login"


class AppScopeMiddleware:
    """Records the serving application in the ASGI scope (read by the pages)."""

    def __init__(self, app: ASGIApp, *, owner: Any) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope.setdefault(SCOPE_KEY, self.owner)
        await self.app(scope, receive, send)


@dataclass
class PageContext:
    """Everything a page and its event handlers use, captured once at page load."""

    user: User
    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Clock
    tz: tzinfo
    path: str
    # The process's live signal (tutorpulse.realtime): newest data version announced.
    live: LiveSignal | None = None
    # Where the page was loaded from (the audit log's "from where" for its actions), and the
    # sign-in session it was loaded with (an action after a sign-out is refused).
    ip: str | None = None
    session_id: int | None = None

    @contextmanager
    def db(self) -> Iterator[Session]:
        session = self.session_factory()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def write(self, *permissions: Permission) -> Iterator[tuple[Session, User]]:
        """One UI action's transaction, checked on the server when the button is pressed.

        The user is re-read with their session and must still hold ``permissions`` (by the
        same table as the API); else ``auth.guard.PermissionDenied``, a ``TutorpulseError``
        the handlers show. Yields the session and the current user (the audit actor); audit
        entries recorded inside get the page's address. The caller commits.
        """
        with self.db() as db, audit.origin(self.ip):
            actor = recheck(
                db,
                user=self.user,
                permissions=permissions,
                session_id=self.session_id,
                now=self.clock.now(),
            )
            yield db, actor

    def local(self, moment: datetime | None) -> datetime | None:
        return moment.astimezone(self.tz) if moment is not None else None

    def fmt(self, moment: datetime | None, pattern: str = "%d %b %Y %H:%M") -> str:
        local = self.local(moment)
        return local.strftime(pattern) if local is not None else "—"

    @property
    def staff(self) -> bool:
        return self.user.role in STAFF_ROLES

    def can(self, permission: Permission) -> bool:
        return has_permission(self.user.role, permission)


def owner_state(request: Request) -> Any:
    owner = request.scope.get(SCOPE_KEY)
    if owner is None:
        raise RuntimeError("the UI is served without tutorpulse.ui.mount()")
    return owner.state


def viewer_tz(request: Request) -> tzinfo:
    name = request.cookies.get(TZ_COOKIE, "")
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='/')}", status_code=303)


def page_user(request: Request, state: Any) -> User | None:
    """The signed-in user of a page request.

    Pages are not behind the API router's guard, so they resolve the session themselves:
    through ``state.resolve_page_user`` when the app installs one, else the auth module's
    principal (session cookie), else nobody.
    """
    resolver: Callable[[Request], User | None] | None = getattr(state, "resolve_page_user", None)
    if resolver is not None:
        return resolver(request)
    try:
        from tutorpulse.auth.deps import get_principal
    except ImportError:  # pragma: no cover - the auth module provides sign-in
        return None
    with state.session_factory() as db:
        principal = get_principal(request, db, state.settings, state.clock, None, None)
        user: User | None = principal.user if principal.csrf_ok else None
        if user is not None and user in db:
            db.expunge(user)
        return user


def page_context(request: Request, permission: Permission) -> PageContext | Response:
    """The signed-in user allowed ``permission`` (server-side check), or the response to send:
    a redirect to the sign-in page for anonymous visitors, 403 for other roles."""
    state = owner_state(request)
    user = page_user(request, state)
    if user is None or not user.is_active:
        return login_redirect(request)
    if not has_permission(user.role, permission):
        if user.role == "tutor" and has_permission(user.role, Permission.READ_PORTAL):
            return RedirectResponse("/portal", status_code=303)
        return Response("Not allowed for your role.", status_code=403, media_type="text/plain")
    principal = getattr(request.state, "principal", None)  # cached by auth.deps.get_principal
    auth_session = getattr(principal, "auth_session", None)
    return PageContext(
        user=user,
        settings=state.settings,
        session_factory=state.session_factory,
        clock=state.clock,
        tz=viewer_tz(request),
        path=request.url.path,
        live=getattr(state, "live", None),
        ip=request.client.host if request.client else "unknown",
        session_id=getattr(auth_session, "id", None),
    )


def public_context(request: Request) -> tuple[Settings, sessionmaker[Session], Clock]:
    state = owner_state(request)
    return state.settings, state.session_factory, state.clock


# ------------------------------------------------------------------------------- frame
NAV = (
    ("/", "Home", "space_dashboard", Permission.READ_KPIS),
    ("/tutors", "Tutors", "groups", Permission.LIST_TUTORS),
    ("/interventions", "Tasks", "task_alt", Permission.READ_INTERVENTIONS),
    ("/analytics", "Analytics", "insights", Permission.READ_ANALYTICS),
    ("/portal", "My portal", "school", Permission.READ_PORTAL),
    ("/me/audit", "Who viewed my data", "visibility", Permission.READ_OWN_AUDIT),
    ("/admin/users", "Accounts", "manage_accounts", Permission.MANAGE_USERS),
    ("/admin/audit", "Audit log", "policy", Permission.READ_AUDIT),
    ("/admin/system", "System", "monitor_heart", Permission.READ_SYSTEM),
)
STYLE = """
<style>
  body { background: #f5f6f8; }
  .tp-card { border-radius: 10px; }
  .tp-kpi-value { font-size: 1.7rem; font-weight: 600; line-height: 1.2; }
  .tp-muted { color: #5f6b7a; }
  .tp-up-good, .tp-down-good { color: #1b7f3b; }
  .tp-up-bad, .tp-down-bad { color: #b3261e; }
  .tp-overdue { color: #b3261e; font-weight: 600; }
  a.tp-link { color: #1f4e99; text-decoration: none; }
  a.tp-link:hover { text-decoration: underline; }
  .q-timeline__title { font-size: 0.95rem; font-weight: 500; margin-bottom: 0; }
  .q-timeline__subtitle { font-size: 0.72rem; margin-bottom: 2px; }
  .q-timeline__entry { padding-bottom: 8px !important; }
</style>
"""
TZ_SCRIPT = f"""
<script>
  (function () {{
    try {{
      var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (tz && document.cookie.indexOf("{TZ_COOKIE}=" + tz) < 0) {{
        document.cookie = "{TZ_COOKIE}=" + tz + "; path=/; max-age=31536000; samesite=lax";
      }}
    }} catch (e) {{}}
  }})();
</script>
"""


def frame(ctx: PageContext | None, title: str) -> None:
    """Page title, styles, and the header with the navigation this user may use."""
    ui.page_title(f"{title} · tutorpulse")
    ui.add_head_html(STYLE + TZ_SCRIPT)
    with ui.header(fixed=False).classes("items-center bg-[#1f4e99] text-white px-4 py-2 gap-2"):
        ui.label("tutorpulse").classes("text-lg font-semibold mr-4")
        if ctx is None:
            return
        with ui.element("nav").props('aria-label="Main"').classes("flex flex-wrap gap-1"):
            for path, label, icon, permission in NAV:
                if not ctx.can(permission):
                    continue
                current = ctx.path == path or (path != "/" and ctx.path.startswith(path + "/"))
                link = ui.link(target=path).classes(
                    "text-white no-underline px-2 py-1 rounded flex items-center gap-1 "
                    + ("bg-white/20" if current else "hover:bg-white/10")
                )
                if current:
                    link.props('aria-current="page"')
                with link:
                    ui.icon(icon).props('aria-hidden="true"')
                    ui.label(label)
        ui.space()
        name = ctx.user.display_name or ctx.user.email
        ui.label(f"{name} · {ctx.user.role.replace('_', ' ')}").classes("text-sm opacity-90")


def empty_state(text: str, icon: str = "inbox") -> None:
    with ui.column().classes("items-center w-full py-6 tp-muted"):
        ui.icon(icon, size="2rem").props('aria-hidden="true"')
        ui.label(text)


async def run_write(write: Callable[[], object]) -> bool:
    """Run a UI action's write off the event loop; a refusal is shown, never raised.

    False when the write was refused (the caller stops: no success message, no reload).
    """
    try:
        await run.io_bound(write)
    except TutorpulseError as exc:
        ui.notify(str(exc), type="warning")
        return False
    return True


def pager(
    *,
    page: int,
    page_size: int,
    shown: int,
    total: int,
    noun: str,
    on_change: Callable[[int], Any],
) -> None:
    """The row under a server-paged table: "first to last of total <noun>" and page links."""
    pages = max(1, -(-total // page_size))
    with ui.row().classes("w-full items-center justify-between"):
        first = (page - 1) * page_size + 1
        last = first + shown - 1
        ui.label(f"{first:,} to {last:,} of {total:,} {noun}").classes("text-sm tp-muted")
        ui.pagination(
            1,
            pages,
            value=page,
            direction_links=True,
            on_change=lambda e: on_change(int(e.value)),
        ).props('max-pages=7 boundary-numbers aria-label="Pages"')


def percent(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def duration(seconds: int) -> str:
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"
