from __future__ import annotations

import pytest
from pydantic import ValidationError

from tutorpulse.config import Settings


def test_dev_defaults_are_allowed() -> None:
    settings = Settings(env="dev")
    assert settings.effective_database_url.startswith("sqlite:///")


def test_production_refuses_the_default_secret_key() -> None:
    with pytest.raises(ValidationError, match="TUTORPULSE_SECRET_KEY"):
        Settings(env="production")


def test_production_accepts_a_real_secret() -> None:
    settings = Settings(env="production", secret_key="x" * 40, database_url="sqlite://")
    assert settings.effective_database_url == "sqlite://"
