"""``tutorpulse interventions validate``: does the holdout uplift recover the simulated effects?"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tutorpulse.errors import TutorpulseError
from tutorpulse.interventions.validation import (
    MIN_UNITS_PER_ARM,
    ValidationPlan,
    ValidationReport,
    validate,
)

interventions_app = typer.Typer(
    help="Intervention effectiveness: validation of the measured uplift.", no_args_is_help=True
)
MAX_DAYS = 1000


def register(app: typer.Typer) -> None:
    app.add_typer(interventions_app, name="interventions")


def _parse_effects(values: list[str]) -> dict[str, float]:
    effects: dict[str, float] = {}
    for value in values:
        kind, _, size = value.partition("=")
        try:
            effects[kind.strip().upper()] = float(size)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r} is not TYPE=REDUCTION (e.g. H4=0.3)", param_hint="--effect"
            ) from None
        if not kind.strip():
            raise typer.BadParameter(f"{value!r} names no intervention type", param_hint="--effect")
    return effects


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}"


def render(report: ValidationReport) -> Table:
    plan = report.plan
    table = Table(
        title=(
            f"Uplift vs true effect on 'departure begins within {plan.horizon_days} days' "
            f"(percentage points)\nseed {plan.seed}, {plan.days} days, {report.tutors} tutors, "
            f"holdout {plan.holdout_share:.0%}; effect = configured hazard reduction"
        )
    )
    for column in (
        "type",
        "effect",
        "n treated",
        "n holdout",
        "treated %",
        "holdout %",
        "uplift",
        "95% CI",
        "truth",
        "recovered",
    ):
        table.add_column(column, justify="left" if column == "type" else "right", no_wrap=True)
    for row in report.results:
        recovered = {True: "yes", False: "NO", None: "too few"}[row.recovered]
        interval = f"[{_percent(row.low)}, {_percent(row.high)}]" if row.low is not None else "-"
        table.add_row(
            row.intervention_type,
            f"{row.configured_reduction:.0%}",
            str(row.treated_n),
            str(row.holdout_n),
            "-" if row.treated_rate is None else f"{row.treated_rate * 100:.1f}",
            "-" if row.holdout_rate is None else f"{row.holdout_rate * 100:.1f}",
            _percent(row.estimate),
            interval,
            _percent(row.true_effect),
            recovered,
        )
    return table


@interventions_app.command("validate")
def validate_command(
    days: Annotated[
        int, typer.Option(min=2, max=MAX_DAYS, help="Simulated days (warm-up included).")
    ] = 180,
    seed: Annotated[int, typer.Option(min=0, help="Master seed of the simulation.")] = 7,
    sessions_per_day: Annotated[
        int, typer.Option(min=1, help="Marketplace size (about 0.52 tutors per session/day).")
    ] = 400,
    holdout_share: Annotated[
        float, typer.Option(help="Holdout share for every rule during the run (0-1).")
    ] = 0.5,
    horizon: Annotated[
        int, typer.Option(min=1, help="Days after a decision in which a departure counts.")
    ] = 60,
    warmup: Annotated[
        int, typer.Option(min=0, help="Days simulated before the pipeline starts deciding.")
    ] = 28,
    churn_multiplier: Annotated[
        float, typer.Option(help="Scales the departure hazard: more events, narrower intervals.")
    ] = 1.0,
    effect_scale: Annotated[
        float, typer.Option(help="Multiplies every configured effect size (capped at 100%).")
    ] = 1.0,
    effect: Annotated[
        list[str] | None,
        typer.Option(help="Override one effect size, TYPE=REDUCTION (repeatable, e.g. H4=0.5)."),
    ] = None,
    max_total_reduction: Annotated[
        float | None, typer.Option(help="Cap of combined effects (default: the simulator's).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the report as JSON to this file.")
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep the run's SQLite database here (default: a temporary one)."),
    ] = None,
) -> None:
    """Simulate a marketplace whose interventions feed back into tutor behaviour, then compare
    the treated-vs-holdout uplift per intervention type with the effect the simulator applied.

    The run uses its own new SQLite database, never the configured one.
    """
    try:
        plan = ValidationPlan(
            seed=seed,
            days=days,
            sessions_per_day=sessions_per_day,
            holdout_share=holdout_share,
            horizon_days=horizon,
            warmup_days=warmup,
            reductions=_parse_effects(effect or []),
            effect_scale=effect_scale,
            max_total_reduction=max_total_reduction,
            churn_multiplier=churn_multiplier,
        )
    except ValueError as exc:
        raise TutorpulseError(f"invalid validation plan: {exc}") from exc
    if out is not None and out.is_dir():
        raise TutorpulseError(f"--out {out} is a directory; give a file name")
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="tutorpulse-validate-") as scratch:
        directory = workdir or Path(scratch)
        report = _run(plan, directory, console)
    # The result goes to stdout, wide enough for the table even when piped.
    output = Console(width=None if console.is_terminal else 130)
    output.print(render(report))
    summary = report.as_dict()
    output.print(
        f"recovered {summary['recovered']} of {summary['judged']} types with at least "
        f"{MIN_UNITS_PER_ARM} units per arm; {summary['rejected_records']} records rejected"
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        console.print(f"report written to {out}")


def _run(plan: ValidationPlan, directory: Path, console: Console) -> ValidationReport:
    from tutorpulse.db.engine import make_engine, make_session_factory
    from tutorpulse.db.migrate import upgrade

    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "validation.sqlite"
    if database.exists():
        raise TutorpulseError(f"{database} exists: remove it or choose another --workdir")
    engine = make_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)

        def progress(day: int) -> None:
            if day % 10 == 0 or day == plan.days:
                console.print(f"simulated day {day}/{plan.days}")

        return validate(make_session_factory(engine), plan=plan, on_day=progress)
    finally:
        engine.dispose()
