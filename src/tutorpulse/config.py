"""Settings, validated at start (env prefix ``TUTORPULSE_``)."""

from __future__ import annotations

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
    secret_key: str = DEFAULT_SECRET_KEY
    ingest_token: str | None = Field(
        default=None,
        description="Bearer token accepted by POST /api/v1/ingest/{kind} until scoped API "
        "tokens exist.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    import_batch_size: int = Field(default=5000, ge=1, le=100_000)

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
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tutorpulse.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
