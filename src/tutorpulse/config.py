"""Settings, validated at start (env prefix ``TUTORPULSE_``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "demo", "test", "production"]

# Anything on this list is public knowledge and must never protect a real deployment.
INSECURE_SECRET_KEYS = frozenset({"", "change-me", "dev-secret-key-change-me", "secret"})
DEFAULT_SECRET_KEY = "dev-secret-key-change-me"
RELAXED_ENVIRONMENTS = frozenset({"dev", "demo", "test"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUTORPULSE_", env_file=None, extra="ignore")

    env: Environment = "dev"
    data_dir: Path = Path("./tutorpulse-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is a SQLite file in data_dir."
    )
    redis_url: str | None = None
    # Secrets stay out of repr(): settings objects end up in logs and tracebacks.
    secret_key: str = Field(default=DEFAULT_SECRET_KEY, repr=False)
    ingest_token: str | None = Field(
        default=None,
        repr=False,
        description="Bearer token accepted by POST /api/v1/ingest/{kind} until scoped API "
        "tokens exist.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    import_batch_size: int = Field(default=20_000, ge=1, le=100_000)
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: outbox only.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_sender: str = "tutorpulse@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_tls: bool = True
    sentry_dsn: str | None = Field(
        default=None,
        repr=False,
        description="Report unhandled errors to Sentry (no personal data); unset: off.",
    )
    simulator_speed: float = Field(
        default=1440.0,
        gt=0,
        le=1_000_000,
        description="Live simulator pace, simulated seconds per real second: 1 = real time "
        "(the marketplace's true load), 1440 = one simulated day per real minute (demo).",
    )
    pipeline_clock: Literal["system", "data"] = Field(
        default="system",
        description="Time of the pipeline worker: wall time, or the latest data (replays, demo).",
    )
    pipeline_full_every_seconds: int = Field(
        default=900,
        ge=1,
        description="Interval of the scheduled full recompute, in the pipeline clock's seconds.",
    )

    # Accounts and sessions (auth/)
    auth_disabled: bool = Field(
        default=False,
        description="Development only: anonymous requests act as an admin. Refused outside "
        "dev/demo.",
    )
    behind_tls: bool = Field(
        default=False,
        description="Served over HTTPS (directly or by a proxy): Secure cookies and HSTS.",
    )
    session_lifetime_minutes: int = Field(default=8 * 60, ge=5, le=30 * 24 * 60)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    login_rate_limit: int = Field(
        default=20, ge=1, description="Login attempts allowed per client address per window."
    )
    login_rate_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    password_reset_minutes: int = Field(default=30, ge=5, le=24 * 60)
    password_min_length: int = Field(default=10, ge=8, le=128)
    public_base_url: str | None = Field(
        default=None, description="Base URL used in links sent by email (password reset)."
    )
    oidc_issuer: str | None = Field(default=None, description="OpenID Connect issuer URL.")
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = Field(default=None, repr=False)
    oidc_scopes: str = "openid email profile"
    oidc_redirect_url: str | None = Field(
        default=None, description="Callback URL registered at the provider (default: derived)."
    )

    # Privacy (privacy/)
    # Unset PII keys are derived from the secret key (so the dev default is refused with it);
    # set them explicitly before ever rotating the secret key.
    pii_keys: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="AES-256-GCM keys for PII columns, JSON: key id -> base64 32-byte key.",
    )
    pii_active_key_id: str | None = Field(default=None, description="Key id new values use.")
    pii_hmac_key: str | None = Field(
        default=None,
        repr=False,
        description="Key for searchable email hashes and stable pseudonyms.",
    )
    audit_retention_days: int = Field(default=3 * 365, ge=1)
    records_retention_days: int = Field(default=7 * 365, ge=1)
    records_retention_mode: Literal["delete", "anonymize"] = "anonymize"
    min_group_size: int = Field(
        default=5, ge=1, description="Smallest cohort an aggregate may describe."
    )

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.env not in RELAXED_ENVIRONMENTS:
            if self.secret_key in INSECURE_SECRET_KEYS or len(self.secret_key) < 32:
                raise ValueError(
                    "TUTORPULSE_SECRET_KEY must be set to a random value of at least 32 "
                    f"characters when TUTORPULSE_ENV={self.env}"
                )
            if self.ingest_token is not None and len(self.ingest_token) < 24:
                raise ValueError("TUTORPULSE_INGEST_TOKEN must be at least 24 characters")
            if self.auth_disabled:
                raise ValueError(
                    f"TUTORPULSE_AUTH_DISABLED is refused when TUTORPULSE_ENV={self.env}"
                )
            if self.pii_hmac_key is not None and len(self.pii_hmac_key) < 32:
                raise ValueError("TUTORPULSE_PII_HMAC_KEY must be at least 32 characters")
        for key_id, encoded in self.pii_keys.items():
            try:
                raw = base64.b64decode(encoded, validate=True)
            except ValueError as exc:
                raise ValueError(f"TUTORPULSE_PII_KEYS[{key_id}] is not base64") from exc
            if len(raw) != 32:
                raise ValueError(f"TUTORPULSE_PII_KEYS[{key_id}] must decode to 32 bytes")
        if (
            self.pii_keys
            and (self.pii_active_key_id or next(iter(self.pii_keys))) not in self.pii_keys
        ):
            raise ValueError("TUTORPULSE_PII_ACTIVE_KEY_ID must name one of TUTORPULSE_PII_KEYS")
        if self.oidc_issuer and not (self.oidc_client_id and self.oidc_client_secret):
            raise ValueError(
                "OIDC needs TUTORPULSE_OIDC_CLIENT_ID and TUTORPULSE_OIDC_CLIENT_SECRET"
            )
        return self

    @property
    def effective_pii_keys(self) -> dict[str, bytes]:
        if self.pii_keys:
            return {k: base64.b64decode(v) for k, v in self.pii_keys.items()}
        derived = _derive(self.secret_key, b"tutorpulse pii aes-gcm")
        # The id names the secret it came from: a changed secret fails loudly, not silently.
        return {"sk-" + hashlib.sha256(derived).hexdigest()[:8]: derived}

    @property
    def effective_pii_active_key_id(self) -> str:
        return self.pii_active_key_id or next(iter(self.effective_pii_keys))

    @property
    def effective_pii_hmac_key(self) -> bytes:
        if self.pii_hmac_key:
            return self.pii_hmac_key.encode()
        return _derive(self.secret_key, b"tutorpulse pii hmac")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tutorpulse.db').resolve()}"


def _derive(secret: str, label: bytes) -> bytes:
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
