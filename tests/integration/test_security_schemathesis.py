"""schemathesis against the OpenAPI schema: no 500s and no responses outside the schema.

Bounded: a few examples per operation, run as an admin and as anonymous, on both backends.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy.orm import Session

from tutorpulse.auth.models import User

from .test_auth_fixtures import (  # noqa: F401  (fixtures)
    INGEST_BOOTSTRAP,
    bearer,
    build_app,
    people_fixture,
    session_token,
)

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _checker(operation: Any, headers: dict[str, str], examples: int) -> Any:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    return check


def _run(app: Any, *, headers: dict[str, str], examples: int) -> list[str]:
    """Call every operation with generated requests; the names of the operations tested."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        call_headers = dict(headers)
        if operation.path.startswith("/api/v1/ingest"):
            call_headers = bearer(INGEST_BOOTSTRAP)
        _checker(operation, call_headers, examples)()
        tested.append(f"{operation.method.upper()} {operation.path}")
    return tested


def test_api_conforms_to_its_schema(db: Session, people: dict[str, User]) -> None:
    app = build_app(db, ingest_token=INGEST_BOOTSTRAP)
    admin = bearer(session_token(db, people["admin"]))
    tested = _run(app, headers=admin, examples=MAX_EXAMPLES)
    assert "POST /api/v1/auth/login" in tested and "GET /api/v1/admin/audit" in tested
    _run(app, headers={}, examples=3)
