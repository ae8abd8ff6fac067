"""Every route and page of the app, for every role and for anonymous, against the table.

Later domains add routes; this test makes them list those routes in
``auth/permissions.py`` and fails when the behaviour differs from the table.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tutorpulse.auth import service
from tutorpulse.auth.fields import is_churn_field
from tutorpulse.auth.models import User
from tutorpulse.auth.permissions import (
    PUBLIC_MOUNTS,
    ROUTES,
    Access,
    Permission,
    Role,
    RouteRule,
    rule_for,
)
from tutorpulse.auth.routes import iter_routes

from ..conftest import NOW
from .test_auth_fixtures import (  # noqa: F401  (fixtures)
    app_fixture,
    bearer,
    build_app,
    client_fixture,
    clock_fixture,
    later_routes_router,
    people_fixture,
    session_token,
    unlisted_router,
)

PRINCIPALS = ("anonymous", *[r.value for r in Role], "ingest_token")
PARAM = re.compile(r"{(\w+)(:\w+)?}")


def routes_of(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for info in iter_routes(list(app.routes)):
        if info.is_mount:
            assert info.path.removesuffix("/{path}") in PUBLIC_MOUNTS, info.path
            continue
        for method in sorted(info.methods - {"HEAD", "OPTIONS"}):
            found.append((method, info.path))
    return found


def test_every_route_and_page_is_in_the_table(app: FastAPI) -> None:
    unlisted = [f"{m} {p}" for m, p in routes_of(app) if rule_for(m, p) is None]
    assert unlisted == [], f"add these to auth/permissions.py ROUTES: {unlisted}"
    schema_paths = app.openapi()["paths"]
    for path, operations in schema_paths.items():
        for method in operations:
            assert rule_for(method.upper(), path) is not None, f"{method} {path}"


def _permissions_declared(dependant: Any) -> set[str]:
    found: set[str] = set()
    for sub in dependant.dependencies:
        declared = getattr(sub.call, "__permissions__", None)
        if declared:
            found |= {str(p) for p in declared}
        # Routers written against a look-alike ``require`` (named require_<permission>).
        name = getattr(sub.call, "__name__", "")
        for permission in Permission:
            if name == f"require_{permission.name.lower()}":
                found.add(str(permission))
        found |= _permissions_declared(sub)
    return found


def test_routes_declare_the_permission_the_table_names(app: FastAPI) -> None:
    """The table and the route's own ``require(...)`` dependency must agree."""
    for info in iter_routes(list(app.routes)):
        route = info.route
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods - {"HEAD"}:
            rule = rule_for(method, info.path)
            assert rule is not None
            declared = _permissions_declared(route.dependant)
            if rule.access is Access.PERMISSION and rule.kind == "api":
                assert str(rule.permission) in declared, f"{method} {info.path}: {declared}"
            elif declared:
                pytest.fail(f"{method} {info.path} requires {declared}, table says {rule.access}")


def _fill(rule: RouteRule, me: User | None, *, other: bool = False) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "tutor_id":
            own = me.tutor_id if me and me.tutor_id else "t1"
            return ("t2" if own == "t1" else "t1") if other else own
        if name == "student_id":
            own = me.student_id if me and me.student_id else "s1"
            return ("s2" if own == "s1" else "s1") if other else own
        if name == "kind":
            return "tutors"
        return "999"

    return PARAM.sub(value, rule.path)


def _call(client: TestClient, rule: RouteRule, path: str, headers: dict[str, str]) -> Any:
    body: Any = [] if rule.path.endswith("/ingest/{kind}") else {}
    if rule.method in ("GET", "DELETE"):
        return client.request(rule.method, path, headers=headers, follow_redirects=False)
    return client.request(rule.method, path, json=body, headers=headers, follow_redirects=False)


def _churn_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        keys = [k for k in value if is_churn_field(k)]
        return keys + [k for v in value.values() for k in _churn_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _churn_keys(v)]
    return []


def test_walk_every_route_for_every_role(
    app: FastAPI, client: TestClient, people: dict[str, User], db: Session
) -> None:
    token, _ = service.create_api_token(db, name="walk", scopes=["ingest"], actor="test", now=NOW)
    failures: list[str] = []
    tutor_views: list[Any] = []
    for method, path in routes_of(app):
        rule = rule_for(method, path)
        assert rule is not None
        if rule.kind in ("ws", "infra"):
            continue
        for principal in PRINCIPALS:
            user = people.get(principal)
            if principal == "ingest_token":
                headers = bearer(token)
            elif user is not None:
                # A fresh session per call: the logout route ends the one it is called with.
                headers = bearer(session_token(db, user))
            else:
                headers = {}
            client.cookies.clear()
            response = _call(client, rule, _fill(rule, user), headers)
            status = response.status_code
            where = f"{method} {path} as {principal}: {status} {response.text[:120]}"
            if status >= 500:
                failures.append(f"server error: {where}")
                continue
            if rule.access is Access.PUBLIC:
                # Only the form's own CSRF check may answer 403 on a public route.
                if status == 401 or (status == 403 and rule.path != "/login"):
                    failures.append(f"public route refused: {where}")
                continue
            if rule.access is Access.API_TOKEN:
                expected = {"anonymous": 401, "ingest_token": None}.get(principal, 403)
            elif principal == "anonymous":
                expected = 401
            elif principal == "ingest_token":
                expected = 401  # a machine token is not a user
            else:
                expected = None if rule.allows_role(principal) else 403
            if expected is None:
                if status in (401, 403):
                    failures.append(f"allowed role refused: {where}")
                if principal == "tutor" and "json" in response.headers.get("content-type", ""):
                    tutor_views.append((where, response.json()))
            elif status != expected:
                failures.append(f"expected {expected}: {where}")
            # Ownership: the same route with somebody else's id is not found.
            owner = rule.owner
            owned = owner is not None and user is not None and user.role in owner.roles
            if expected is None and owned:
                other = _call(client, rule, _fill(rule, user, other=True), headers)
                if other.status_code != 404:
                    failures.append(f"IDOR: {where} -> other id {other.status_code}")
    assert failures == [], "\n".join(failures)
    leaks = [(where, keys) for where, body in tutor_views if (keys := _churn_keys(body))]
    assert leaks == []
    assert tutor_views, "the walk should have seen tutor-visible JSON"


def test_table_covers_design_routes() -> None:
    keys = {(r.method, r.path) for r in ROUTES}
    for expected in [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/tutors"),
        ("GET", "/api/v1/tutors/{tutor_id}"),
        ("GET", "/api/v1/tutors/{tutor_id}/predictions"),
        ("POST", "/api/v1/tutors/{tutor_id}/override"),
        ("GET", "/api/v1/portal/me"),
        ("GET", "/api/v1/interventions"),
        ("POST", "/api/v1/interventions/{intervention_id}/assign"),
        ("POST", "/api/v1/interventions/{intervention_id}/outcome"),
        ("GET", "/api/v1/feedback/{token}"),
        ("POST", "/api/v1/feedback/{token}"),
        ("GET", "/api/v1/kpis"),
        ("POST", "/api/v1/ingest/{kind}"),
        ("WS", "/api/v1/ws/updates"),
    ]:
        assert expected in keys, expected


def test_a_route_missing_from_the_table_is_refused(db: Session, people: dict[str, User]) -> None:
    app = build_app(db, routers=(unlisted_router(),))
    with TestClient(app) as client:
        admin = bearer(session_token(db, people["admin"]))
        response = client.get("/api/v1/not-in-the-table", headers=admin)
        assert response.status_code == 403
        assert "permission table" in response.text


def test_tutor_never_sees_churn_fields_even_nested(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    tutor = bearer(session_token(db, people["tutor"]))
    body = client.get("/api/v1/tutors/t1/feedback", headers=tutor).json()
    assert body["tier"] == "Strong" and body["metrics"] == {"rating_30d": 4.2}
    assert _churn_keys(body) == []
    assert body["interventions"] == [{"type": "H1", "status": "open"}]
    for path in ("/api/v1/portal/me", "/api/v1/tutors/t1"):  # the real routes
        real = client.get(path, headers=tutor)
        assert real.status_code == 200 and _churn_keys(real.json()) == []
    # Staff see the same payload whole.
    staff = bearer(session_token(db, people["ops_manager"]))
    full = client.get("/api/v1/tutors/t1/feedback", headers=staff).json()
    assert full["churn_score"] == 68 and full["predictions"][0]["p30"] == 0.3


def test_idor_tutor_and_student(client: TestClient, people: dict[str, User], db: Session) -> None:
    tutor_a = bearer(session_token(db, people["tutor"]))  # t1
    tutor_b = bearer(session_token(db, people["tutor2"]))  # t2
    assert client.get("/api/v1/tutors/t1", headers=tutor_a).status_code == 200
    assert client.get("/api/v1/tutors/t2", headers=tutor_a).status_code == 404
    assert client.get("/api/v1/tutors/t1", headers=tutor_b).status_code == 404
    assert client.get("/api/v1/tutors/nonexistent", headers=tutor_a).status_code == 404
    assert client.get("/api/v1/tutors/t2/feedback", headers=tutor_a).status_code == 404
    assert client.get("/api/v1/tutors/t1/predictions", headers=tutor_a).status_code == 403
    assert client.get("/api/v1/tutors/t2/predictions", headers=tutor_a).status_code == 403
    student = bearer(session_token(db, people["student"]))  # s1
    assert client.get("/api/v1/students/s1/feedback", headers=student).status_code == 200
    assert client.get("/api/v1/students/s2/feedback", headers=student).status_code == 404
    assert client.get("/api/v1/tutors/t1", headers=student).status_code == 403
    assert client.get("/api/v1/students/s1/feedback", headers=tutor_a).status_code == 403
    # Staff may read any tutor.
    staff = bearer(session_token(db, people["people_ops"]))
    assert client.get("/api/v1/tutors/t2", headers=staff).status_code == 200


def test_unlinked_tutor_account_sees_no_tutor(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    from .test_auth_fixtures import make_user

    lonely = make_user(db, Role.TUTOR, email="lonely@example.org", tutor_id=None)
    lonely.tutor_id = None
    db.flush()
    headers = bearer(session_token(db, lonely))
    assert client.get("/api/v1/tutors/t1", headers=headers).status_code == 404


def _page_expectation(rule: RouteRule, principal: str) -> set[int]:
    """What a page answers: a page (200), the sign-in redirect (303 for anonymous and for a
    machine token, which is no user), or a refusal (403; tutors are sent to their portal)."""
    if rule.access is Access.PUBLIC:
        return {200}
    if principal in ("anonymous", "ingest_token"):
        return {303}
    if rule.allows_role(principal):
        return {200}
    return {303} if principal == "tutor" else {403}


def test_walk_every_page_for_every_role(
    app: FastAPI, client: TestClient, people: dict[str, User], db: Session
) -> None:
    """The NiceGUI pages (admin pages included) check the user on the server, per the table."""
    token, _ = service.create_api_token(db, name="walk", scopes=["ingest"], actor="test", now=NOW)
    pages = [r for r in ROUTES if r.kind == "page" and r.method == "GET"]
    assert {"/admin/users", "/admin/audit", "/me/audit"} <= {r.path for r in pages}
    failures: list[str] = []
    for rule in pages:
        for principal in PRINCIPALS:
            user = people.get(principal)
            if principal == "ingest_token":
                headers = bearer(token)
            elif user is not None:
                headers = bearer(session_token(db, user))
            else:
                headers = {}
            client.cookies.clear()
            path = _fill(rule, user)
            response = client.get(path, headers=headers, follow_redirects=False)
            expected = _page_expectation(rule, principal)
            where = f"GET {path} as {principal}: {response.status_code} {response.text[:80]!r}"
            if response.status_code not in expected:
                failures.append(f"expected {sorted(expected)}: {where}")
            signed_out = principal in ("anonymous", "ingest_token")
            location = response.headers.get("location", "")
            if response.status_code == 303 and signed_out and not location.startswith("/login?"):
                failures.append(f"not sent to sign in: {where}")
            owner = rule.owner
            if response.status_code == 200 and owner and user and user.role in owner.roles:
                other = client.get(_fill(rule, user, other=True), headers=headers)
                if other.status_code != 404:
                    failures.append(f"IDOR: {where} -> other id {other.status_code}")
    assert failures == [], "\n".join(failures)
