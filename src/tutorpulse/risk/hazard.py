"""The churn model: a piecewise-constant hazard (one XGBoost Poisson model) plus calibration.

For a snapshot with features x, the days after it are cut into intervals (0,1], (1,7],
(7,14], (14,30], (30,90]; the model gives a daily hazard per interval, log λ(x, k), learned
from each snapshot's exposure (days at risk and observed) and event in every interval, so
that censored snapshots contribute what was observed instead of being dropped or called
negative. P(churn within h days) = 1 - exp(-Σ λ_k · days of interval k inside (0, h]): the
cumulative hazard only grows with h, so P1 ≤ P7 ≤ P30 ≤ P90 holds by construction. Each
horizon is then calibrated on validation rows (isotonic or Platt) and the calibrated values
are made coherent again with a running maximum over the horizons.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

HORIZONS = (1, 7, 30, 90)
INTERVALS = ((0, 1), (1, 7), (7, 14), (14, 30), (30, 90))
INTERVAL_FEATURE = "interval_start_day"
BOOSTER_FILE = "booster.json"
META_FILE = "model.json"


@dataclass(frozen=True)
class Calibrator:
    """A monotone map of raw probabilities: isotonic steps, Platt sigmoid, or identity."""

    kind: str  # "isotonic" | "platt" | "identity"
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        if self.kind == "isotonic":
            return np.interp(p, np.asarray(self.x), np.asarray(self.y))
        if self.kind == "platt":
            logit = np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1))
            return 1 / (1 + np.exp(-(self.a * logit + self.b)))
        return p

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibrator:
        return cls(raw["kind"], tuple(raw["x"]), tuple(raw["y"]), raw["a"], raw["b"])


def interval_overlap(horizon: int) -> np.ndarray:
    """Days of each interval inside (0, horizon]."""
    return np.array([max(0, min(b, horizon) - a) for a, b in INTERVALS], dtype=float)


@dataclass
class ChurnModel:
    booster: xgb.Booster
    features: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    calibrators: dict[int, Calibrator] = field(default_factory=dict)

    # ------------------------------------------------------------------ prediction
    def _stacked(
        self, frame: pd.DataFrame, intervals: tuple[tuple[int, int], ...] = INTERVALS
    ) -> tuple[xgb.DMatrix, int]:
        values = frame[self.features].to_numpy(dtype=np.float32)
        n = len(values)
        stacked = np.repeat(values, len(intervals), axis=0)
        starts = np.tile([a for a, _ in intervals], n).astype(np.float32)[:, None]
        matrix = xgb.DMatrix(
            np.hstack([stacked, starts]),
            feature_names=[*self.features, INTERVAL_FEATURE],
            missing=np.nan,
        )
        return matrix, n

    def log_hazards(self, frame: pd.DataFrame) -> np.ndarray:
        """log λ per row and interval (rows x intervals)."""
        matrix, n = self._stacked(frame)
        if n == 0:
            return np.empty((0, len(INTERVALS)))
        margin = self.booster.predict(matrix, output_margin=True)
        return np.asarray(margin, dtype=float).reshape(n, len(INTERVALS))

    def raw_probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Uncalibrated P(churn within h) per row and horizon; coherent by construction."""
        hazards = np.exp(self.log_hazards(frame))
        cumulative = np.stack([hazards @ interval_overlap(h) for h in HORIZONS], axis=1)
        return 1 - np.exp(-cumulative)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Calibrated, coherent probabilities: columns p1, p7, p30, p90."""
        return coherent(self.calibrate(self.raw_probabilities(frame)), index=frame.index)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        calibrated = raw.copy()
        for k, horizon in enumerate(HORIZONS):
            if horizon in self.calibrators:
                calibrated[:, k] = self.calibrators[horizon].apply(raw[:, k])
        return calibrated

    def contributions(self, frame: pd.DataFrame, horizon: int = 30) -> pd.DataFrame:
        """TreeSHAP (``pred_contribs``) of the horizon's cumulative log-hazard, per feature.

        Each interval's contributions are weighted by that interval's share of the tutor's
        cumulative hazard up to ``horizon``: positive values push the risk up.
        """
        # Intervals beyond the horizon weigh nothing: TreeSHAP is the costly part, skip them.
        inside = interval_overlap(horizon) > 0
        used = tuple(i for i, keep in zip(INTERVALS, inside, strict=True) if keep)
        matrix, n = self._stacked(frame, used)
        if n == 0:
            return pd.DataFrame(columns=self.features, index=frame.index)
        contributions = self.booster.predict(matrix, pred_contribs=True)
        contributions = np.asarray(contributions).reshape(n, len(used), -1)
        hazards = (np.exp(self.log_hazards(frame)) * interval_overlap(horizon))[:, inside]
        weights = hazards / np.maximum(hazards.sum(axis=1, keepdims=True), 1e-300)
        weighted = np.einsum("nk,nkf->nf", weights, contributions)
        # The last two columns are the interval feature and the bias: not the tutor's doing.
        return pd.DataFrame(
            weighted[:, : len(self.features)], columns=self.features, index=frame.index
        )

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path, *, metadata: dict[str, Any] | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / BOOSTER_FILE))
        meta = {
            "kind": "piecewise_hazard_xgboost",
            "features": self.features,
            "intervals": [list(i) for i in INTERVALS],
            "horizons": list(HORIZONS),
            "params": self.params,
            "calibrators": {str(h): c.to_dict() for h, c in self.calibrators.items()},
        } | (metadata or {})
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> ChurnModel:
        meta = json.loads((directory / META_FILE).read_text())
        booster = xgb.Booster()
        booster.load_model(str(directory / BOOSTER_FILE))
        booster.set_param({"nthread": 1})
        return cls(
            booster=booster,
            features=list(meta["features"]),
            params=dict(meta.get("params", {})),
            calibrators={
                int(h): Calibrator.from_dict(c) for h, c in meta.get("calibrators", {}).items()
            },
        )


def coherent(probabilities: np.ndarray, *, index: pd.Index | None = None) -> pd.DataFrame:
    """Clip to [0, 1] and force P1 ≤ P7 ≤ P30 ≤ P90 with a running maximum."""
    clipped = np.clip(probabilities, 0.0, 1.0)
    ordered = np.maximum.accumulate(clipped, axis=1)
    return pd.DataFrame(ordered, columns=[f"p{h}" for h in HORIZONS], index=index)
