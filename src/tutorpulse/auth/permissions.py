"""The one permission table: every HTTP route and UI page, who may use it, and whose data.

This module is data. It is read by the route guard (``auth.deps.enforce_route_table``, which
denies any route missing from the table) and by the test that walks every route of the app
for every role, anonymous included. A new route is added here first; until then it answers
403 and the walk test fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    ADMIN = "admin"
    OPS_MANAGER = "ops_manager"
    PEOPLE_OPS = "people_ops"
    TUTOR = "tutor"
    STUDENT = "student"


STAFF_ROLES = frozenset({Role.ADMIN, Role.OPS_MANAGER, Role.PEOPLE_OPS})


class Permission(StrEnum):
    VIEW_SELF = "self.read"
    LIST_TUTORS = "tutors.list"
    READ_TUTOR_PROFILE = "tutors.read"
    READ_PREDICTIONS = "predictions.read"
    OVERRIDE_PREDICTIONS = "predictions.override"
    READ_PORTAL = "portal.read"
    READ_INTERVENTIONS = "interventions.read"
    ASSIGN_INTERVENTIONS = "interventions.assign"
    RECORD_OUTCOMES = "interventions.outcome"
    READ_KPIS = "kpis.read"
    READ_ANALYTICS = "analytics.read"
    READ_TUTOR_FEEDBACK = "tutor_feedback.read"
    READ_STUDENT_FEEDBACK = "student_feedback.read"
    SUBSCRIBE_UPDATES = "updates.subscribe"
    MANAGE_USERS = "users.manage"
    MANAGE_TOKENS = "tokens.manage"
    READ_AUDIT = "audit.read"
    READ_OWN_AUDIT = "audit.read_own"
    READ_SYSTEM = "system.read"  # the admin "system" page: health and pipeline figures
    MANAGE_MODELS = "models.manage"


_EVERYONE = {Permission.VIEW_SELF}
_STAFF_COMMON = {
    Permission.LIST_TUTORS,
    Permission.READ_TUTOR_PROFILE,
    Permission.READ_PREDICTIONS,
    Permission.READ_INTERVENTIONS,
    Permission.RECORD_OUTCOMES,
    Permission.READ_KPIS,
    Permission.READ_ANALYTICS,
    Permission.READ_TUTOR_FEEDBACK,
    Permission.SUBSCRIBE_UPDATES,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission) - {Permission.READ_PORTAL, Permission.READ_OWN_AUDIT},
    Role.OPS_MANAGER: frozenset(
        _EVERYONE
        | _STAFF_COMMON
        | {Permission.OVERRIDE_PREDICTIONS, Permission.ASSIGN_INTERVENTIONS}
        | {Permission.MANAGE_MODELS}
        | {Permission.READ_STUDENT_FEEDBACK}
    ),
    Role.PEOPLE_OPS: frozenset(_EVERYONE | _STAFF_COMMON | {Permission.READ_STUDENT_FEEDBACK}),
    # Tutors: their own profile (without churn fields), portal and anonymised feedback.
    Role.TUTOR: frozenset(
        _EVERYONE
        | {
            Permission.READ_TUTOR_PROFILE,
            Permission.READ_PORTAL,
            Permission.READ_TUTOR_FEEDBACK,
            Permission.READ_OWN_AUDIT,
        }
    ),
    Role.STUDENT: frozenset(
        _EVERYONE | {Permission.READ_STUDENT_FEEDBACK, Permission.READ_OWN_AUDIT}
    ),
}


def has_permission(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


def roles_with(permission: Permission) -> frozenset[Role]:
    return frozenset(role for role, perms in ROLE_PERMISSIONS.items() if permission in perms)


class Access(StrEnum):
    PUBLIC = "public"  # anyone, anonymous included (the route checks its own secret, if any)
    SIGNED_IN = "signed_in"  # any signed-in user
    PERMISSION = "permission"  # signed-in user whose role holds ``permission``
    API_TOKEN = "api_token"  # machine client whose API token holds ``scope``


@dataclass(frozen=True)
class Ownership:
    """Restricts some roles to their own records: path ``param`` must equal ``user.<field>``.

    Roles outside ``roles`` are not restricted by this rule. A mismatch answers 404, so that
    a tutor cannot even learn whether another tutor id exists.
    """

    param: str
    field: Literal["tutor_id", "student_id"]
    roles: frozenset[Role]


OWN_TUTOR = Ownership(param="tutor_id", field="tutor_id", roles=frozenset({Role.TUTOR}))
OWN_STUDENT = Ownership(param="student_id", field="student_id", roles=frozenset({Role.STUDENT}))


@dataclass(frozen=True)
class RouteRule:
    method: str
    path: str
    access: Access
    permission: Permission | None = None
    scope: str | None = None
    owner: Ownership | None = None
    kind: Literal["api", "page", "ws", "infra"] = "api"
    note: str = ""

    def __post_init__(self) -> None:
        if (self.access is Access.PERMISSION) != (self.permission is not None):
            raise ValueError(f"{self.method} {self.path}: permission iff access=permission")
        if (self.access is Access.API_TOKEN) != (self.scope is not None):
            raise ValueError(f"{self.method} {self.path}: scope iff access=api_token")

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def allows_role(self, role: str | None) -> bool:
        """Role-level decision (ownership is checked separately, against the request)."""
        if self.access is Access.PUBLIC:
            return True
        if role is None or self.access is Access.API_TOKEN:
            return False
        if self.access is Access.SIGNED_IN:
            return True
        assert self.permission is not None
        return has_permission(role, self.permission)


API_SCOPES = frozenset({"ingest"})

V1 = "/api/v1"
P = Access.PERMISSION


def _api(
    method: str,
    path: str,
    access: Access,
    permission: Permission | None = None,
    *,
    scope: str | None = None,
    owner: Ownership | None = None,
    note: str = "",
) -> RouteRule:
    return RouteRule(method, V1 + path, access, permission, scope, owner, "api", note)


def _page(
    path: str,
    access: Access,
    permission: Permission | None = None,
    *,
    owner: Ownership | None = None,
    method: str = "GET",
) -> RouteRule:
    return RouteRule(method, path, access, permission, None, owner, "page")


def _infra(method: str, path: str) -> RouteRule:
    return RouteRule(method, path, Access.PUBLIC, kind="infra")


ROUTES: tuple[RouteRule, ...] = (
    # Infrastructure: probes and API documentation (the schema is public by design).
    _infra("GET", "/healthz"),
    _infra("GET", "/readyz"),
    _infra("GET", "/openapi.json"),
    _infra("GET", "/docs"),
    _infra("GET", "/docs/oauth2-redirect"),
    _infra("GET", "/redoc"),
    # Prometheus scrape (aggregates only, no personal data); restrict it at the proxy.
    _infra("GET", "/metrics"),
    # Identity (this issue)
    _api("POST", "/auth/login", Access.PUBLIC),
    _api("POST", "/auth/logout", Access.SIGNED_IN),
    _api("GET", "/auth/oidc/login", Access.PUBLIC),
    _api("GET", "/auth/oidc/callback", Access.PUBLIC),
    _api("POST", "/auth/password-reset", Access.PUBLIC),
    _api("POST", "/auth/password-reset/confirm", Access.PUBLIC, note="signed token"),
    _api("GET", "/me", Access.SIGNED_IN),
    _api("GET", "/me/audit", P, Permission.READ_OWN_AUDIT, note="who viewed my data"),
    _api("GET", "/admin/users", P, Permission.MANAGE_USERS),
    _api("POST", "/admin/users", P, Permission.MANAGE_USERS),
    _api("PATCH", "/admin/users/{user_id}", P, Permission.MANAGE_USERS),
    _api("GET", "/admin/tokens", P, Permission.MANAGE_TOKENS),
    _api("POST", "/admin/tokens", P, Permission.MANAGE_TOKENS),
    _api("DELETE", "/admin/tokens/{token_id}", P, Permission.MANAGE_TOKENS),
    _api("GET", "/admin/audit", P, Permission.READ_AUDIT),
    # Ingestion (machine clients)
    _api("POST", "/ingest/{kind}", Access.API_TOKEN, scope="ingest"),
    # Later issues (DESIGN §4): listed now so that these routes are born protected.
    _api("GET", "/tutors", P, Permission.LIST_TUTORS),
    _api("GET", "/tutors/{tutor_id}", P, Permission.READ_TUTOR_PROFILE, owner=OWN_TUTOR),
    _api("GET", "/tutors/{tutor_id}/predictions", P, Permission.READ_PREDICTIONS),
    _api("POST", "/tutors/{tutor_id}/override", P, Permission.OVERRIDE_PREDICTIONS),
    # Model registry (issue 6): versions with their test metrics; rollback of the champion.
    _api("GET", "/models", P, Permission.READ_ANALYTICS),
    _api("POST", "/models/rollback", P, Permission.MANAGE_MODELS),
    _api(
        "POST",
        "/tutors/{tutor_id}/overrides/{override_id}/revoke",
        P,
        Permission.OVERRIDE_PREDICTIONS,
    ),
    _api("GET", "/overrides/report", P, Permission.READ_ANALYTICS),
    _api("GET", "/tutors/{tutor_id}/feedback", P, Permission.READ_TUTOR_FEEDBACK, owner=OWN_TUTOR),
    _api(
        "GET",
        "/students/{student_id}/feedback",
        P,
        Permission.READ_STUDENT_FEEDBACK,
        owner=OWN_STUDENT,
    ),
    _api("GET", "/portal/me", P, Permission.READ_PORTAL),
    _api("GET", "/interventions", P, Permission.READ_INTERVENTIONS),
    _api("POST", "/interventions/{intervention_id}/assign", P, Permission.ASSIGN_INTERVENTIONS),
    _api("POST", "/interventions/{intervention_id}/outcome", P, Permission.RECORD_OUTCOMES),
    _api("GET", "/feedback/{token}", Access.PUBLIC, note="holder of the signed link"),
    _api("POST", "/feedback/{token}", Access.PUBLIC, note="holder of the signed link"),
    _api("GET", "/kpis", P, Permission.READ_KPIS),
    _api("GET", "/analytics/{name}", P, Permission.READ_ANALYTICS),
    RouteRule("WS", V1 + "/ws/updates", P, Permission.SUBSCRIBE_UPDATES, kind="ws"),
    # Dashboard (issue 8): alert queue and lifecycle, and the change feed for polling clients.
    _api("GET", "/alerts", P, Permission.READ_INTERVENTIONS),
    _api("POST", "/alerts/{alert_id}/acknowledge", P, Permission.RECORD_OUTCOMES),
    _api("POST", "/alerts/{alert_id}/snooze", P, Permission.RECORD_OUTCOMES),
    _api("POST", "/alerts/{alert_id}/dismiss", P, Permission.RECORD_OUTCOMES),
    _api("GET", "/updates", P, Permission.SUBSCRIBE_UPDATES),
    _api("GET", "/tutors/{tutor_id}/notes", P, Permission.READ_INTERVENTIONS, note="internal"),
    _api("POST", "/tutors/{tutor_id}/notes", P, Permission.RECORD_OUTCOMES, note="internal"),
    _api("PUT", "/portal/me/goals/{key}", P, Permission.READ_PORTAL, note="own goals only"),
    # UI pages
    _page("/login", Access.PUBLIC),
    _page("/login", Access.PUBLIC, method="POST"),
    _page("/", P, Permission.LIST_TUTORS),
    _page("/tutors", P, Permission.LIST_TUTORS),
    _page("/tutors/{tutor_id}", P, Permission.READ_TUTOR_PROFILE, owner=OWN_TUTOR),
    _page("/analytics", P, Permission.READ_ANALYTICS),
    _page("/interventions", P, Permission.READ_INTERVENTIONS),
    _page("/portal", P, Permission.READ_PORTAL),
    _page("/feedback/{token}", Access.PUBLIC),
    _page("/admin/users", P, Permission.MANAGE_USERS),
    _page("/admin/audit", P, Permission.READ_AUDIT),
    _page("/admin/system", P, Permission.READ_SYSTEM),
    _page("/me/audit", P, Permission.READ_OWN_AUDIT),
)

# Mounted sub-applications that serve public static files only (the offline API docs).
# "" is the NiceGUI sub-application at the root (issue 8): its pages (the ``page`` rules
# above) check the signed-in user themselves before rendering (ui.context.page_context), and
# the rest of it is NiceGUI's own static assets and websocket.
PUBLIC_MOUNTS = frozenset({"/static-offline-docs", ""})

ROUTE_TABLE: dict[tuple[str, str], RouteRule] = {rule.key: rule for rule in ROUTES}
if len(ROUTE_TABLE) != len(ROUTES):  # a duplicate would make one of the two rules dead
    raise RuntimeError("duplicate entry in the permission table")


def rule_for(method: str, path: str) -> RouteRule | None:
    """The rule of a route template (``/api/v1/tutors/{tutor_id}``); HEAD follows GET."""
    method = "GET" if method == "HEAD" else method
    return ROUTE_TABLE.get((method, path))
