"""Single sign-on with any OpenID Connect provider (authorization code flow with PKCE).

Configured by settings (issuer URL, client id and secret). The provider talks to us through
the ``OidcClient`` Protocol; ``AuthlibOidcClient`` is the real one (Authlib for the OAuth 2
pieces, joserfc — Authlib's JOSE library — for ID token signatures). An SSO identity signs
in only to an existing, active account: matched on its stored subject, else on its email
(then linked). Accounts are created by admins, never by the provider.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.api.deps import AppClock, AppSettings, DbSession
from tutorpulse.auth import audit
from tutorpulse.auth.api import sign_in, uses_tls
from tutorpulse.auth.deps import client_ip
from tutorpulse.auth.models import User
from tutorpulse.auth.pages import safe_next
from tutorpulse.auth.service import get_user_by_email, record_login
from tutorpulse.config import Settings

STATE_COOKIE = "tp_oidc"
STATE_LIFETIME = timedelta(minutes=10)
# Clock skew tolerated between us and the provider.
LEEWAY_SECONDS = 60
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")


class OidcError(Exception):
    """The provider's answer cannot be trusted; the message names why (no secrets)."""


class OidcClient(Protocol):
    def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str: ...

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The ID token (compact JWS) for an authorization code."""
        ...

    def validate_id_token(self, id_token: str, *, nonce: str, now: datetime) -> dict[str, Any]:
        """The verified claims: signature, issuer, audience, expiry and nonce all checked."""
        ...


class AuthlibOidcClient:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: str = "openid email profile",
        http: httpx.Client | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.scopes = scopes
        self._http = http or httpx.Client(timeout=10.0, follow_redirects=False)
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                from authlib.oidc.discovery import OpenIDProviderMetadata

                response = self._http.get(f"{self.issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                metadata = OpenIDProviderMetadata(response.json())
                # Discovery must describe the issuer we trust, not some other one (mix-up).
                if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
                    raise OidcError("the provider's metadata names another issuer")
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not metadata.get(name):
                        raise OidcError(f"the provider's metadata lacks {name}")
                self._metadata = dict(metadata)
            return self._metadata

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            response = self._http.get(self.metadata()["jwks_uri"])
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        return self._keys

    def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        return add_params_to_uri(
            self.metadata()["authorization_endpoint"],
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": create_s256_code_challenge(code_verifier),
                "code_challenge_method": "S256",
            },
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> str:
        response = self._http.post(
            self.metadata()["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
            auth=(self.client_id, self._client_secret),
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise OidcError(f"the provider refused the code (HTTP {response.status_code})")
        id_token = response.json().get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the provider returned no ID token")
        return id_token

    def validate_id_token(self, id_token: str, *, nonce: str, now: datetime) -> dict[str, Any]:
        try:
            try:
                token = jwt.decode(id_token, self._key_set(), algorithms=list(ALGORITHMS))
            except JoseError:
                # The provider may have rotated its keys since we fetched them.
                token = jwt.decode(
                    id_token, self._key_set(refresh=True), algorithms=list(ALGORITHMS)
                )
            registry = jwt.JWTClaimsRegistry(
                now=int(now.timestamp()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(token.claims)
        except JoseError as exc:
            raise OidcError(f"invalid ID token: {exc.description or exc.error}") from None
        except ValueError as exc:
            raise OidcError(f"invalid ID token: {type(exc).__name__}") from None
        claims = dict(token.claims)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("invalid ID token: azp")
        return claims


def _client_for(request: Request, settings: Settings) -> OidcClient:
    client = getattr(request.app.state, "oidc_client", None)
    if client is not None:
        return client
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "single sign-on is not configured")
    built = AuthlibOidcClient(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scopes=settings.oidc_scopes,
    )
    request.app.state.oidc_client = built
    return built


def get_oidc_client(request: Request, settings: AppSettings) -> OidcClient:
    return _client_for(request, settings)


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt="tutorpulse.oidc-state")


def _redirect_uri(request: Request, settings: Settings) -> str:
    return settings.oidc_redirect_url or str(request.url_for("oidc_callback"))


def find_account(db: Session, *, issuer: str, claims: dict[str, Any]) -> User | None:
    """The active account an identity signs in to, linking it on first use by email."""
    subject = f"{issuer}|{claims['sub']}"
    user = db.scalar(select(User).where(User.oidc_subject == subject))
    if user is None:
        email = claims.get("email")
        if not isinstance(email, str) or claims.get("email_verified") is False:
            return None
        user = get_user_by_email(db, email=email)
        if user is None or user.oidc_subject is not None:
            return None
        user.oidc_subject = subject
    return user if user.is_active else None


router = APIRouter(tags=["auth"])
OidcDep = Annotated[OidcClient, Depends(get_oidc_client)]


@router.get(
    "/auth/oidc/login",
    summary="Start single sign-on (redirects to the provider)",
    status_code=status.HTTP_302_FOUND,
    responses={302: {"description": "Redirect to the provider"}},
)
def oidc_login(
    request: Request,
    settings: AppSettings,
    clock: AppClock,
    client: OidcDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> RedirectResponse:
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    try:
        url = client.authorization_url(
            redirect_uri=_redirect_uri(request, settings),
            state=state,
            nonce=nonce,
            code_verifier=verifier,
        )
    except (OidcError, httpx.HTTPError):
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, "the identity provider is unavailable"
        ) from None
    expires = clock.now() + STATE_LIFETIME
    cookie = _serializer(settings).dumps(
        {
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "next": safe_next(next),
            "exp": int(expires.timestamp()),
        }
    )
    response = RedirectResponse(url, status_code=status.HTTP_302_FOUND)
    # Lax: the provider sends the browser back with a top-level GET, which Lax allows.
    response.set_cookie(
        STATE_COOKIE,
        cookie,
        max_age=int(STATE_LIFETIME.total_seconds()),
        path="/api/v1/auth/oidc",
        secure=uses_tls(request, settings),
        httponly=True,
        samesite="lax",
    )
    return response


@router.get(
    "/auth/oidc/callback",
    name="oidc_callback",
    summary="Single sign-on return point",
    status_code=status.HTTP_303_SEE_OTHER,
    responses={303: {"description": "Signed in: redirect to the page asked for"}},
)
def oidc_callback(
    request: Request,
    db: DbSession,
    settings: AppSettings,
    clock: AppClock,
    client: OidcDep,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    now = clock.now()
    ip = client_ip(request)

    def refuse(reason: str, status_code: int = status.HTTP_401_UNAUTHORIZED) -> HTTPException:
        audit.record(
            db,
            actor=None,
            action="auth.login_failed",
            ip=ip,
            details={"method": "oidc", "reason": reason},
            now=now,
        )
        db.commit()
        return HTTPException(status_code, f"single sign-on failed: {reason}")

    if error:
        raise refuse("the provider reported an error")
    if not code or not state:
        raise refuse("missing code or state", status.HTTP_400_BAD_REQUEST)
    try:
        saved = _serializer(settings).loads(request.cookies.get(STATE_COOKIE, ""))
    except BadSignature:
        raise refuse("no sign-on in progress in this browser") from None
    if not isinstance(saved, dict) or int(saved.get("exp", 0)) <= int(now.timestamp()):
        raise refuse("the sign-on took too long")
    if not hmac.compare_digest(str(saved.get("state", "")), state):
        raise refuse("state mismatch")
    try:
        id_token = client.exchange_code(
            code=code,
            redirect_uri=_redirect_uri(request, settings),
            code_verifier=str(saved["verifier"]),
        )
        claims = client.validate_id_token(id_token, nonce=str(saved["nonce"]), now=now)
    except OidcError as exc:
        raise refuse(str(exc)) from None
    except httpx.HTTPError:
        raise refuse("the identity provider is unavailable", status.HTTP_502_BAD_GATEWAY) from None
    user = find_account(db, issuer=str(claims["iss"]), claims=claims)
    if user is None:
        raise refuse("no active account for this identity", status.HTTP_403_FORBIDDEN)
    record_login(db, user=user, method="oidc", ip=ip, now=now)
    response = RedirectResponse(
        safe_next(str(saved.get("next") or "/")), status_code=status.HTTP_303_SEE_OTHER
    )
    sign_in(
        db,
        request=request,
        response=response,
        settings=settings,
        user=user,
        method="oidc",
        now=now,
    )
    db.commit()
    response.delete_cookie(STATE_COOKIE, path="/api/v1/auth/oidc")
    return response
