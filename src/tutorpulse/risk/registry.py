"""The model registry: artifacts under ``<data_dir>/models/<version>/`` and one row each.

Statuses: ``champion`` (the one used for scoring; at most one per kind), ``challenger``
(trained, not better on the same recent test window) and ``retired`` (a former champion).
Promotion and rollback only move the champion flag; artifacts are never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.errors import NotFoundError, TutorpulseError
from tutorpulse.risk.evaluation import auc, json_safe
from tutorpulse.risk.hazard import META_FILE, ChurnModel
from tutorpulse.risk.models import ModelVersion

CHURN_KIND = "churn"  # the trainer worker and dashboards look models up by this kind
CHAMPION, CHALLENGER, RETIRED = "champion", "challenger", "retired"
MODELS_DIR = "models"
COMPARISON_HORIZON = 30


def models_dir(data_dir: Path) -> Path:
    return data_dir / MODELS_DIR


def new_version(db: Session, *, kind: str, now: datetime) -> str:
    prefix = "churn" if kind == CHURN_KIND else kind
    base = f"{prefix}-{now:%Y%m%d-%H%M%S}"
    version, n = base, 1
    while db.scalar(select(ModelVersion.id).where(ModelVersion.version == version)) is not None:
        n += 1
        version = f"{base}-{n}"
    return version


def champion(db: Session, *, kind: str = CHURN_KIND) -> ModelVersion | None:
    return db.scalar(
        select(ModelVersion).where(ModelVersion.model_kind == kind, ModelVersion.status == CHAMPION)
    )


def list_models(db: Session, *, kind: str | None = None) -> list[ModelVersion]:
    query = select(ModelVersion).order_by(ModelVersion.trained_at, ModelVersion.id)
    if kind is not None:
        query = query.where(ModelVersion.model_kind == kind)
    return list(db.scalars(query))


def get_model(db: Session, *, version: str) -> ModelVersion:
    row = db.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if row is None:
        raise NotFoundError("model version", version)
    return row


_CACHE: dict[tuple[str, float], ChurnModel] = {}


def load_churn_model(row: ModelVersion) -> ChurnModel:
    """The stored model (cached per process while its file is unchanged)."""
    path = Path(row.artifact_path)
    meta = path / META_FILE
    if not meta.is_file():
        raise TutorpulseError(f"model {row.version}: artifact missing at {path}")
    key = (str(path), meta.stat().st_mtime)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = ChurnModel.load(path)
    return _CACHE[key]


@dataclass(frozen=True)
class Decision:
    status: str
    reason: str
    comparison: dict[str, Any]


def decide(
    candidate_auc: float | None,
    incumbent: ChurnModel | None,
    *,
    incumbent_version: str | None,
    test_rows: pd.DataFrame,
    horizon_rows: pd.DataFrame,
) -> Decision:
    """Champion when it beats the current champion on the same recent test rows."""
    if incumbent is None:
        return Decision(CHAMPION, "no champion yet", {})
    missing = [f for f in incumbent.features if f not in test_rows.columns]
    if missing:
        return Decision(
            CHAMPION,
            f"champion {incumbent_version} cannot score today's features ({missing[0]} missing)",
            {},
        )
    labels = horizon_rows[f"label_{COMPARISON_HORIZON}"].to_numpy(dtype=float)
    if horizon_rows.empty or len(np.unique(labels)) < 2:
        return Decision(CHALLENGER, "no test window to compare on: champion kept", {})
    incumbent_p = incumbent.predict(horizon_rows)[f"p{COMPARISON_HORIZON}"].to_numpy()
    incumbent_auc = auc(labels, incumbent_p)
    comparison = {
        "horizon_days": COMPARISON_HORIZON,
        "rows": len(horizon_rows),
        "candidate_auc": None if candidate_auc is None else round(candidate_auc, 4),
        "champion_version": incumbent_version,
        "champion_auc": None if incumbent_auc is None else round(incumbent_auc, 4),
    }
    if candidate_auc is not None and incumbent_auc is not None and candidate_auc > incumbent_auc:
        return Decision(CHAMPION, "beats the champion on the same test window", comparison)
    return Decision(CHALLENGER, "does not beat the champion on the same test window", comparison)


def register(
    db: Session,
    *,
    model: ChurnModel,
    report: dict[str, Any],
    data_dir: Path,
    data_window: tuple[date, date],
    test_rows: pd.DataFrame,
    horizon_rows: pd.DataFrame,
    now: datetime,
    kind: str = CHURN_KIND,
) -> ModelVersion:
    """Store the artifact and its row; champion only if it beats the current one."""
    version = new_version(db, kind=kind, now=now)
    path = (models_dir(data_dir) / version).resolve()
    current = champion(db, kind=kind)
    incumbent = None
    if current is not None:
        try:
            incumbent = load_churn_model(current)
        except TutorpulseError:
            incumbent = None  # a champion whose artifact is gone cannot defend its title
    candidate_auc = (report.get("horizons", {}).get(str(COMPARISON_HORIZON)) or {}).get("auc")
    decision = decide(
        candidate_auc,
        incumbent,
        incumbent_version=current.version if current else None,
        test_rows=test_rows,
        horizon_rows=horizon_rows,
    )
    report["registry"] = {
        "version": version,
        "status": decision.status,
        "reason": decision.reason,
        "comparison": decision.comparison,
    }
    model.save(path, metadata={"version": version})
    row = ModelVersion(
        version=version,
        model_kind=kind,
        status=CHALLENGER,
        artifact_path=str(path),
        data_start=data_window[0],
        data_end=data_window[1],
        features=list(model.features),
        metrics=json_safe(report),
        trained_at=now,
    )
    db.add(row)
    db.flush()
    if decision.status == CHAMPION:
        _crown(db, row, now=now)
    return row


def _crown(db: Session, row: ModelVersion, *, now: datetime) -> None:
    current = champion(db, kind=row.model_kind)
    if current is not None and current.id != row.id:
        current.status = RETIRED
        db.flush()
    row.status = CHAMPION
    row.promoted_at = now
    db.flush()


def promote(db: Session, *, version: str, now: datetime, actor: Any = None) -> ModelVersion:
    """Make ``version`` the champion of its kind (the current one is retired).

    Audited as ``model.promote`` (actor: the signed-in user, or the CLI operator).
    """
    row, current = _named(db, version=version)
    _crown(db, row, now=now)
    _audit(db, action="model.promote", actor=actor, row=row, replaced=current, now=now)
    return row


def rollback(
    db: Session, *, now: datetime, version: str | None = None, actor: Any = None
) -> ModelVersion:
    """Back to ``version``, or to the latest former champion trained before the current one.

    Audited as ``model.rollback`` (actor: the signed-in user, or the CLI operator).
    """
    if version is not None:
        row, current = _named(db, version=version)
    else:
        current = champion(db)
        row = _previous_champion(db, current=current)
    _crown(db, row, now=now)
    _audit(db, action="model.rollback", actor=actor, row=row, replaced=current, now=now)
    return row


def _named(db: Session, *, version: str) -> tuple[ModelVersion, ModelVersion | None]:
    """The model to crown and the champion it replaces; refused if it already is the champion."""
    row = get_model(db, version=version)
    if row.status == CHAMPION:
        raise TutorpulseError(f"model {version} is already the champion")
    return row, champion(db, kind=row.model_kind)


def _previous_champion(db: Session, *, current: ModelVersion | None) -> ModelVersion:
    query = select(ModelVersion).where(
        ModelVersion.model_kind == CHURN_KIND,
        ModelVersion.status == RETIRED,
        ModelVersion.promoted_at.is_not(None),
    )
    if current is not None:
        query = query.where(ModelVersion.trained_at < current.trained_at)
    previous = db.scalar(query.order_by(ModelVersion.trained_at.desc(), ModelVersion.id.desc()))
    if previous is None:
        raise TutorpulseError("no earlier champion to roll back to")
    return previous


def _audit(
    db: Session,
    *,
    action: str,
    actor: Any,
    row: ModelVersion,
    replaced: ModelVersion | None,
    now: datetime,
) -> None:
    from tutorpulse.auth import audit

    audit.record(
        db,
        actor=actor if actor is not None else audit.MachineActor("cli"),
        action=action,
        target_type="model",
        target_id=row.version,
        details={"kind": row.model_kind, "replaced": replaced.version if replaced else None},
        now=now,
    )


def headline_metrics(row: ModelVersion) -> dict[str, Any]:
    """The figures a model list shows: 30-day test metrics of a churn model, AUC otherwise."""
    metrics = row.metrics or {}
    h30 = (metrics.get("horizons") or {}).get(str(COMPARISON_HORIZON))
    if not isinstance(h30, dict):
        return {"auc": metrics.get("auc")}
    top = h30.get("precision_at_10pct") or {}
    return {
        "auc_30d": h30.get("auc"),
        "precision_at_10pct_30d": top.get("precision"),
        "recall_at_10pct_30d": top.get("recall"),
        "brier_30d": h30.get("brier"),
        "ece_30d": h30.get("ece"),
        "test_rows_30d": h30.get("rows"),
    }


def model_view(row: ModelVersion) -> dict[str, Any]:
    return {
        "version": row.version,
        "kind": row.model_kind,
        "status": row.status,
        "data_start": row.data_start.isoformat() if row.data_start else None,
        "data_end": row.data_end.isoformat() if row.data_end else None,
        "features": len(row.features or []),
        "trained_at": row.trained_at.isoformat(),
        "promoted_at": row.promoted_at.isoformat() if row.promoted_at else None,
        "metrics": headline_metrics(row),
    }


def list_models_page(
    db: Session, *, kind: str | None = None, page: int = 1, page_size: int = 50
) -> dict[str, Any]:
    """Newest first, one page; ``total`` counts every stored model of the kind."""
    query = select(ModelVersion)
    counter = select(func.count()).select_from(ModelVersion)
    if kind is not None:
        query = query.where(ModelVersion.model_kind == kind)
        counter = counter.where(ModelVersion.model_kind == kind)
    rows = db.scalars(
        query.order_by(ModelVersion.trained_at.desc(), ModelVersion.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return {
        "items": [model_view(r) for r in rows],
        "total": int(db.scalar(counter) or 0),
        "page": page,
        "page_size": page_size,
    }
