"""Performance tiers: PRD criteria combined with percentile ranks over a 30-day window.

The composite is the mean percentile rank of six 30-day measures (rating, first-session
success, engagement, objectives met; reschedule and no-show rates reversed). Then, in order:
- At Risk: composite in the bottom 3%, or a critical churn score (> 75) with a composite in
  the bottom 5%;
- Needs Attention: composite in the bottom 15%, four or more red flags, or a critical churn
  score;
- Exemplary: composite in the top 10% with at most one red flag;
- Strong: composite in the top half with at most two red flags;
- Developing: everyone else.
Red flags are PRD thresholds that a large part of a real population breaches at some point
(on the default simulation half the tutors meet fewer than 66% of learning objectives,
against the PRD's 80% line), so tiers count them rather than require none; on the default
90-day simulation the split lands near the PRD's 10/40/35/12/3%.
A tutor with fewer than 5 due sessions in 30 days has no tier yet ("not enough data").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tutorpulse.metrics.compute import MIN_DUE_SESSIONS

TIERS = ("Exemplary", "Strong", "Developing", "Needs Attention", "At Risk")
TARGET_SHARES = {
    "Exemplary": 0.10,
    "Strong": 0.40,
    "Developing": 0.35,
    "Needs Attention": 0.12,
    "At Risk": 0.03,
}
CRITICAL_SCORE = 76


COMPOSITE_COLUMNS = (
    "w30_due_count",
    "w30_held_n",
    "w30_first_rated_n",
    "rating_last30",
    "w30_first_success_count",
    "w30_engagement_score",
    "w30_objectives_met_count",
    "w30_reschedule_count",
    "w30_no_show_count",
)


def composite_percentile(frame: pd.DataFrame) -> pd.Series:
    columns = {
        name: frame[name].to_numpy(dtype=float, na_value=np.nan) for name in COMPOSITE_COLUMNS
    }
    return pd.Series(_composite(columns), index=frame.index)


def _composite(columns: dict[str, np.ndarray]) -> np.ndarray:
    def column(name: str) -> np.ndarray:
        return columns[name]

    def positive(name: str) -> np.ndarray:
        values = column(name)
        return np.where(values > 0, values, np.nan)

    due, held, first = (
        positive("w30_due_count"),
        positive("w30_held_n"),
        positive("w30_first_rated_n"),
    )
    measures = (
        column("rating_last30"),
        column("w30_first_success_count") / first,
        column("w30_engagement_score"),
        column("w30_objectives_met_count") / held,
        -(column("w30_reschedule_count") / due),
        -(column("w30_no_show_count") / due),
    )
    # Unknown measures count as the median: missing data is neither praise nor blame.
    total = np.zeros(len(measures[0]))
    for measure in measures:
        total = total + np.nan_to_num(_percent_rank(measure), nan=0.5)
    return _percent_rank(total / len(measures))


def _percent_rank(values: np.ndarray) -> np.ndarray:
    """``Series.rank(pct=True)``: average rank of ties over the known values; NaN stays NaN.
    On arrays, because pandas' rank set-up dominates the one-row frame of an incremental run."""
    result = np.full(len(values), np.nan)
    known = ~np.isnan(values)
    kept = values[known]
    if len(kept):
        _, inverse, counts = np.unique(kept, return_inverse=True, return_counts=True)
        last = np.cumsum(counts)  # 1-based position of each group of equal values' last member
        average = (last - counts + 1 + last) / 2
        result[known] = average[inverse] / len(kept)
    return result


def assign_tiers(frame: pd.DataFrame, red_flags: pd.DataFrame, scores: pd.Series) -> pd.DataFrame:
    # Masks on plain arrays: on the one-row frame of an incremental run, boolean setitem on
    # Series costs more than everything else here.
    eligible = frame["w30_due_count"].to_numpy() >= MIN_DUE_SESSIONS
    percentile = np.full(len(frame), np.nan)
    if eligible.any():
        percentile[eligible] = _composite(
            {
                name: frame[name].to_numpy(dtype=float, na_value=np.nan)[eligible]
                for name in COMPOSITE_COLUMNS
            }
        )
    red_count = red_flags.to_numpy(dtype=np.int64).sum(axis=1)
    score = scores.to_numpy()

    tier = np.full(len(frame), "Developing", dtype=object)
    tier[(percentile >= 0.50) & (red_count <= 2)] = "Strong"
    tier[(percentile >= 0.90) & (red_count <= 1)] = "Exemplary"
    critical = score >= CRITICAL_SCORE
    tier[(red_count >= 4) | (percentile <= 0.15) | critical] = "Needs Attention"
    tier[(percentile <= 0.03) | (critical & (percentile <= 0.05))] = "At Risk"
    tier[~eligible] = None

    reason = [
        _reason(t, p, r, int(s))
        for t, p, r, s in zip(
            tier.tolist(), percentile.tolist(), red_count.tolist(), score.tolist(), strict=True
        )
    ]
    return pd.DataFrame(
        {
            "tier": pd.Series(tier, index=frame.index, dtype=object),
            "percentile": percentile,
            "reason": reason,
        },
        index=frame.index,
    )


def _reason(tier: str | None, percentile: float, red: int, score: int) -> str:
    if tier is None:
        return f"not enough data (fewer than {MIN_DUE_SESSIONS} sessions in 30 days)"
    parts = [f"composite percentile {percentile * 100:.0f}", f"{red} red flag(s)"]
    if score >= CRITICAL_SCORE:
        parts.append(f"critical churn score {score}")
    return ", ".join(parts)
