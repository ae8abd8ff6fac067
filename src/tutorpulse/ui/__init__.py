"""NiceGUI pages served by the same FastAPI app (DESIGN §6): one module per page.

``mount(app)`` registers the pages (once per process: NiceGUI's page registry is global) and
mounts NiceGUI into ``app``. All assets (Vue, Quasar, ECharts, fonts) come from the NiceGUI
package itself: no CDN. Every page checks the signed-in user on the server before it renders
(``context.page_context``); the student feedback page needs only its signed link.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI

_lock = threading.Lock()
_registered = False
_run_with_done = False


def register_pages() -> None:
    global _registered
    with _lock:
        if _registered:
            return
        from tutorpulse.ui import (
            admin_audit,
            admin_system,
            admin_users,
            analytics,
            feedback,
            home,
            portal,
            profile,
            tasks,
            tutors,
        )

        for module in (home, tutors, profile, tasks, analytics, portal, feedback):
            module.register()
        for module in (admin_users, admin_audit, admin_system):
            module.register()
        _registered = True


def mount(app: FastAPI, *, title: str = "tutorpulse") -> None:
    """Serve the pages from ``app`` (call last: NiceGUI takes every path not yet routed)."""
    global _run_with_done
    from nicegui import app as nicegui_app
    from nicegui import ui

    from tutorpulse.ui.context import AppScopeMiddleware

    register_pages()
    app.add_middleware(AppScopeMiddleware, owner=app)
    app.state.ui_mounted = True
    with _lock:
        first = not _run_with_done
        _run_with_done = True
    if first:
        ui.run_with(
            app,
            title=title,
            favicon="🎓",
            dark=False,
            show_welcome_message=False,
            reconnect_timeout=10.0,
        )
    else:
        # NiceGUI is one sub-application per process: a second app (tests) mounts the same.
        app.mount("/", nicegui_app)
        _wrap_lifespan(app)
    _keep_pages_last(app)


def _keep_pages_last(app: FastAPI) -> None:
    """At startup, move the NiceGUI mount behind routes included after ``create_app``.

    The mount answers every path, so a router added later would never be reached.
    """
    from contextlib import asynccontextmanager

    from nicegui import app as nicegui_app
    from starlette.routing import Mount

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(owner: Any) -> Any:
        routes = app.router.routes
        mounts = [r for r in routes if isinstance(r, Mount) and r.app is nicegui_app]
        for mount in mounts:
            routes.remove(mount)
            routes.append(mount)
        async with inner(owner) as state:
            yield state

    app.router.lifespan_context = lifespan


def _wrap_lifespan(app: FastAPI) -> None:
    from contextlib import asynccontextmanager

    from nicegui import app as nicegui_app
    from nicegui.nicegui import _shutdown, _startup

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(owner: Any) -> Any:
        started = nicegui_app.is_stopped
        if started:
            await _startup()
        async with inner(owner) as state:
            yield state
        if started:
            await _shutdown()

    app.router.lifespan_context = lifespan
