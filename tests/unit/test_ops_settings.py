"""Operations settings: the live simulator's pace and the optional Sentry DSN."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tutorpulse.config import Settings
from tutorpulse.observability.sentry import init_sentry, scrub
from tutorpulse.simulator.live import DEMO_SPEED


def test_simulator_speed_defaults_to_the_demo_pace_and_refuses_nonsense() -> None:
    assert Settings(env="test").simulator_speed == DEMO_SPEED
    assert Settings(env="test", simulator_speed=1).simulator_speed == 1.0
    for bad in (0, -5):
        with pytest.raises(ValidationError, match="simulator_speed"):
            Settings(env="test", simulator_speed=bad)


def test_sentry_is_off_without_a_dsn_and_the_dsn_stays_out_of_repr() -> None:
    assert init_sentry(Settings(env="test")) is False
    configured = Settings(env="test", sentry_dsn="http://key@127.0.0.1:9/1")
    assert "key@" not in repr(configured)


def test_scrub_drops_credentials_bodies_and_user() -> None:
    event = {
        "user": {"email": "a@example.org"},
        "request": {
            "headers": {"Authorization": "Bearer x", "Cookie": "tp=1", "Accept": "*/*"},
            "cookies": {"tp": "1"},
            "data": {"name": "Ada"},
            "query_string": "email=a@example.org",
        },
    }
    assert scrub(event, {}) == {"request": {"headers": {"Accept": "*/*"}}}
