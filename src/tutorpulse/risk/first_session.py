"""PRD Model 2: P(first-session rating < 3) by logistic regression, before the session.

Inputs (as of the end of the day before the session, from the churn features of that
tutor-day): tenure, average rating over the last 30 rated sessions when more than 5,
engagement, the tutor's historical first-session success, plus the session's hour (UTC),
subject and the student's age. Trained on rated first sessions, evaluated on the latest 20%
of them (by time). Upcoming first sessions whose risk exceeds 50% are handed to the
intervention engine, which creates the pre-session prep reminder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.marketplace.models import Student, TutoringSession
from tutorpulse.metrics.data import MarketData
from tutorpulse.risk.evaluation import auc, calibration_bins, json_safe
from tutorpulse.risk.features import features_from_metrics
from tutorpulse.risk.models import ModelVersion

FIRST_SESSION_KIND = "first_session"
MODEL_FILE = "first_session.json"
POOR_RATING = 3
MIN_RATED_FOR_AVERAGE = 5  # "average rating (if > 5 sessions)"
PREP_HORIZON = timedelta(hours=48)
PREP_RISK = 0.5
TEST_SHARE = 0.20
MAX_SUBJECTS = 30
NUMERIC = (
    "log_tenure",
    "avg_rating",
    "avg_rating_missing",
    "engagement",
    "engagement_missing",
    "first_success",
    "first_success_missing",
    "student_age",
    "student_age_missing",
    "hour_sin",
    "hour_cos",
)


def session_inputs(
    sessions: pd.DataFrame, tutor_features: pd.DataFrame, ages: pd.Series
) -> pd.DataFrame:
    """Raw inputs per session: ``sessions`` has tutor_id, student_id, subject, scheduled_start;
    ``tutor_features`` is indexed like ``sessions`` (the tutor's features the day before)."""
    rated = tutor_features["rating_last30_n"].fillna(0) > MIN_RATED_FOR_AVERAGE
    hour = pd.to_datetime(sessions["scheduled_start"], utc=True).dt.hour.to_numpy(dtype=float)
    frame = pd.DataFrame(index=sessions.index)
    frame["log_tenure"] = np.log1p(tutor_features["tenure_days"].clip(lower=0))
    frame["avg_rating"] = tutor_features["rating_last30"].where(rated)
    frame["engagement"] = tutor_features["engagement_score"]
    frame["first_success"] = tutor_features["first_session_success_rate"]
    frame["student_age"] = sessions["student_id"].map(ages).astype(float)
    frame["hour_sin"] = np.sin(2 * np.pi * hour / 24)
    frame["hour_cos"] = np.cos(2 * np.pi * hour / 24)
    frame["subject"] = sessions["subject"].astype(str).to_numpy()
    return frame


@dataclass
class FirstSessionModel:
    """Imputation, scaling, one-hot subjects and the logistic coefficients (all JSON)."""

    fill: dict[str, float]
    mean: dict[str, float]
    scale: dict[str, float]
    subjects: list[str]
    coef: list[float]
    intercept: float
    report: dict[str, Any] = field(default_factory=dict)

    def matrix(self, inputs: pd.DataFrame) -> np.ndarray:
        columns: list[np.ndarray] = []
        for name in NUMERIC:
            if name.endswith("_missing"):
                values = inputs[name.removesuffix("_missing")].isna().to_numpy(dtype=float)
            else:
                values = inputs[name].fillna(self.fill.get(name, 0.0)).to_numpy(dtype=float)
            columns.append((values - self.mean[name]) / self.scale[name])
        for subject in self.subjects:
            columns.append((inputs["subject"] == subject).to_numpy(dtype=float))
        return np.column_stack(columns) if columns else np.empty((len(inputs), 0))

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        if inputs.empty:
            return np.empty(0)
        z = self.matrix(inputs) @ np.asarray(self.coef) + self.intercept
        return 1 / (1 + np.exp(-z))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        payload = {k: getattr(self, k) for k in ("fill", "mean", "scale", "subjects", "coef")}
        payload |= {"intercept": self.intercept, "report": self.report}
        (directory / MODEL_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> FirstSessionModel:
        raw = json.loads((directory / MODEL_FILE).read_text())
        return cls(**raw)


def fit_first_session(
    inputs: pd.DataFrame, labels: np.ndarray, *, seed: int = 0
) -> FirstSessionModel:
    fill = {n: float(inputs[n].mean()) for n in NUMERIC if not n.endswith("_missing")}
    fill = {k: (0.0 if np.isnan(v) else v) for k, v in fill.items()}
    subjects = list(inputs["subject"].value_counts().index[:MAX_SUBJECTS])
    draft = FirstSessionModel(
        fill, dict.fromkeys(NUMERIC, 0.0), dict.fromkeys(NUMERIC, 1.0), subjects, [], 0.0
    )
    raw = draft.matrix(inputs)
    numeric = raw[:, : len(NUMERIC)]
    draft.mean = {n: float(v) for n, v in zip(NUMERIC, numeric.mean(axis=0), strict=True)}
    draft.scale = {
        n: float(v) if v > 0 else 1.0 for n, v in zip(NUMERIC, numeric.std(axis=0), strict=True)
    }
    fitted = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(
        draft.matrix(inputs), labels
    )
    draft.coef = [float(v) for v in fitted.coef_[0]]
    draft.intercept = float(fitted.intercept_[0])
    return draft


def first_session_training_rows(
    dataset_rows: pd.DataFrame, data: MarketData, ages: pd.Series
) -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    """Rated first sessions joined with their tutor's features of the day before."""
    sessions = data.sessions
    first = sessions[
        (sessions["session_number"] == 1)
        & (sessions["status"] == "completed")
        & sessions["student_rating"].notna()
    ].copy()
    first["day_before"] = (
        first["scheduled_start"].dt.tz_convert("UTC").dt.normalize() - pd.Timedelta(days=1)
    ).dt.date
    keyed = dataset_rows.set_index(["tutor_id", "day"])
    keyed = keyed[~keyed.index.duplicated()]
    index = pd.MultiIndex.from_arrays([first["tutor_id"].astype(str), first["day_before"]])
    present = index.isin(keyed.index)
    first = first[present]
    tutor_features = keyed.loc[index[present]].reset_index(drop=True)
    first = first.reset_index(drop=True)
    inputs = session_inputs(first, tutor_features, ages)
    labels = (first["student_rating"] < POOR_RATING).to_numpy(dtype=float)
    return inputs, labels, first["scheduled_start"]


def train_first_session(
    dataset_rows: pd.DataFrame, data: MarketData, ages: pd.Series, *, seed: int = 0
) -> FirstSessionModel | None:
    """Fit on the earlier 80% of rated first sessions, report on the latest 20%."""
    inputs, labels, times = first_session_training_rows(dataset_rows, data, ages)
    if len(labels) < 50 or labels.sum() < 10 or labels.sum() == len(labels):
        return None
    order = np.argsort(times.to_numpy(), kind="stable")
    cut = int(len(order) * (1 - TEST_SHARE))
    train, test = order[:cut], order[cut:]
    model = fit_first_session(inputs.iloc[train], labels[train], seed=seed)
    p = model.predict(inputs.iloc[test])
    ece, bins = calibration_bins(labels[test], p)
    value = auc(labels[test], p)
    model.report = {
        "rows": {"train": len(train), "test": len(test)},
        "test_poor_rate": round(float(labels[test].mean()), 4),
        "auc": None if value is None else round(value, 4),
        "brier": round(float(np.mean((p - labels[test]) ** 2)), 4),
        "ece": ece,
        "calibration_bins": bins,
        "share_above_50pct": round(float((p > PREP_RISK).mean()), 4),
    }
    return model


def student_ages(db: Session, student_ids: list[str] | None = None) -> pd.Series:
    query = select(Student.student_id, Student.age)
    if student_ids is not None:
        query = query.where(Student.student_id.in_(student_ids))
    rows = db.execute(query).all()
    return pd.Series({sid: age for sid, age in rows}, dtype=float)


def register_first_session(
    db: Session,
    *,
    model: FirstSessionModel,
    data_dir: Path,
    data_window: tuple[date, date],
    now: datetime,
) -> ModelVersion:
    """Store it; the newest first-session model is the one used (older ones retired)."""
    from tutorpulse.risk.registry import CHAMPION, RETIRED, champion, models_dir, new_version

    version = new_version(db, kind=FIRST_SESSION_KIND, now=now)
    path = (models_dir(data_dir) / version).resolve()
    model.save(path)
    current = champion(db, kind=FIRST_SESSION_KIND)
    if current is not None:
        current.status = RETIRED
        db.flush()
    row = ModelVersion(
        version=version,
        model_kind=FIRST_SESSION_KIND,
        status=CHAMPION,
        artifact_path=str(path),
        data_start=data_window[0],
        data_end=data_window[1],
        features=[*NUMERIC, "subject"],
        metrics=json_safe(model.report),
        trained_at=now,
        promoted_at=now,
    )
    db.add(row)
    db.flush()
    return row


@dataclass(frozen=True)
class UpcomingRisk:
    session_id: str
    tutor_id: str
    scheduled_start: datetime
    risk: float


def upcoming_first_sessions(
    db: Session, *, data: MarketData, metrics: pd.DataFrame, as_of: date, now: datetime
) -> list[UpcomingRisk]:
    """Scheduled first sessions in the next 48 hours with their risk (all of them)."""
    from tutorpulse.risk.registry import champion

    row = champion(db, kind=FIRST_SESSION_KIND)
    if row is None or metrics.empty:
        return []
    path = Path(row.artifact_path)
    if not (path / MODEL_FILE).is_file():
        return []
    model = FirstSessionModel.load(path)
    query = select(
        TutoringSession.session_id,
        TutoringSession.tutor_id,
        TutoringSession.student_id,
        TutoringSession.subject,
        TutoringSession.scheduled_start,
    ).where(
        TutoringSession.status == "scheduled",
        TutoringSession.session_number == 1,
        TutoringSession.scheduled_start > now,
        TutoringSession.scheduled_start <= now + PREP_HORIZON,
        TutoringSession.tutor_id.in_([str(t) for t in metrics.index]),
    )
    sessions = pd.DataFrame(
        db.execute(query).all(),
        columns=["session_id", "tutor_id", "student_id", "subject", "scheduled_start"],
    )
    if sessions.empty:
        return []
    features = features_from_metrics(metrics, data, as_of=as_of)
    tutor_features = features.reindex(sessions["tutor_id"]).reset_index(drop=True)
    ages = student_ages(db, list(sessions["student_id"].unique()))
    risks = model.predict(session_inputs(sessions, tutor_features, ages))
    return [
        UpcomingRisk(str(s["session_id"]), str(s["tutor_id"]), s["scheduled_start"], float(r))
        for s, r in zip(sessions.to_dict("records"), risks, strict=True)
    ]


def upcoming_first_session_risks(
    db: Session, *, data: MarketData, metrics: pd.DataFrame, as_of: date, now: datetime
) -> dict[str, float]:
    """``{session_id: risk}`` of upcoming first sessions with a risk above 50%."""
    return {
        item.session_id: item.risk
        for item in upcoming_first_sessions(db, data=data, metrics=metrics, as_of=as_of, now=now)
        if item.risk > PREP_RISK
    }
