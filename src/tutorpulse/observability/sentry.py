"""Optional error reporting to Sentry (PRD monitoring), only when ``TUTORPULSE_SENTRY_DSN`` is
set: without it, ``sentry_sdk`` is never imported.

No personal data leaves: no default PII (user, IP, cookies), no local variables from stack
frames (they hold names and emails of tutors and students), no request bodies, and the
Authorization / Cookie headers are dropped before sending.
"""

from __future__ import annotations

import logging
from typing import Any

from tutorpulse import __version__
from tutorpulse.config import Settings

log = logging.getLogger("tutorpulse.observability")
DROPPED_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key"})


def init_sentry(settings: Settings) -> bool:
    """Start reporting unhandled errors; False (and nothing imported) without a DSN."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.env,
        release=f"tutorpulse@{__version__}",
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=0.0,
        before_send=scrub,
    )
    log.info("sentry error reporting enabled")
    return True


def scrub(event: Any, _hint: Any) -> Any:
    """Last line of defence: strip what could identify a person from an event (a dict)."""
    request = event.get("request")
    if isinstance(request, dict):
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS
            }
        for key in ("cookies", "data", "query_string", "env"):
            request.pop(key, None)
    event.pop("user", None)
    return event
