"""``tutorpulse train``, ``predict`` and ``model list|promote|rollback`` (DESIGN.md §4)."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tutorpulse.errors import TutorpulseError

model_app = typer.Typer(help="The churn model registry.", no_args_is_help=True)
overrides_app = typer.Typer(help="Ops managers' risk-level overrides.", no_args_is_help=True)
console = Console(stderr=True)
DATE_FORMATS = ["%Y-%m-%d"]


def _session() -> Any:
    from tutorpulse.cli import load_settings, require_migrated
    from tutorpulse.db.engine import make_engine, make_session_factory

    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    return settings, make_session_factory(engine)()


def train_command(
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", formats=DATE_FORMATS, help="Use data up to this day only."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the full metric report (JSON) here.")
    ] = None,
    max_configs: Annotated[
        int, typer.Option(min=1, max=50, help="Hyper-parameter sets tried on validation.")
    ] = 8,
    search_seconds: Annotated[
        float, typer.Option(min=1, help="Time bound of the hyper-parameter search.")
    ] = 300.0,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
) -> None:
    """Build labels and features, train all horizons, evaluate on test, register the model."""
    from tutorpulse.clock import SystemClock
    from tutorpulse.risk.evaluation import json_safe
    from tutorpulse.risk.jobs import retrain

    settings, db = _session()
    with db, Progress(console=console, transient=True) as progress:
        task = progress.add_task("features", total=None)
        outcome = retrain(
            db,
            data_dir=settings.data_dir,
            now=SystemClock().now(),
            as_of=as_of.date() if as_of else None,
            seed=seed,
            max_configs=max_configs,
            search_seconds=search_seconds,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
        db.commit()
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(json_safe(outcome.report), indent=2, default=str))
    _print_summary(outcome.report)


def _print_summary(report: dict[str, Any]) -> None:
    table = Table(title=f"churn model {report['registry']['version']}")
    for column in (
        "horizon",
        "rows",
        "pos",
        "AUC",
        "P@10% (ceiling)",
        "top-10% recall",
        "Brier",
        "ECE",
        "rule AUC",
        "naive AUC",
    ):
        table.add_column(column, justify="right")
    for horizon, entry in report["horizons"].items():
        if not entry.get("rows"):
            table.add_row(f"{horizon}d", "0", "-", "not evaluable", "", "", "", "", "", "")
            continue
        top = entry["precision_at_10pct"]
        table.add_row(
            f"{horizon}d",
            f"{entry['rows']:,}",
            f"{entry['positives']:,}",
            _fmt(entry["auc"]),
            f"{_fmt(top['precision'])} ({_fmt(top['ceiling'])})",
            _fmt(top["recall"]),
            _fmt(entry["brier"]),
            _fmt(entry["ece"]),
            _fmt(entry["rule_score"]["auc"]),
            _fmt(entry["naive_days_since_last_session"]["auc"]),
        )
    console.print(table)
    registry = report["registry"]
    console.print(f"registered {registry['version']} as {registry['status']}: {registry['reason']}")
    warning = report.get("targets", {}).get("warning")
    if warning:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def predict_command(
    as_of: Annotated[
        datetime, typer.Option("--as-of", formats=DATE_FORMATS, help="Day to predict for.")
    ],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
) -> None:
    """tutor_id,p1,p7,p30,p90,score,risk_level for every tutor active on the day."""
    from tutorpulse.metrics.data import day_end, load_market_data
    from tutorpulse.pipeline.service import evaluate_day
    from tutorpulse.risk.features import features_from_metrics
    from tutorpulse.risk.intervention_features import load_intervention_history
    from tutorpulse.risk.registry import champion, load_churn_model
    from tutorpulse.risk.scoring import score_frame

    day = as_of.date()
    _, db = _session()
    with db:
        row = champion(db)
        if row is None:
            raise TutorpulseError("no champion model yet: run `tutorpulse train` first")
        model = load_churn_model(row)
        data = load_market_data(db, as_of=day)
        interventions = load_intervention_history(db, until=day_end(day))
    if data.sessions.empty and data.events.empty:
        raise TutorpulseError(f"no data up to {day}")
    frame = evaluate_day(data, as_of=day).frame
    if frame.empty:
        raise TutorpulseError(f"no tutor active on {day}")
    features = features_from_metrics(frame, data, as_of=day, interventions=interventions)
    scores = score_frame(model, features)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tutor_id", "p1", "p7", "p30", "p90", "score", "risk_level"])
        for tutor_id, r in scores.iterrows():
            writer.writerow(
                [
                    tutor_id,
                    *(f"{r[c]:.6f}" for c in ("p1", "p7", "p30", "p90")),
                    int(r["score"]),
                    r["risk_level"],
                ]
            )
    console.print(f"wrote {len(scores):,} predictions as of {day} ({row.version}) to {out}")


@model_app.command("list")
def list_command() -> None:
    """Every stored model with its status and headline test metrics."""
    from tutorpulse.risk.registry import list_models

    _, db = _session()
    with db:
        rows = list_models(db)
        table = Table(title="models")
        for column in ("version", "kind", "status", "data", "30d AUC", "trained at"):
            table.add_column(column)
        for row in rows:
            h30 = (row.metrics or {}).get("horizons", {}).get("30", {})
            auc = h30.get("auc") if "horizons" in (row.metrics or {}) else row.metrics.get("auc")
            table.add_row(
                row.version,
                row.model_kind,
                row.status,
                f"{row.data_start} .. {row.data_end}",
                _fmt(auc),
                row.trained_at.isoformat(timespec="seconds"),
            )
    Console().print(table if rows else "no models yet: run `tutorpulse train`")


@model_app.command("promote")
def promote_command(
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
) -> None:
    """Make a stored model the champion (the current one is retired)."""
    from tutorpulse.auth.cli import cli_actor
    from tutorpulse.clock import SystemClock
    from tutorpulse.risk.registry import promote

    _, db = _session()
    with db:
        row = promote(db, version=version, now=SystemClock().now(), actor=cli_actor())
        db.commit()
        console.print(f"{row.version} is now the champion")


@model_app.command("rollback")
def rollback_command(
    version: Annotated[
        str | None, typer.Argument(help="Version to go back to; default: the previous champion.")
    ] = None,
) -> None:
    """Go back to an earlier champion."""
    from tutorpulse.auth.cli import cli_actor
    from tutorpulse.clock import SystemClock
    from tutorpulse.risk.registry import rollback

    _, db = _session()
    with db:
        row = rollback(db, now=SystemClock().now(), version=version, actor=cli_actor())
        db.commit()
        console.print(f"rolled back: {row.version} is now the champion")


@overrides_app.command("report")
def override_report_command(
    month: Annotated[str, typer.Option("--month", help="Month of the overrides, YYYY-MM.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write one row per override (CSV) here.")
    ] = None,
) -> None:
    """Overrides made in a month: the override's level and the model's vs what happened."""
    from tutorpulse.clock import SystemClock
    from tutorpulse.risk.overrides import REPORT_COLUMNS, override_report, parse_month

    first = parse_month(month)
    _, db = _session()
    with db:
        report = override_report(db, month=first, now=SystemClock().now())
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(REPORT_COLUMNS))
            writer.writeheader()
            for row in report["rows"]:
                writer.writerow({k: "" if row[k] is None else row[k] for k in REPORT_COLUMNS})
    table = Table(title=f"risk overrides {report['month']}")
    for column in ("overrides", "override right", "model right", "outcomes up to"):
        table.add_column(column, justify="right")
    table.add_row(
        str(report["overrides"]),
        _fmt(report["override_accuracy"]),
        _fmt(report["model_accuracy"]),
        report["outcomes_observed_until"] + ("" if report["complete"] else " (incomplete)"),
    )
    Console().print(table if report["overrides"] else f"no overrides in {report['month']}")
    if out is not None:
        console.print(f"wrote {len(report['rows']):,} rows to {out}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("predict")(predict_command)
    app.add_typer(model_app, name="model")
    app.add_typer(overrides_app, name="overrides")
