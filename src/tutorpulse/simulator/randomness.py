"""Seed derivation: every random draw comes from the master seed, never from the clock.

Entities (tutors) get their own stream keyed by their index, so adding tutors does not change
the existing ones; each simulated day gets its own stream keyed by the day number, so a day can
be recomputed after a restart without replaying the random draws of earlier days.
"""

from __future__ import annotations

import numpy as np

STREAM_TUTOR_PROFILE = 1
STREAM_DAY = 2
STREAM_NAMES = 3
STREAM_INITIAL_MARKET = 4


def entity_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream, index)))
    )


def day_rng(seed: int, day: int) -> np.random.Generator:
    # Days before the start (the warm-up bookings) have negative numbers; keys must be >= 0.
    key = day if day >= 0 else 1_000_000 - day
    return entity_rng(seed, STREAM_DAY, key)


def entity_seed(seed: int, stream: int, index: int) -> int:
    """A plain integer seed for libraries with their own generator (Faker)."""
    state = np.random.SeedSequence(seed, spawn_key=(stream, index)).generate_state(1, np.uint64)
    return int(state[0])
