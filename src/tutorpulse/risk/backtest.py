"""Backtest: for past months, predicted vs actual 30-day churn by risk band.

One snapshot per month (each tutor on the month's first snapshot day): the model's band and
mean predicted P30 beside the share that actually churned within 30 days. Months whose
snapshot lies in the model's training period are marked in-sample.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tutorpulse.risk.hazard import ChurnModel
from tutorpulse.risk.rules import RISK_BANDS, risk_level

BANDS = tuple(level for _, level in sorted(RISK_BANDS))
HORIZON = 30


def backtest(
    model: ChurnModel,
    rows: pd.DataFrame,
    *,
    observed_until: date,
    trained_until: date | None = None,
) -> dict[str, Any]:
    """``rows``: labelled snapshots with features (``training.Dataset.rows``)."""
    usable = rows[rows["day"] <= observed_until - timedelta(days=HORIZON)]
    if usable.empty:
        return {"horizon_days": HORIZON, "table": [], "chart": {"months": [], "series": {}}}
    months = pd.Series([d.replace(day=1) for d in usable["day"]], index=usable.index)
    first_days = usable.groupby(months)["day"].min()
    table: list[dict[str, Any]] = []
    for month, day in first_days.items():
        snapshot = usable[usable["day"] == day]
        p30 = model.predict(snapshot)["p30"].to_numpy()
        bands = np.array([risk_level(s) for s in np.round(100 * p30)])
        actual = snapshot[f"label_{HORIZON}"].to_numpy(dtype=float)
        for band in BANDS:
            inside = bands == band
            table.append(
                {
                    "month": str(month)[:7],
                    "snapshot_day": day.isoformat(),
                    "band": band,
                    "tutors": int(inside.sum()),
                    "predicted_rate": _mean(p30[inside]),
                    "actual_rate": _mean(actual[inside]),
                    "churned": int(actual[inside].sum()),
                    "in_sample": trained_until is not None and day <= trained_until,
                }
            )
    chart_months = sorted({r["month"] for r in table})
    series = {
        band: {
            "predicted": [_cell(table, m, band, "predicted_rate") for m in chart_months],
            "actual": [_cell(table, m, band, "actual_rate") for m in chart_months],
        }
        for band in BANDS
    }
    return {
        "horizon_days": HORIZON,
        "table": table,
        "chart": {"months": chart_months, "series": series},
    }


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 4) if len(values) else None


def _cell(table: list[dict[str, Any]], month: str, band: str, key: str) -> float | None:
    for row in table:
        if row["month"] == month and row["band"] == band:
            value = row[key]
            return None if value is None else float(value)
    return None
