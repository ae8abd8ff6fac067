"""Ingest benchmark (issue 3): the real import path against a raw bulk insert, per backend.

For every backend (a SQLite file in a temp dir; PostgreSQL in a throwaway schema) it

1. migrates a fresh database and runs ``import_directory`` with a commit per chunk — exactly
   what ``tutorpulse import DIR`` does — in a child process, timed there, and reads the child's
   peak RSS;
2. migrates another fresh database (same tables, indexes and constraints) and times a raw bulk
   insert of the same rows with the bare driver: ``sqlite3`` ``executemany``; psycopg
   ``executemany`` (pipelined) and ``COPY``. The rows are validated and converted to driver
   values before the clock starts, so the baseline measures only the database write.

Targets: ≥ 20,000 records/s into each backend, ≥ 0.5 of the baseline's throughput, peak RSS
of the import < 400 MB. Results go to ``benchmarks/results/ingest.json``; temp files and
schemas are removed whatever happens.

    .venv/bin/python benchmarks/ingest.py                      # 300,000 sessions, both backends
    .venv/bin/python benchmarks/ingest.py --quick --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_OUT = BENCH_DIR / "results" / "ingest.json"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")

TARGET_RECORDS_PER_S = 20_000
TARGET_RATIO = 0.5
TARGET_PEAK_RSS_MB = 400

DEFAULT_SESSIONS = 300_000
QUICK_SESSIONS = 2_000
QUICK_TUTORS = 60
DEFAULT_SEED = 20250106
# Business "now" of the import batch; the data's own times come from the dataset.
IMPORT_NOW = datetime(2025, 5, 1, tzinfo=UTC)
# Rows per pickled chunk of prepared baseline rows: bounds the baseline's memory.
BASELINE_CHUNK = 50_000
CHILD_TIMEOUT_S = 1800
# Columns filled by the database (server defaults), absent from every insert.
SERVER_DEFAULTS = frozenset({"created_at", "updated_at"})


# =============================================================== databases
@dataclass(frozen=True)
class Target:
    """One fresh, migrated database: a SQLite file, or a PostgreSQL schema."""

    backend: str
    url: str
    schema: str | None = None

    def engine(self) -> Any:
        from tutorpulse.db.engine import make_engine

        if self.schema is None:
            return make_engine(self.url)
        return make_engine(self.url, connect_args={"options": f"-csearch_path={self.schema}"})


@contextmanager
def fresh_target(backend: str, workdir: Path, postgres_url: str) -> Iterator[Target]:
    """Create and migrate an empty database; drop it afterwards, whatever happens."""
    from sqlalchemy import text

    from tutorpulse.db.engine import make_engine
    from tutorpulse.db.migrate import upgrade

    name = f"bench_ingest_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        path = workdir / f"{name}.db"
        target = Target("sqlite", f"sqlite:///{path}")
        admin = None
    else:
        target = Target("postgresql", postgres_url, name)
        admin = make_engine(postgres_url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        engine = target.engine()
        upgrade(engine)
        engine.dispose()
        yield target
    finally:
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            admin.dispose()
        else:
            for leftover in workdir.glob(f"{name}.db*"):
                leftover.unlink()


# =========================================================== child: import
def child_import(target: Target, data_dir: Path) -> dict[str, Any]:
    """The ``tutorpulse import`` code path, timed from inside the process that runs it."""
    from sqlalchemy import func, select

    from tutorpulse.config import Settings
    from tutorpulse.db.engine import make_session_factory
    from tutorpulse.ingest.files import import_directory, plan_directory
    from tutorpulse.ingest.rows import TABLES

    engine = target.engine()
    plan = plan_directory(data_dir)
    session = make_session_factory(engine)()
    cpu_started = _cpu_seconds()
    started = time.perf_counter()
    try:
        report = import_directory(
            session,
            plan=plan,
            now=IMPORT_NOW,
            chunk_size=Settings().import_batch_size,
            checkpoint=session.commit,
        )
    finally:
        session.close()
    seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu_started
    with engine.connect() as connection:
        stored = {
            kind: connection.scalar(select(func.count()).select_from(table))
            for kind, table in TABLES.items()
        }
    engine.dispose()
    counts = report.as_dict()["counts"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "records": sum(c["received"] for c in counts.values()),
        "counts": counts,
        "rows_stored": stored,
        "rejections": [r.describe() for r in report.rejections[:5]],
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak RSS plus the largest peak among the processes it started.

    The sum bounds the combined RSS of the import and its parsing helper at any instant.
    On Linux ``ru_maxrss`` survives ``exec``, so a child's own figure would include the
    parent's RSS at spawn time: the process's own peak is read from ``VmHWM`` instead.
    """
    own_kib = _vm_hwm_kib() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    helpers_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own_kib + helpers_kib) / 1024, 1)


def _vm_hwm_kib() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + helpers.ru_utime + helpers.ru_stime


# ========================================================= child: prepare
def child_prepare(data_dir: Path, rows_dir: Path) -> dict[str, Any]:
    """Validate every record and build its table row once, with the importer's own code.

    The rows are pickled per kind in chunks, so that every baseline inserts exactly the rows
    the import ends with, without paying for parsing inside its timing. A record sent twice
    (a booking, then its outcome) is one row: the last version, as after the import.
    """
    from tutorpulse.ingest.files import plan_directory
    from tutorpulse.ingest.readers import read_file
    from tutorpulse.ingest.rows import to_row
    from tutorpulse.ingest.schemas import ID_FIELDS, KINDS, SCHEMAS

    plan = plan_directory(data_dir)
    rows_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for kind in KINDS:
        schema, id_field = SCHEMAS[kind], ID_FIELDS[kind]
        columns: list[str] = []
        final: dict[str, tuple[Any, ...]] = {}
        for path in plan.files[kind]:
            for raw in read_file(path, kind):
                assert isinstance(raw.payload, bytes), raw.error
                row = to_row(kind, schema.model_validate_json(raw.payload))
                row["source"] = plan.source
                columns = columns or list(row)
                final[row[id_field]] = tuple(row[c] for c in columns)
        values = list(final.values())
        del final
        with (rows_dir / f"{kind}.pkl").open("wb") as out:
            for start in range(0, len(values), BASELINE_CHUNK):
                chunk = values[start : start + BASELINE_CHUNK]
                pickle.dump((columns, chunk), out, protocol=pickle.HIGHEST_PROTOCOL)
        written[kind] = len(values)
    return {"rows": written, "peak_rss_mb": _peak_rss_mb()}


def _prepared_chunks(path: Path) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    with path.open("rb") as handle:
        while True:
            try:
                yield pickle.load(handle)
            except EOFError:
                return


# ======================================================== child: baseline
Inserter = Callable[[str, list[str], list[tuple[Any, ...]]], None]


def child_baseline(target: Target, rows_dir: Path, method: str) -> dict[str, Any]:
    """Time a bare-driver bulk insert of the prepared rows, kind by kind, one commit per kind."""
    from tutorpulse.ingest.rows import TABLES
    from tutorpulse.ingest.schemas import KINDS

    dialect = target.engine().dialect
    seconds: dict[str, float] = {}
    records = 0
    with _raw_inserter(target, method) as (insert, commit):
        for kind in KINDS:
            table = TABLES[kind]
            elapsed = 0.0
            for columns, chunk in _prepared_chunks(rows_dir / f"{kind}.pkl"):
                values = _driver_values(table, columns, chunk, dialect)  # not timed
                started = time.perf_counter()
                insert(table.name, columns, values)
                elapsed += time.perf_counter() - started
                records += len(values)
            started = time.perf_counter()
            commit()
            seconds[kind] = elapsed + time.perf_counter() - started
    return {
        "method": method,
        "seconds": sum(seconds.values()),
        "seconds_per_kind": seconds,
        "records": records,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _driver_values(
    table: Any, columns: list[str], chunk: list[tuple[Any, ...]], dialect: Any
) -> list[tuple[Any, ...]]:
    """Convert with SQLAlchemy's own bind processors: the driver gets what the import sends."""
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    ]
    return [
        tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
        for row in chunk
    ]


@contextmanager
def _raw_inserter(target: Target, method: str) -> Iterator[tuple[Inserter, Callable[[], None]]]:
    if target.backend == "sqlite":
        with _sqlite_inserter(target) as pair:
            yield pair
    else:
        with _postgres_inserter(target, method) as pair:
            yield pair


@contextmanager
def _sqlite_inserter(target: Target) -> Iterator[tuple[Inserter, Callable[[], None]]]:
    from sqlalchemy.engine import make_url

    from tutorpulse.db.engine import configure_sqlite_connection

    connection = sqlite3.connect(str(make_url(target.url).database), isolation_level=None)
    # The very settings of tutorpulse's engine: durability, FK checks, cache.
    configure_sqlite_connection(connection)
    connection.execute("BEGIN")

    def insert(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" for _ in columns)
        names = ", ".join(f'"{c}"' for c in columns)
        connection.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)

    def commit() -> None:
        connection.execute("COMMIT")
        connection.execute("BEGIN")

    try:
        yield insert, commit
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@contextmanager
def _postgres_inserter(
    target: Target, method: str
) -> Iterator[tuple[Inserter, Callable[[], None]]]:
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(target.url).set(drivername="postgresql").render_as_string(False)
    connection = psycopg.connect(conninfo, options=f"-csearch_path={target.schema}")

    def insert(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        with connection.cursor() as cursor:
            if method == "copy":
                with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            else:  # psycopg 3 pipelines executemany: one round trip per batch, not per row
                marks = ", ".join("%s" for _ in columns)
                cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)

    try:
        yield insert, connection.commit
    finally:
        connection.close()


# ================================================================== parent
def run_child(mode: str, **arguments: Any) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter, so its RSS and caches are its own."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    command += ["--child-args", orjson.dumps(arguments, default=str).decode()]
    completed = subprocess.run(
        command, capture_output=True, timeout=CHILD_TIMEOUT_S, check=False, cwd=REPO_ROOT
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{completed.stderr.decode()[-4000:]}")
    result: dict[str, Any] = orjson.loads(completed.stdout.splitlines()[-1])
    return result


def generate(data: str, out_dir: Path, *, sessions: int, tutors: int, seed: int) -> str:
    """Write the §3 files with the record factory or the simulator; returns which one."""
    if data == "simulator":
        from tutorpulse.simulator.config import SimulationConfig
        from tutorpulse.simulator.export import generate_dataset

        # The simulator draws its own volume: enough days for about ``sessions`` sessions.
        config = SimulationConfig.build(seed=seed, tutors=tutors, sessions_per_day=3000)
        generate_dataset(config, days=max(1, -(-sessions // 3000)), out=out_dir)
        return "simulator"
    from record_factory import write_dataset

    write_dataset(out_dir, sessions=sessions, tutors=tutors, seed=seed)
    return "factory"


def dataset_counts(data_dir: Path) -> dict[str, int]:
    from tutorpulse.ingest.files import plan_directory

    counts: dict[str, int] = {}
    for kind, paths in plan_directory(data_dir).files.items():
        counts[kind] = 0
        for path in paths:
            with path.open("rb") as handle:
                counts[kind] += sum(1 for line in handle if line.strip())
    return counts


def baseline_methods(backend: str) -> list[str]:
    return ["executemany"] if backend == "sqlite" else ["executemany", "copy"]


def ratio_method(backend: str) -> str:
    # The ratio is taken against the fastest bare-driver path of each backend.
    return "executemany" if backend == "sqlite" else "copy"


def bench_backend(
    backend: str, data_dir: Path, rows_dir: Path, rows: dict[str, int], args: argparse.Namespace
) -> dict[str, Any]:
    workdir = data_dir.parent
    with fresh_target(backend, workdir, args.postgres_url) as target:
        imported = run_child("import", target=asdict(target), data_dir=str(data_dir))
    baselines: dict[str, dict[str, Any]] = {}
    for method in baseline_methods(backend):
        with fresh_target(backend, workdir, args.postgres_url) as target:
            result = run_child(
                "baseline", target=asdict(target), rows_dir=str(rows_dir), method=method
            )
        result["records_per_s"] = round(result["records"] / result["seconds"], 1)
        baselines[method] = result
    return summarise(backend, imported, baselines, rows)


def summarise(
    backend: str, imported: dict[str, Any], baselines: dict[str, dict[str, Any]], rows: dict
) -> dict[str, Any]:
    rate = imported["records"] / imported["seconds"]
    reference = baselines[ratio_method(backend)]
    ratio = rate / reference["records_per_s"]
    rejected = sum(c["rejected"] for c in imported["counts"].values())
    checks = {
        "records_per_s": rate >= TARGET_RECORDS_PER_S,
        "ratio_to_baseline": ratio >= TARGET_RATIO,
        "peak_rss_mb": imported["peak_rss_mb"] < TARGET_PEAK_RSS_MB,
        "no_rejections": rejected == 0,
        "rows_as_expected": imported["rows_stored"] == rows,
    }
    return {
        "import": {
            "seconds": round(imported["seconds"], 3),
            "cpu_seconds": round(imported["cpu_seconds"], 3),
            "records": imported["records"],
            "records_per_s": round(rate, 1),
            "counts": imported["counts"],
            "rows_stored": imported["rows_stored"],
            "rejected": rejected,
            "rejection_sample": imported["rejections"],
            "peak_rss_mb": imported["peak_rss_mb"],
        },
        "baselines": baselines,
        "ratio_baseline": ratio_method(backend),
        "baseline_records_per_s": reference["records_per_s"],
        "ratio": round(ratio, 3),
        "checks": checks,
        "passed": all(checks.values()),
    }


def machine_info(args: argparse.Namespace, load_at_start: tuple[float, ...]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        # Other work on the machine slows every figure: the 1/5/15-minute load averages.
        "load_average_start": [round(x, 2) for x in load_at_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
    }
    if "postgresql" in args.backends:
        from sqlalchemy import text

        from tutorpulse.db.engine import make_engine

        engine = make_engine(args.postgres_url)
        with engine.connect() as connection:
            info["postgresql"] = connection.scalar(text("SHOW server_version"))
        engine.dispose()
    return info


def git_commit() -> dict[str, Any]:
    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], capture_output=True, text=True, cwd=REPO_ROOT, check=False
        ).stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--short"))}


def print_table(results: dict[str, Any]) -> None:
    header = f"{'backend':<11}{'records':>10}{'s':>8}{'rec/s':>9}  {'baseline rec/s':<34}"
    header += f"{'ratio':>6}{'RSS MB':>8}  result"
    print(header)
    for backend, result in results["backends"].items():
        imported = result["import"]
        bases = ", ".join(
            f"{m}{'*' if m == result['ratio_baseline'] else ''} {b['records_per_s']:,.0f}"
            for m, b in result["baselines"].items()
        )
        failed = [name for name, ok in result["checks"].items() if not ok]
        verdict = "pass" if result["passed"] else "FAIL " + ",".join(failed)
        print(
            f"{backend:<11}{imported['records']:>10,}{imported['seconds']:>8.1f}"
            f"{imported['records_per_s']:>9,.0f}  {bases:<34}{result['ratio']:>6.2f}"
            f"{imported['peak_rss_mb']:>8.0f}  {verdict}"
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    sessions = QUICK_SESSIONS if args.quick and args.sessions is None else args.sessions
    sessions = sessions or DEFAULT_SESSIONS
    tutors = args.tutors or (QUICK_TUTORS if args.quick else 1400)
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tutorpulse-bench-") as temp:
        data_dir = Path(temp) / "data"
        generator = generate(args.data, data_dir, sessions=sessions, tutors=tutors, seed=args.seed)
        counts = dataset_counts(data_dir)
        rows_dir = Path(temp) / "rows"
        prepared = run_child("prepare", data_dir=str(data_dir), rows_dir=str(rows_dir))
        backends = {
            backend: bench_backend(backend, data_dir, rows_dir, prepared["rows"], args)
            for backend in args.backends
        }
    return {
        "benchmark": "ingest",
        "command": " ".join(["benchmarks/ingest.py", *args.argv]),
        "git": git_commit(),
        "machine": machine_info(args, load_at_start),
        "dataset": {
            "generator": generator,
            "seed": args.seed,
            "sessions": sessions,
            "tutors": tutors,
            "records": counts,
            "total_records": sum(counts.values()),
            # Distinct ids: what every database holds afterwards (records sent twice, such
            # as a booking and then its outcome, are one row). The baselines insert these.
            "rows": prepared["rows"],
        },
        "targets": {
            "records_per_s": TARGET_RECORDS_PER_S,
            "ratio_to_baseline": TARGET_RATIO,
            "peak_rss_mb": TARGET_PEAK_RSS_MB,
        },
        "backends": backends,
        "passed": all(b["passed"] for b in backends.values()),
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=None, help="sessions to generate")
    parser.add_argument("--tutors", type=int, default=None, help="tutors (default 1400)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--backends",
        type=lambda text: [b.strip() for b in text.split(",") if b.strip()],
        default=list(BACKENDS),
        help="comma-separated: sqlite,postgresql",
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SESSIONS:,} sessions")
    parser.add_argument(
        "--data",
        choices=("factory", "simulator"),
        default="factory",
        help="dataset generator: benchmarks/record_factory.py (exact volume, seconds) or "
        "tutorpulse.simulator (realistic behaviour, slower, volume approximate)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TUTORPULSE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--child", choices=("import", "prepare", "baseline"), help=argparse.SUPPRESS
    )
    parser.add_argument("--child-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.backends) - set(BACKENDS)
    if unknown or not args.backends:
        parser.error(f"--backends must be among {', '.join(BACKENDS)}")
    args.argv = list(argv)
    return args


def child_main(mode: str, arguments: dict[str, Any]) -> dict[str, Any]:
    if mode == "prepare":
        return child_prepare(Path(arguments["data_dir"]), Path(arguments["rows_dir"]))
    target = Target(**arguments["target"])
    if mode == "import":
        return child_import(target, Path(arguments["data_dir"]))
    return child_baseline(target, Path(arguments["rows_dir"]), arguments["method"])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.child:
        result = child_main(args.child, orjson.loads(args.child_args))
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
        return 0
    results = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print_table(results)
    print("* = the baseline the ratio is taken against")
    print(f"results written to {args.out}")
    return 1 if args.check and not results["passed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
