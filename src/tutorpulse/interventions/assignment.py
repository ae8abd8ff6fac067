"""Randomized, reproducible decisions: holdout membership and content variant.

Holdout membership is drawn once per tutor and rule, not per decision: a tutor in the
holdout of a rule never receives that rule's intervention, so the holdout stays a clean
control group (a tutor drawn into the holdout one week and treated the next would carry the
treatment's effect into the control group and bias the measured uplift towards zero).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEFAULT_SEED = "tutorpulse"
PER_TUTOR = ""  # the key of a per-tutor (persistent) holdout draw


@dataclass(frozen=True)
class HoldoutPolicy:
    """The seed of the holdout draws and, for experiments, one holdout share for every rule.

    ``share`` None: each rule's own ``holdout_share`` (10% by default). A validation run
    raises it (e.g. 50%) so that the uplift interval is narrow at a small scale.
    """

    seed: str = DEFAULT_SEED
    share: float | None = None

    def __post_init__(self) -> None:
        if self.share is not None and not 0.0 <= self.share < 1.0:
            raise ValueError(f"holdout share must be in [0, 1), not {self.share}")

    def share_for(self, rule_share: float) -> float:
        return rule_share if self.share is None else self.share


def _uniform(*parts: str) -> float:
    digest = hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_holdout(*, seed: str, rule_code: str, tutor_id: str, key: str, share: float) -> bool:
    """Same inputs, same answer: the holdout is decided once, recorded, and auditable."""
    return _uniform(seed, "holdout", rule_code, tutor_id, key) < share


def pick_variant(*, seed: str, rule_code: str, tutor_id: str, variants: tuple[str, ...]) -> str:
    index = int(_uniform(seed, "variant", rule_code, tutor_id) * len(variants))
    return variants[min(index, len(variants) - 1)]
