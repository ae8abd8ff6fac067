"""Pure security rules: redirect targets, churn-field filtering, unsafe settings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tutorpulse.auth.fields import is_churn_field, strip_churn_fields
from tutorpulse.auth.pages import safe_next
from tutorpulse.auth.permissions import ROLE_PERMISSIONS, ROUTES, Access, Permission, Role
from tutorpulse.config import Settings

REAL_SECRET = "s" * 40


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/javascript:alert(1)",
        "evil.example",
        "/ok\r\nSet-Cookie: x=1",
        "",
        None,
    ],
)
def test_open_redirects_are_refused(target: str | None) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/tutors/t1", "/portal?tab=feedback", "/a/b#c"])
def test_local_paths_are_kept(target: str) -> None:
    assert safe_next(target) == target


@given(st.text(max_size=60))
def test_safe_next_never_leaves_the_site(target: str) -> None:
    result = safe_next(target)
    assert result.startswith("/") and not result.startswith("//") and "\\" not in result


def test_churn_fields_are_stripped_at_any_depth() -> None:
    class Inner(BaseModel):
        churn_score: int = 80
        tier: str = "Strong"

    payload = {
        "tutor": {"id": "t1", "risk_level": "high", "inner": Inner()},
        "rows": [[{"p1": 0.1, "p7": 0.2, "p30": 0.3, "p90": 0.4, "sessions": 3}]],
        "window_7d_probability": 0.2,
        "contributing_factors": ["x"],
        "score_source": "rules",
        "manager_notes": "private",
        "internal_notes": "private",
        "tier": "Strong",
    }
    assert strip_churn_fields(payload) == {
        "tutor": {"id": "t1", "inner": {"tier": "Strong"}},
        "rows": [[{"sessions": 3}]],
        "tier": "Strong",
    }


def test_ordinary_fields_are_not_churn_fields() -> None:
    for name in ("tier", "rating_30d", "sessions", "response_minutes_p95", "p50", "score_date"):
        assert not is_churn_field(name), name


def test_role_matrix_matches_the_prd() -> None:
    tutor, student = ROLE_PERMISSIONS[Role.TUTOR], ROLE_PERMISSIONS[Role.STUDENT]
    assert Permission.READ_PREDICTIONS not in tutor and Permission.LIST_TUTORS not in tutor
    assert student == {Permission.VIEW_SELF, Permission.READ_STUDENT_FEEDBACK,
                       Permission.READ_OWN_AUDIT}  # fmt: skip
    assert Permission.OVERRIDE_PREDICTIONS in ROLE_PERMISSIONS[Role.OPS_MANAGER]
    assert Permission.OVERRIDE_PREDICTIONS not in ROLE_PERMISSIONS[Role.PEOPLE_OPS]
    assert Permission.ASSIGN_INTERVENTIONS not in ROLE_PERMISSIONS[Role.PEOPLE_OPS]
    assert Permission.MANAGE_USERS in ROLE_PERMISSIONS[Role.ADMIN]
    for rule in ROUTES:
        if rule.access is Access.PERMISSION and rule.permission is not None:
            assert rule.permission in ROLE_PERMISSIONS[Role.ADMIN] or rule.permission in (
                Permission.READ_PORTAL,
                Permission.READ_OWN_AUDIT,
            )


def test_settings_refuse_unsafe_values_outside_dev() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(env="production")
    with pytest.raises(ValidationError, match="AUTH_DISABLED"):
        Settings(env="production", secret_key=REAL_SECRET, auth_disabled=True)
    with pytest.raises(ValidationError, match="PII_HMAC_KEY"):
        Settings(env="production", secret_key=REAL_SECRET, pii_hmac_key="short")
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(env="production", secret_key=REAL_SECRET, pii_keys={"k1": "c2hvcnQ="})
    with pytest.raises(ValidationError, match="OIDC"):
        Settings(env="dev", oidc_issuer="https://id.example")
    assert Settings(env="dev", auth_disabled=True).auth_disabled
    assert Settings(env="production", secret_key=REAL_SECRET).env == "production"


def test_secrets_stay_out_of_settings_repr() -> None:
    settings = Settings(
        env="production",
        secret_key=REAL_SECRET,
        oidc_issuer="https://id.example",
        oidc_client_id="tutorpulse",
        oidc_client_secret="oidc-client-secret-value",
        ingest_token="ingest-token-value-0123456789",
        pii_hmac_key="h" * 40,
    )
    text = repr(settings) + str(settings)
    for secret in (REAL_SECRET, "oidc-client-secret-value", "ingest-token-value", "h" * 40):
        assert secret not in text


def test_pii_keys_default_to_keys_derived_from_the_secret() -> None:
    one = Settings(env="dev", secret_key="a" * 40)
    two = Settings(env="dev", secret_key="b" * 40)
    assert one.effective_pii_keys != two.effective_pii_keys
    assert one.effective_pii_active_key_id in one.effective_pii_keys
    assert len(one.effective_pii_keys[one.effective_pii_active_key_id]) == 32
    assert one.effective_pii_hmac_key != two.effective_pii_hmac_key


def test_auth_disabled_acts_as_a_dev_admin_in_dev_only() -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import sessionmaker

    from tutorpulse.api.app import create_app
    from tutorpulse.db.engine import make_engine

    engine = make_engine("sqlite://")
    app = create_app(
        Settings(env="dev", auth_disabled=True), session_factory=sessionmaker(bind=engine)
    )
    with TestClient(app) as client:
        me = client.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["user"]["role"] == "admin"
    engine.dispose()
