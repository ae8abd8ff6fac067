"""The full path template of routes (``/api/v1/tutors/{tutor_id}``), as the table names them.

FastAPI ≥ 0.13x keeps included routers lazily: ``scope["route"].path`` is the path inside
its own router, without the include prefix. The full template comes from the app's
effective route contexts; older FastAPI flattened routes, where ``route.path`` is already
the full template.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, Mount
from starlette.types import Scope

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - older FastAPI flattens included routes
    iter_route_contexts = None  # type: ignore[assignment]

_CACHE_KEY = "tutorpulse.route_templates"


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    route: BaseRoute
    is_mount: bool
    regex: re.Pattern[str] | None


def iter_routes(routes: list[BaseRoute]) -> Iterator[RouteInfo]:
    """Every route of an app with its full path template and methods (``WS`` for sockets)."""
    if iter_route_contexts is None:  # pragma: no cover
        contexts: Any = [(r, r) for r in routes]
    else:
        contexts = [(c.original_route, c) for c in iter_route_contexts(routes)]
    for original, context in contexts:
        path: str = getattr(context, "path_format", None) or getattr(original, "path", "") or ""
        methods = getattr(context, "methods", None)
        if methods is None:
            methods = {"WS"} if type(original).__name__.startswith("WebSocket") else set()
        regex = getattr(context, "path_regex", None)
        yield RouteInfo(
            path=path,
            methods=frozenset(methods),
            route=original,
            is_mount=isinstance(original, Mount),
            regex=regex,
        )


def route_template(scope: Scope) -> str | None:
    """The full path template of the route this request matched, or None."""
    route = scope.get("route")
    app = scope.get("app")
    if route is None or app is None:
        return None
    state = getattr(app, "state", None)
    cache: dict[int, list[RouteInfo]] | None = getattr(state, "_tp_route_cache", None)
    if cache is None or id(route) not in cache:
        cache = {}
        for info in iter_routes(list(app.routes)):
            cache.setdefault(id(info.route), []).append(info)
        if state is not None:
            state._tp_route_cache = cache
    candidates = cache.get(id(route), [])
    if len(candidates) == 1:
        return candidates[0].path
    path = scope.get("path", "")
    for info in candidates:  # the same route object included under several prefixes
        if info.regex is not None and info.regex.match(path):
            return info.path
    return getattr(route, "path", None)
