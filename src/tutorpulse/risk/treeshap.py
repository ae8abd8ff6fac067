"""TreeSHAP of the hazard model for many tutors: each tree run once per input it can tell apart.

``ChurnModel.contributions`` stacks every tutor once per interval inside the horizon (four
rows for 30 days, differing only in ``interval_start_day``) and runs XGBoost's TreeSHAP on
all of them: rows x 4 x trees tree walks, about 95% of scoring every tutor (issue 11). A tree
that never splits on ``interval_start_day``, or whose thresholds do not separate two of the
interval starts, gets the same input for those rows and returns the same values: here each
tree runs once per group of intervals it can separate (0.55-0.6 of the walks on the default
and on the deeper models) and its values are added to each interval's running sum tree by
tree in float32, XGBoost's own order, so the result is bit for bit that of
``ChurnModel.contributions`` (the unit test compares them).

Below ``MIN_ROWS`` rows (a micro-batch, one tutor) the per-tree calls cost more than they
save and ``ChurnModel.contributions`` runs as is.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from tutorpulse.risk.hazard import INTERVAL_FEATURE, INTERVALS, ChurnModel, interval_overlap

MIN_ROWS = 256
BLOCK_ROWS = 2048


@dataclass(frozen=True)
class TreeStep:
    """One tree: its number, the feature columns it can write, and the intervals (positions
    in ``starts``) grouped by the input the tree sees."""

    tree: int
    columns: np.ndarray
    groups: tuple[tuple[int, ...], ...]


_PLANS: weakref.WeakKeyDictionary[xgb.Booster, dict[tuple[int, ...], list[TreeStep] | None]] = (
    weakref.WeakKeyDictionary()
)


def contributions(
    model: ChurnModel, frame: pd.DataFrame, *, horizon: int = 30, min_rows: int = MIN_ROWS
) -> pd.DataFrame:
    """The same frame as ``model.contributions(frame, horizon=horizon)``, bit for bit."""
    inside = interval_overlap(horizon) > 0
    starts = tuple(a for (a, _), keep in zip(INTERVALS, inside, strict=True) if keep)
    # One interval (a 1-day horizon) has nothing to share between rows.
    steps = plan(model, starts) if len(frame) >= max(min_rows, 1) and len(starts) > 1 else None
    if steps is None:
        return model.contributions(frame, horizon=horizon)
    values = frame[model.features].to_numpy(dtype=np.float32)
    n, width = len(values), len(model.features) + 2  # + the interval feature and the bias
    names = [*model.features, INTERVAL_FEATURE]
    # Row blocks keep each call's output small enough to be reused from call to call rather
    # than mapped afresh (page faults were a third of the time on 15,000 tutors).
    blocks = [slice(lo, min(lo + BLOCK_ROWS, n)) for lo in range(0, n, BLOCK_ROWS)]
    matrices = [
        [
            xgb.DMatrix(
                np.hstack([values[rows], np.full((len(values[rows]), 1), s, dtype=np.float32)]),
                feature_names=names,
                missing=np.nan,
            )
            for s in starts
        ]
        for rows in blocks
    ]
    # XGBoost adds each tree's values to a float32 sum per row, in tree order; a feature a
    # tree does not split on gets an exact 0 from it, so only the tree's own columns move.
    sums = np.zeros((len(starts), n, width), dtype=np.float32)
    for step in steps:
        # A booster keeps its last output (rows x columns floats): a one-tree booster lives
        # only for its own step, or the model would hold one such output per tree.
        booster = model.booster[step.tree : step.tree + 1]
        for rows, block in zip(blocks, matrices, strict=True):
            for group in step.groups:
                # The matrices carry the model's feature names: no check per tree.
                values_of_tree = booster.predict(
                    block[group[0]], pred_contribs=True, validate_features=False
                )
                values_of_tree = np.asarray(values_of_tree)[:, step.columns]
                for k in group:
                    sums[k, rows][:, step.columns] += values_of_tree
    # From here on exactly the weighting of ``ChurnModel.contributions``.
    hazards = (np.exp(model.log_hazards(frame)) * interval_overlap(horizon))[:, inside]
    weights = hazards / np.maximum(hazards.sum(axis=1, keepdims=True), 1e-300)
    weighted = np.einsum("nk,nkf->nf", weights, sums.transpose(1, 0, 2))
    return pd.DataFrame(
        weighted[:, : len(model.features)], columns=model.features, index=frame.index
    )


def plan(model: ChurnModel, starts: tuple[int, ...]) -> list[TreeStep] | None:
    """The model's trees as steps (kept while the booster lives); None when the model is not
    plain one-tree-per-round numeric gbtree, which the reference path handles instead."""
    per_booster = _PLANS.setdefault(model.booster, {})
    if starts not in per_booster:
        per_booster[starts] = _plan(model.booster, len(model.features), starts)
    return per_booster[starts]


def _plan(booster: xgb.Booster, n_features: int, starts: tuple[int, ...]) -> list[TreeStep] | None:
    raw = json.loads(booster.save_raw(raw_format="json"))
    gradient_booster = raw["learner"]["gradient_booster"]
    if gradient_booster.get("name") != "gbtree":
        return None  # dart weighs its trees
    trees = gradient_booster["model"]["trees"]
    if len(trees) != booster.num_boosted_rounds():
        return None  # several trees (outputs or parallel trees) per round
    interval_column = n_features
    points = np.asarray(starts, dtype=np.float32)
    steps = []
    for number, tree in enumerate(trees):
        if any(tree.get("split_type", [])):
            return None  # categorical splits
        internal = np.asarray(tree["left_children"]) != -1
        index = np.asarray(tree["split_indices"])[internal]
        conditions = np.asarray(tree["split_conditions"], dtype=np.float32)[internal]
        # A split sends x left when x < condition (float32): intervals on the same side of
        # every interval split reach the same leaves by the same paths.
        thresholds = np.unique(conditions[index == interval_column])
        sides = points[:, None] < thresholds[None, :]
        groups: dict[bytes, list[int]] = {}
        for k in range(len(starts)):
            groups.setdefault(sides[k].tobytes(), []).append(k)
        steps.append(
            TreeStep(
                tree=number,
                columns=np.unique(index[index < interval_column]),
                groups=tuple(tuple(g) for g in groups.values()),
            )
        )
    return steps
