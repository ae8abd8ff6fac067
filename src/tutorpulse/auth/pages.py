"""The sign-in page: a plain HTML form (works without JavaScript), also for reset links.

Form posts are protected against login CSRF by a double-submit token (a random cookie that
the form must echo), and ``next=`` only ever redirects to a path on this site.
"""

from __future__ import annotations

import hmac
import secrets
from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from tutorpulse.api.deps import AppClock, AppSettings, DbSession
from tutorpulse.auth import service
from tutorpulse.auth.api import sign_in, uses_tls
from tutorpulse.auth.deps import enforce_route_table
from tutorpulse.errors import TutorpulseError

router = APIRouter(include_in_schema=False, dependencies=[Depends(enforce_route_table)])
LOGIN_CSRF_COOKIE = "tp_login_csrf"


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after signing in; anything that could leave the site is dropped.

    Refused: absolute URLs, scheme-relative ``//host``, backslashes (``/\\host`` is read as
    ``//host`` by browsers), control characters and anything not starting with ``/``.
    """
    if not target or len(target) > 2000:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    if ":" in target.split("?", 1)[0].split("/", 2)[1]:
        return default
    return target


def _page(body: str, *, status_code: int = 200) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tutorpulse — sign in</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f5f6f8;display:flex;justify-content:center;
padding-top:10vh;margin:0}}
main{{background:#fff;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 4px #0002;
width:20rem}}
label{{display:block;margin-top:1rem;font-size:.9rem}}
input{{width:100%;padding:.5rem;margin-top:.25rem;box-sizing:border-box}}
button{{margin-top:1.5rem;width:100%;padding:.6rem;background:#1f4e99;color:#fff;border:0;
border-radius:4px;font-size:1rem}}
.error{{color:#a40000;margin-top:1rem}} .info{{color:#245c1a;margin-top:1rem}}
</style></head><body><main><h1>tutorpulse</h1>{body}</main></body></html>"""
    return HTMLResponse(html, status_code=status_code)


def _form(
    *, csrf: str, next_path: str, error: str | None, info: str | None, reset: str | None
) -> str:
    message = ""
    if error:
        message = f'<p class="error" role="alert">{escape(error)}</p>'
    elif info:
        message = f'<p class="info">{escape(info)}</p>'
    hidden = (
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
    )
    if reset:
        return (
            f'{message}<form method="post" action="/login">{hidden}'
            f'<input type="hidden" name="reset_token" value="{escape(reset)}">'
            '<label>New password<input type="password" name="new_password" required '
            'autocomplete="new-password"></label>'
            "<button>Set password</button></form>"
        )
    return (
        f'{message}<form method="post" action="/login">{hidden}'
        '<label>Email<input type="email" name="email" required autocomplete="username"></label>'
        '<label>Password<input type="password" name="password" required '
        'autocomplete="current-password"></label>'
        "<button>Sign in</button></form>"
    )


def _with_csrf_cookie(response: Response, request: Request, csrf: str, tls: bool) -> Response:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        path="/login",
        secure=tls,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login")
def login_page(
    request: Request,
    settings: AppSettings,
    next: str | None = None,
    reset: str | None = None,
) -> Response:
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    body = _form(csrf=csrf, next_path=safe_next(next), error=None, info=None, reset=reset)
    return _with_csrf_cookie(_page(body), request, csrf, uses_tls(request, settings))


@router.post("/login")
def login_form(
    request: Request,
    db: DbSession,
    settings: AppSettings,
    clock: AppClock,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    reset_token: Annotated[str, Form(max_length=1000)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    tls = uses_tls(request, settings)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    fresh = secrets.token_urlsafe(32)
    next_path = safe_next(next)

    def again(error: str | None, status_code: int, info: str | None = None) -> Response:
        body = _form(
            csrf=fresh, next_path=next_path, error=error, info=info, reset=reset_token or None
        )
        return _with_csrf_cookie(_page(body, status_code=status_code), request, fresh, tls)

    if not cookie or not csrf_token or not hmac.compare_digest(cookie, csrf_token):
        return again("Your form expired: please try again.", status.HTTP_403_FORBIDDEN)
    now = clock.now()
    if reset_token:
        try:
            service.reset_password(
                db,
                token=reset_token,
                new_password=new_password,
                settings=settings,
                ip=request.client.host if request.client else "unknown",
                now=now,
            )
        except TutorpulseError as exc:
            return again(str(exc), status.HTTP_400_BAD_REQUEST)
        db.commit()
        reset_token = ""
        return again(None, status.HTTP_200_OK, info="Password changed: sign in.")
    try:
        user = service.authenticate(
            db,
            email=email,
            password=password,
            ip=request.client.host if request.client else "unknown",
            now=now,
            settings=settings,
        )
    except service.LoginRejected as exc:
        db.commit()
        code = 429 if isinstance(exc, service.RateLimited) else status.HTTP_401_UNAUTHORIZED
        return again(str(exc), code)
    response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
    sign_in(
        db,
        request=request,
        response=response,
        settings=settings,
        user=user,
        method="password",
        now=now,
    )
    db.commit()
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def login_url(next_path: str) -> str:
    return f"/login?next={quote(safe_next(next_path), safe='/')}"
