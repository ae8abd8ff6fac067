"""Churn features from the interventions a tutor received (issue 7: "update the churn score
based on intervention impact"), point-in-time like every other feature.

An intervention counts as *received* at the moment it reached the tutor, and only from then:
- a human task when someone acted on it (``acted_at``: taken in progress or completed);
- an automated nudge when it was sent (``completed_date`` of a ``sent`` item).
Holdout decisions (nothing was sent), sub-tasks (PIP check-ins) and tasks closed without
anyone acting never count. Every timestamp used is the moment of an event that had already
happened by the as-of day, so a later status change (a task acted on, cancelled or closed
after the day) changes nothing for that day: the leakage test checks exactly that.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.interventions.models import Intervention
from tutorpulse.metrics.data import day_end

HISTORY_COLUMNS = ("tutor_id", "intervention_type", "reached_at")
# Feature group -> intervention types (PRD Component 4: A1-A4 automated, H1-H5 human).
GROUPS: dict[str, tuple[str, ...]] = {
    "coaching": ("A1", "H1"),
    "training": ("A2",),
    "mentoring": ("H2",),
    "recognition": ("H5",),
    "retention_talk": ("H3", "H4"),
}
WINDOWS: dict[str, tuple[int, ...]] = {
    "coaching": (14, 30),
    "training": (14, 30),
    "mentoring": (30,),
    "recognition": (30,),
    "retention_talk": (30,),
}
INTERVENTION_FEATURES: tuple[str, ...] = (
    *(f"received_{group}_{days}d" for group, windows in WINDOWS.items() for days in windows),
    "interventions_received_30d",
    "days_since_last_intervention",
)
NEVER_DAYS = 999.0  # no intervention in the history: "long ago" for the trees


def empty_history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tutor_id": pd.Series(dtype=object),
            "intervention_type": pd.Series(dtype=object),
            "reached_at": pd.Series(dtype="datetime64[ns, UTC]"),
        }
    )


def load_intervention_history(db: Session, *, until: datetime) -> pd.DataFrame:
    """Interventions that reached a tutor before ``until``: one row each, with the moment."""
    rows = db.execute(
        select(
            Intervention.tutor_id,
            Intervention.intervention_type,
            Intervention.status,
            Intervention.acted_at,
            Intervention.completed_date,
        ).where(
            Intervention.holdout.is_(False),
            Intervention.parent_id.is_(None),
            Intervention.recommended_date < until,
        )
    ).all()
    records = []
    for tutor_id, kind, status, acted_at, completed in rows:
        reached = acted_at if acted_at is not None else (completed if status == "sent" else None)
        if reached is not None and reached < until:
            records.append((tutor_id, kind, reached))
    if not records:
        return empty_history()
    frame = pd.DataFrame.from_records(records, columns=list(HISTORY_COLUMNS))
    frame["reached_at"] = pd.to_datetime(frame["reached_at"], utc=True)
    return frame


def intervention_features(
    history: pd.DataFrame | None, *, as_of: date, index: pd.Index
) -> pd.DataFrame:
    """``INTERVENTION_FEATURES`` for the tutors of ``index`` as of the end of ``as_of``.

    ``history`` may hold any time range (training passes the whole one): rows reached after
    the day are ignored here. None means no intervention history: every count is 0.
    """
    out = pd.DataFrame(index=index)
    size = len(index)
    if history is None or history.empty:
        for name in INTERVENTION_FEATURES:
            out[name] = NEVER_DAYS if name == "days_since_last_intervention" else 0.0
        return out
    end = pd.Timestamp(day_end(as_of))
    reached = history["reached_at"]
    past = history[reached < end]
    codes = index.get_indexer(pd.Index(past["tutor_id"]))
    known = codes >= 0
    codes = codes[known]
    ages = ((end - past["reached_at"]).dt.total_seconds().to_numpy() / 86_400.0)[known]
    kinds = past["intervention_type"].to_numpy()[known]
    for group, windows in WINDOWS.items():
        member = np.isin(kinds, GROUPS[group])
        for days in windows:
            inside = member & (ages <= days)
            out[f"received_{group}_{days}d"] = np.bincount(codes[inside], minlength=size).astype(
                float
            )
    out["interventions_received_30d"] = np.bincount(codes[ages <= 30], minlength=size).astype(float)
    last = np.full(size, NEVER_DAYS)
    np.minimum.at(last, codes, np.floor(ages))
    out["days_since_last_intervention"] = last
    return out
