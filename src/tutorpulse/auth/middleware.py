"""ASGI middleware: security headers on every response, churn fields out of tutors' JSON, and
the caller's address for the audit log."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tutorpulse.auth import audit
from tutorpulse.auth.deps import VIEWER_SCOPE_KEY
from tutorpulse.auth.fields import is_filtered_role, strip_churn_fields

# The API serves only JSON: nothing in it may run, load or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Pages: same-origin only, no CDN (DESIGN §6). The offline Swagger UI and NiceGUI (Vue
# templates compiled in the browser) need inline scripts and eval.
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, behind_tls: bool, api_prefix: str = "/api/") -> None:
        self.app = app
        self.behind_tls = behind_tls
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = str(scope.get("path", "")).startswith(self.api_prefix)
        tls = self.behind_tls or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}

                def add(name: str, value: str) -> None:
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))

                add("content-security-policy", API_CSP if is_api else PAGE_CSP)
                add("x-frame-options", "DENY")
                add("x-content-type-options", "nosniff")
                add("referrer-policy", "same-origin")
                add("permissions-policy", "camera=(), microphone=(), geolocation=()")
                add("cross-origin-opener-policy", "same-origin")
                if is_api:
                    add("cache-control", "no-store")
                if tls:
                    add("strict-transport-security", HSTS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ViewerFilterMiddleware:
    """Second line of defence: JSON sent to a tutor or student loses every churn field.

    The principal dependency records the caller's role in the scope; when it is a tutor or
    student, the JSON body is buffered, filtered and re-sent.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        viewer: dict[str, Any] = {}
        scope[VIEWER_SCOPE_KEY] = viewer
        start: Message | None = None
        chunks: list[bytes] = []

        async def filtering_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = b""
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value
                if is_filtered_role(viewer.get("role")) and b"json" in content_type:
                    start = message
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            try:
                body = orjson.dumps(strip_churn_fields(orjson.loads(body)))
            except orjson.JSONDecodeError:
                body = b'{"detail":"response withheld"}'
            headers = [
                (name, value)
                for name, value in start.get("headers", [])
                if name.lower() != b"content-length"
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, filtering_send)


class AuditOriginMiddleware:
    """Every audit entry recorded while serving a request says where it came from.

    The client address is the one the server saw (uvicorn's ``--proxy-headers`` puts the
    forwarded address there behind a trusted proxy). Sync routes run in a worker thread that
    inherits this context, so services record it without an ``ip`` argument.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        with audit.origin(client[0] if client else "unknown"):
            await self.app(scope, receive, send)
