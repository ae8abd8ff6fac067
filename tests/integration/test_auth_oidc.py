"""Single sign-on end to end against a real OpenID Connect provider on 127.0.0.1.

The provider is ``oidc-provider-mock`` (Authlib-based) served by werkzeug in a thread. It
stamps tokens with wall time, so the app's clock starts at wall time and is then moved by
hand: no test sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.auth.deps import SESSION_COOKIE
from tutorpulse.auth.models import AuditEntry, User
from tutorpulse.auth.oidc import AuthlibOidcClient, OidcError
from tutorpulse.clock import FixedClock

from .test_auth_fixtures import build_app, people_fixture  # noqa: F401  (fixtures)

oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
werkzeug_serving = pytest.importorskip("werkzeug.serving")

CLIENT_ID = "tutorpulse"
CLIENT_SECRET = "oidc-test-client-secret"
CALLBACK = "http://testserver/api/v1/auth/oidc/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """An OIDC provider on 127.0.0.1 whose ID tokens live one minute."""
    import os

    # The provider refuses plain HTTP unless told it is a test; loopback only.
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    wsgi = oidc_provider_mock.app(access_token_max_age=timedelta(minutes=1))
    server = werkzeug_serving.make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        os.environ.pop("AUTHLIB_INSECURE_TRANSPORT", None)


@pytest.fixture
def wall_clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


def sso_app(db: Session, provider: str, clock: FixedClock, **overrides: Any) -> FastAPI:
    settings: dict[str, Any] = {
        "oidc_issuer": provider,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "oidc_redirect_url": CALLBACK,
    }
    return build_app(db, clock=clock, **(settings | overrides))


def authorize_at_provider(authorize_url: str, subject: str) -> str:
    """What the user's browser does at the provider: pick an identity, get redirected back."""
    response = httpx.post(authorize_url, data={"sub": subject}, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def start_login(client: TestClient, next_path: str = "/portal") -> str:
    response = client.get(
        "/api/v1/auth/oidc/login", params={"next": next_path}, follow_redirects=False
    )
    assert response.status_code == 302, response.text
    return response.headers["location"]


def callback(client: TestClient, redirect: str) -> Any:
    parsed = urlparse(redirect)
    assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == CALLBACK
    return client.get(f"{parsed.path}?{parsed.query}", follow_redirects=False)


def test_sso_signs_in_an_existing_account(
    db: Session, provider: str, wall_clock: FixedClock, people: dict[str, User]
) -> None:
    with TestClient(sso_app(db, provider, wall_clock)) as client:
        authorize = start_login(client, "/tutors/t1")
        query = parse_qs(urlparse(authorize).query)
        assert query["client_id"] == [CLIENT_ID] and query["code_challenge_method"] == ["S256"]
        assert query["nonce"][0] and query["state"][0]
        done = callback(client, authorize_at_provider(authorize, "people_ops@example.org"))
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/tutors/t1"
        assert client.cookies.get(SESSION_COOKIE)
        me = client.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["user"]["email"] == "people_ops@example.org"
    user = db.scalar(select(User).where(User.email == "people_ops@example.org"))
    assert user is not None and user.oidc_subject == f"{provider}|people_ops@example.org"
    logins = db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login")).all()
    assert [e.details for e in logins] == [{"method": "oidc"}]


def test_sso_refuses_identities_without_an_account(
    db: Session, provider: str, wall_clock: FixedClock, people: dict[str, User]
) -> None:
    with TestClient(sso_app(db, provider, wall_clock)) as client:
        authorize = start_login(client)
        refused = callback(client, authorize_at_provider(authorize, "stranger@example.org"))
        assert refused.status_code == 403
        assert client.get("/api/v1/me").status_code == 401


def test_sso_refuses_an_expired_id_token(
    db: Session, provider: str, wall_clock: FixedClock, people: dict[str, User]
) -> None:
    with TestClient(sso_app(db, provider, wall_clock)) as client:
        authorize = start_login(client)
        redirect = authorize_at_provider(authorize, "admin@example.org")
        # The ID token lives 1 minute (+1 minute leeway); the sign-on itself 10 minutes.
        wall_clock.advance(timedelta(minutes=4))
        refused = callback(client, redirect)
        assert refused.status_code == 401 and "expired" in refused.text
        assert client.get("/api/v1/me").status_code == 401
    failure = db.scalar(select(AuditEntry).where(AuditEntry.action == "auth.login_failed"))
    assert failure is not None and failure.details["method"] == "oidc"


def test_sso_refuses_a_token_issued_for_another_client(
    db: Session, provider: str, wall_clock: FixedClock, people: dict[str, User]
) -> None:
    """A token minted for another application (same provider) must not sign anyone in here."""
    with TestClient(sso_app(db, provider, wall_clock, oidc_client_id="other-app")) as other:
        authorize = start_login(other)
        redirect = authorize_at_provider(authorize, "admin@example.org")
        code = parse_qs(urlparse(redirect).query)["code"][0]
        nonce = parse_qs(urlparse(authorize).query)["nonce"][0]
    foreign = AuthlibOidcClient(issuer=provider, client_id="other-app", client_secret="x")
    verifier = "not-checked-by-this-provider-" + "v" * 20
    id_token = foreign.exchange_code(code=code, redirect_uri=CALLBACK, code_verifier=verifier)
    ours = AuthlibOidcClient(issuer=provider, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with pytest.raises(OidcError, match="aud"):
        ours.validate_id_token(id_token, nonce=nonce, now=wall_clock.now())
    # The same token passes for the client it was issued to, so the refusal is the audience.
    assert foreign.validate_id_token(id_token, nonce=nonce, now=wall_clock.now())["sub"]
    with pytest.raises(OidcError, match="expired"):
        foreign.validate_id_token(id_token, nonce=nonce, now=wall_clock.now() + timedelta(hours=1))
    with pytest.raises(OidcError, match="nonce"):
        foreign.validate_id_token(id_token, nonce="replayed", now=wall_clock.now())

    # End to end: a client that hands our callback the foreign token is refused too.
    class Substituting(AuthlibOidcClient):
        def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> str:
            return id_token

    app = sso_app(db, provider, wall_clock)
    app.state.oidc_client = Substituting(
        issuer=provider, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    with TestClient(app) as client:
        authorize = start_login(client)
        refused = callback(client, authorize_at_provider(authorize, "admin@example.org"))
        assert refused.status_code == 401
        assert client.get("/api/v1/me").status_code == 401


def test_sso_state_must_match_and_next_must_stay_local(
    db: Session, provider: str, wall_clock: FixedClock, people: dict[str, User]
) -> None:
    with TestClient(sso_app(db, provider, wall_clock)) as client:
        authorize = start_login(client, "https://evil.example/steal")
        redirect = authorize_at_provider(authorize, "admin@example.org")
        forged = redirect.replace("state=", "state=x")
        assert callback(client, forged).status_code == 401
        done = callback(client, redirect)
        assert done.status_code == 303 and done.headers["location"] == "/"
    # Without the browser's state cookie (login CSRF / a code pasted elsewhere): refused.
    with TestClient(sso_app(db, provider, wall_clock)) as elsewhere:
        authorize = start_login(elsewhere)
        redirect = authorize_at_provider(authorize, "admin@example.org")
        elsewhere.cookies.clear()
        assert callback(elsewhere, redirect).status_code == 401


def test_sso_routes_answer_404_when_not_configured(db: Session) -> None:
    with TestClient(build_app(db)) as client:
        assert client.get("/api/v1/auth/oidc/login", follow_redirects=False).status_code == 404
