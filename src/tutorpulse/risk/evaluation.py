"""Metrics of churn probabilities on labelled rows, and the PRD §4 alert-band table.

Precision at the top 10% (``precision_at_10pct.precision``) is the plain figure the issue asks
for: the share of churners among the 10% highest-scored test snapshots. It is capped by
prevalence (DESIGN.md §5): with 4.8% of rows positive, at most 48% of the top decile can be
churners, so the PRD's > 0.70 cannot be met by any model; the report says so with the
``ceiling`` min(1, prevalence / 0.10). Next to it: ``recall`` (the share of all churners that
the top 10% holds, which is what DESIGN.md §5's "normalised" P@10% = precision / ceiling comes
to when prevalence < 10%) and a 95% interval of both by a bootstrap over tutors (a tutor's
snapshots on consecutive days are not independent, so rows are resampled by tutor).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

TOP_SHARE = 0.10
ECE_BINS = 10
BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 0
# PRD decisions §4: band -> (lowest score, highest score, target precision, target recall).
ALERT_BANDS = (
    ("Critical", 76, 100, 0.70, 0.90),
    ("High", 51, 75, 0.50, 0.80),
    ("Medium", 26, 50, 0.30, 0.60),
)


def _r(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """AUC-ROC, or None when only one class is present."""
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def top_share(labels: np.ndarray, scores: np.ndarray, share: float = TOP_SHARE) -> dict[str, Any]:
    """Precision and recall among the ``share`` highest scores, with the prevalence ceiling.

    Ties at the cut are broken by row order (stable), so the figure is deterministic.
    """
    n = len(labels)
    positives = int(labels.sum())
    if n == 0:
        return {"k": 0, "precision": None, "ceiling": None, "normalised": None, "recall": None}
    k = max(1, math.ceil(share * n))
    order = np.argsort(-scores, kind="stable")[:k]
    hits = int(labels[order].sum())
    precision = hits / k
    ceiling = min(1.0, (positives / n) / share)
    return {
        "k": k,
        "precision": _r(precision),
        "ceiling": _r(ceiling),
        "normalised": _r(precision / ceiling) if ceiling > 0 else None,
        "recall": _r(hits / positives) if positives else None,
    }


def top_share_interval(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    *,
    share: float = TOP_SHARE,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, list[float | None]]:
    """95% bootstrap intervals of top-``share`` precision and recall, resampling groups.

    The cut is re-taken in every resample (the top 10% of the resampled rows). Seeded, so
    the same rows give the same interval.
    """
    codes, members = np.unique(groups, return_inverse=True)
    if len(codes) < 2 or labels.sum() == 0:
        return {"precision_ci95": [None, None], "recall_ci95": [None, None]}
    order = np.argsort(members, kind="stable")
    starts = np.searchsorted(members[order], np.arange(len(codes)))
    ends = np.append(starts[1:], len(order))
    rng = np.random.default_rng(seed)
    precisions, recalls = [], []
    for _ in range(rounds):
        chosen = rng.integers(0, len(codes), len(codes))
        rows = np.concatenate([order[starts[g] : ends[g]] for g in chosen])
        y, s = labels[rows], scores[rows]
        k = max(1, math.ceil(share * len(y)))
        hits = y[np.argsort(-s, kind="stable")[:k]].sum()
        precisions.append(hits / k)
        if y.sum():
            recalls.append(hits / y.sum())

    def interval(values: list[float]) -> list[float | None]:
        if not values:
            return [None, None]
        low, high = np.percentile(values, [2.5, 97.5])
        return [_r(float(low)), _r(float(high))]

    return {"precision_ci95": interval(precisions), "recall_ci95": interval(recalls)}


def calibration_bins(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS
) -> tuple[float | None, list[dict[str, Any]]]:
    """Expected calibration error over equal-width bins, and the bins (predicted vs observed)."""
    if len(labels) == 0:
        return None, []
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    table = []
    error = 0.0
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        if not count:
            continue
        predicted = float(probabilities[inside].mean())
        observed = float(labels[inside].mean())
        error += count / len(labels) * abs(predicted - observed)
        table.append(
            {
                "bin": [round(edges[b], 2), round(edges[b + 1], 2)],
                "count": count,
                "predicted": _r(predicted),
                "observed": _r(observed),
            }
        )
    return _r(error), table


def probability_report(
    labels: np.ndarray, probabilities: np.ndarray, groups: np.ndarray | None = None
) -> dict[str, Any]:
    """Everything reported for one horizon's calibrated probabilities.

    ``groups`` (the tutor of each row) adds bootstrap intervals to the top-10% figures.
    """
    labels = labels.astype(float)
    ece, bins = calibration_bins(labels, probabilities)
    top = top_share(labels, probabilities)
    if groups is not None:
        top |= top_share_interval(labels, probabilities, groups)
    return {
        "rows": len(labels),
        "positives": int(labels.sum()),
        "negatives": int(len(labels) - labels.sum()),
        "prevalence": _r(labels.mean()) if len(labels) else None,
        "auc": _r(auc(labels, probabilities)),
        "precision_at_10pct": top,
        "brier": _r(float(np.mean((probabilities - labels) ** 2))) if len(labels) else None,
        "ece": ece,
        "calibration_bins": bins,
    }


def ranking_report(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """AUC and top-decile figures of a score that is not a probability (baselines)."""
    labels = labels.astype(float)
    return {"auc": _r(auc(labels, scores)), "precision_at_10pct": top_share(labels, scores)}


def alert_bands(labels: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
    """Precision and recall per PRD band, against the PRD targets.

    ``precision``: churners among the rows in the band; ``precision_at_or_above`` and
    ``recall``: alerts at this level or higher (an ops team acting on every alert from this
    band up), the reading under which the PRD's recall targets make sense.
    """
    labels = labels.astype(float)
    positives = labels.sum()
    rows = []
    for name, low, high, target_precision, target_recall in ALERT_BANDS:
        inside = (scores >= low) & (scores <= high)
        above = scores >= low
        precision = labels[inside].mean() if inside.any() else None
        precision_above = labels[above].mean() if above.any() else None
        recall = labels[above].sum() / positives if positives else None
        rows.append(
            {
                "band": name,
                "scores": f"{low}-{high}",
                "rows": int(inside.sum()),
                "precision": _r(precision),
                "precision_at_or_above": _r(precision_above),
                "recall": _r(recall),
                "target_precision": target_precision,
                "target_recall": target_recall,
                "meets_precision": bool(precision is not None and precision >= target_precision),
                "meets_recall": bool(recall is not None and recall >= target_recall),
            }
        )
    return rows


def json_safe(value: Any) -> Any:
    """The report as plain JSON values: numpy scalars and NaN become Python ones / None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value
