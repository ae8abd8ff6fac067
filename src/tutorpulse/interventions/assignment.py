"""Randomized, reproducible decisions: holdout membership and content variant."""

from __future__ import annotations

import hashlib


def _uniform(*parts: str) -> float:
    digest = hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_holdout(*, seed: str, rule_code: str, tutor_id: str, key: str, share: float) -> bool:
    """Same inputs, same answer: the holdout is decided once, recorded, and auditable."""
    return _uniform(seed, "holdout", rule_code, tutor_id, key) < share


def pick_variant(*, seed: str, rule_code: str, tutor_id: str, variants: tuple[str, ...]) -> str:
    index = int(_uniform(seed, "variant", rule_code, tutor_id) * len(variants))
    return variants[min(index, len(variants) - 1)]
