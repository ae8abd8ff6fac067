"""Load test of the web app and API with locust (issue 11), on PostgreSQL, loopback only.

1. Build the database: a throwaway PostgreSQL schema, simulated marketplace (1x = 1,400
   tutors and 3,000 sessions/day; ``--scale 10`` = 14,000 tutors and 30,000/day; 45 days like
   the dashboard benchmark's 10x build), imported through the normal path, then the pipeline
   as of the last day. Accounts are created with the auth service (managers, tutors linked to
   tutor records), feedback links are signed for sessions without feedback, and session
   records for the ingest feed are cloned from the last day with new ids.
2. Start the production processes against it: ``uvicorn --workers N`` with the app
   (``benchmarks/load/server.py``) and ``tutorpulse worker pipeline`` (Redis too when
   ``TUTORPULSE_REDIS_URL`` is set).
3. Run ``locust --headless`` per step: first the baseline (an empty FastAPI route on the same
   server, for the HTTP overhead), then 20, 100 and 300 users doing the mix of
   ``benchmarks/load/locustfile.py`` (managers, tutors, students, the ingest feed at the
   scale's rate compressed ``--compression`` times), then a saturation step without think
   time. Statistics are reset once every user has signed in (``--reset-stats``), so that the
   figures are those of the steady mix. The dirty-tutor queue is sampled during each step:
   the ingest path keeps up when it does not grow.
4. Profile one API worker with py-spy during the 100-user step (flame graph to
   ``docs/img/load_profile.svg``; the other worker's collapsed stacks name the hottest
   tutorpulse functions).

Targets at 10x with 100 users: p95 < 300 ms, p99 < 1 s, zero errors, no growing backlog.
Results: ``benchmarks/results/load.json``.

    .venv/bin/python benchmarks/load.py --scale 10             # full (about 10 min to build)
    .venv/bin/python benchmarks/load.py --scale 10 --workdir /var/tmp/tp-load --keep
    .venv/bin/python benchmarks/load.py --quick                # small data, 5 and 20 users
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LOAD_DIR = BENCH_DIR / "load"
DEFAULT_OUT = BENCH_DIR / "results" / "load.json"
DEFAULT_PROFILE = REPO_ROOT / "docs" / "img" / "load_profile.svg"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BIN = Path(sys.executable).parent
TARGETS = {"p95_ms": 300.0, "p99_ms": 1000.0, "failures": 0}
TARGET_USERS = 100
SEED = 11
PASSWORD = "load-test-password-1"
BASE_SESSIONS_PER_DAY = 3000
BASE_TUTORS = 1400


# ========================================================================== the database
def postgres_url(base: str, schema: str) -> str:
    """The URL every process gets: the schema rides along as the connection's search_path."""
    from sqlalchemy.engine import make_url

    url = make_url(base)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)


@contextmanager
def schema_database(base_url: str, schema: str, keep: bool) -> Iterator[str]:
    from sqlalchemy import text

    from tutorpulse.db.engine import make_engine

    admin = make_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    try:
        yield postgres_url(base_url, schema)
    finally:
        if not keep:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def build(url: str, workdir: Path, *, tutors: int, per_day: int, days: int) -> dict[str, Any]:
    """Simulate, import and compute; skipped when the workdir says this schema is ready."""
    from sqlalchemy import func, select

    from tutorpulse.db.engine import make_engine, make_session_factory
    from tutorpulse.db.migrate import upgrade
    from tutorpulse.ingest.files import import_directory, plan_directory
    from tutorpulse.marketplace.models import TutoringSession
    from tutorpulse.pipeline.service import run_pipeline
    from tutorpulse.simulator.config import SimulationConfig
    from tutorpulse.simulator.export import generate_dataset

    marker = workdir / "database.ready"
    data_dir = workdir / "data"
    if data_dir.is_dir() and not (marker.is_file() and marker.read_text() == url):
        shutil.rmtree(data_dir)  # a half-built or other-sized dataset: simulate afresh
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    info: dict[str, Any] = {"tutors_target": tutors, "sessions_per_day": per_day, "days": days}
    # Reused only for the very same database (the schema name carries the sizes).
    if marker.is_file() and marker.read_text() == url and data_dir.is_dir():
        engine.dispose()
        return info | {"reused": True}
    started = time.perf_counter()
    config = SimulationConfig.build(seed=SEED, tutors=tutors, sessions_per_day=per_day)
    generate_dataset(config, days=days, out=data_dir)
    info["generate_seconds"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    with factory() as db:
        import_directory(
            db,
            plan=plan_directory(data_dir, source="synthetic"),
            now=datetime.now(UTC),
            chunk_size=5000,
            checkpoint=db.commit,
        )
        db.commit()
    info["import_seconds"] = round(time.perf_counter() - started, 1)
    with factory() as db:
        last = db.scalar(
            select(func.max(TutoringSession.scheduled_start)).where(
                TutoringSession.status.in_(("completed", "no_show"))
            )
        )
    if not isinstance(last, datetime):
        raise SystemExit("the simulated marketplace has no held sessions: nothing to load-test")
    started = time.perf_counter()
    with factory() as db:
        run_pipeline(db, as_of=last.date(), now=last)
        db.commit()
    info["pipeline_seconds"] = round(time.perf_counter() - started, 1)
    engine.dispose()
    marker.write_text(url)
    return info


def make_fixture(
    url: str, data_dir: Path, *, managers: int, tutors: int, ingest: dict[str, Any]
) -> dict[str, Any]:
    """Accounts (through the auth service), feedback links and the ingest feed's records."""
    from sqlalchemy import func, select

    from tutorpulse.auth import service as auth_service
    from tutorpulse.auth.models import User
    from tutorpulse.config import Settings
    from tutorpulse.dashboard import feedback
    from tutorpulse.db.engine import make_engine, make_session_factory
    from tutorpulse.marketplace.models import StudentFeedback as Feedback
    from tutorpulse.marketplace.models import Tutor, TutoringSession

    settings = Settings()
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as db:
        now = db.scalar(
            select(func.max(TutoringSession.scheduled_start)).where(
                TutoringSession.status.in_(("completed", "no_show"))
            )
        )
        assert isinstance(now, datetime)
        tutor_ids = list(db.scalars(select(Tutor.tutor_id).order_by(Tutor.tutor_id)))
        counts = {
            "tutors": len(tutor_ids),
            "sessions": int(db.scalar(select(func.count()).select_from(TutoringSession)) or 0),
        }
        accounts: dict[str, list[dict[str, str]]] = {"managers": [], "tutors": []}
        for index in range(managers):
            email = f"load-manager-{index}@example.org"
            accounts["managers"].append({"email": email, "password": PASSWORD})
            if db.scalar(select(User.id).where(User.email == email)) is None:
                auth_service.create_user(
                    db,
                    email=email,
                    role="ops_manager",
                    password=PASSWORD,
                    actor="load-test",
                    now=now,
                )
        step = max(1, len(tutor_ids) // max(1, tutors))
        for tutor_id in tutor_ids[::step][:tutors]:
            email = f"load-tutor-{tutor_id}@example.org".lower()
            accounts["tutors"].append({"email": email, "password": PASSWORD})
            if db.scalar(select(User.id).where(User.email == email)) is None:
                auth_service.create_user(
                    db,
                    email=email,
                    role="tutor",
                    password=PASSWORD,
                    tutor_id=tutor_id,
                    actor="load-test",
                    now=now,
                )
        db.commit()
        # Students answer links of the last week's held sessions that have no feedback yet.
        # NOT EXISTS, not NOT IN: PostgreSQL runs NOT IN (subquery) as a re-scan per row when
        # the subquery does not fit work_mem (10x: over 20 minutes instead of a second).
        answered = select(Feedback.session_id).where(
            Feedback.session_id == TutoringSession.session_id
        )
        pending = db.scalars(
            select(TutoringSession.session_id)
            .where(
                TutoringSession.status == "completed",
                TutoringSession.scheduled_start >= now - timedelta(days=6),
                ~answered.exists(),
            )
            .order_by(TutoringSession.session_id)
            .limit(ingest["feedback_links"])
        ).all()
        tokens = [
            feedback.make_token(
                secret_key=settings.secret_key,
                session_id=session_id,
                expires_at=now + timedelta(days=7),
            )
            for session_id in pending
        ]
    engine.dispose()
    return {
        "now": now.isoformat(),
        "dataset": counts,
        "managers": accounts["managers"],
        "tutors": accounts["tutors"],
        "tutor_ids": tutor_ids[:: max(1, len(tutor_ids) // 2000)],
        "feedback_tokens": tokens,
        "ingest_records": ingest_records(data_dir, ingest["records"]),
        "ingest": {k: ingest[k] for k in ("token", "interval_s", "batch", "sessions_per_s")},
    }


def ingest_records(data_dir: Path, count: int) -> list[dict[str, Any]]:
    """Held sessions of the last simulated day, re-sent as new sessions (fresh ids)."""
    paths = sorted(data_dir.glob("sessions*.jsonl"))
    tail: list[dict[str, Any]] = []
    for path in paths:
        with path.open("rb") as handle:
            for line in handle:
                if b'"completed"' in line:
                    tail.append(orjson.loads(line))
                    if len(tail) > 4 * max(count, 1000):
                        del tail[: len(tail) // 2]
    if not tail:
        raise SystemExit(f"no completed sessions in {data_dir}: cannot build the ingest feed")
    records = []
    run = uuid.uuid4().hex[:8]  # a reused database gets new sessions, not re-sent ones
    for index in range(count):
        record = dict(tail[-1 - index % len(tail)])
        record["session_id"] = f"load-{run}-{index:07d}"
        records.append(record)
    return records


# ========================================================================== the processes
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(url: str, workdir: Path, ingest_token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUTORPULSE_")}
    env |= {
        "TUTORPULSE_ENV": "production",
        "TUTORPULSE_DATABASE_URL": url,
        "TUTORPULSE_DATA_DIR": str(workdir / "app-data"),
        "TUTORPULSE_SECRET_KEY": os.environ["TUTORPULSE_SECRET_KEY"],
        "TUTORPULSE_INGEST_TOKEN": ingest_token,
        "TUTORPULSE_PIPELINE_CLOCK": "data",
        # Every simulated user comes from 127.0.0.1: the per-address login limit would
        # throttle the test itself, not an attacker.
        "TUTORPULSE_LOGIN_RATE_LIMIT": "1000000",
        "PYTHONHASHSEED": "0",
    }
    if os.environ.get("TUTORPULSE_REDIS_URL"):
        env["TUTORPULSE_REDIS_URL"] = os.environ["TUTORPULSE_REDIS_URL"]
    return env


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    sink = log.open("wb")
    process = subprocess.Popen(
        command,
        env=env,
        stdout=sink,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        sink.close()


def wait_ready(port: int, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/bench-empty", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the app did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def api_workers(master: subprocess.Popen) -> list[int]:
    import psutil

    # The master's children are the API workers, plus multiprocessing's resource tracker.
    return [
        child.pid
        for child in psutil.Process(master.pid).children(recursive=False)
        if "resource_tracker" not in " ".join(child.cmdline())
    ]


# ================================================================================ a step
class BacklogSampler:
    """Dirty-tutor queue depth every ``interval`` seconds while a step runs."""

    def __init__(self, url: str, interval: float = 2.0) -> None:
        from tutorpulse.db.engine import make_engine

        self.engine = make_engine(url)
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def depth(self) -> int:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return int(connection.scalar(text("SELECT count(*) FROM dirty_tutors")) or 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.depth())
            self._stop.wait(self.interval)

    def __enter__(self) -> BacklogSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.depth())
        self.engine.dispose()


def wait_settled(
    url: str, worker: subprocess.Popen, worker_log: Path, *, timeout: float
) -> dict[str, Any]:
    """Wait until the pipeline worker has finished its start-up full recompute and drained
    the dirty queue left by the bulk import, so that the steps measure the steady state
    (at 10x both take minutes of CPU: measured inside the steps, they swamped every figure)."""
    sampler = BacklogSampler(url)
    started = time.monotonic()
    first = sampler.depth()
    depth = first
    while time.monotonic() - started < timeout:
        if worker.poll() is not None:
            raise SystemExit(f"the pipeline worker died:\n{worker_log.read_text()[-3000:]}")
        depth = sampler.depth()
        if depth == 0 and "job full finished" in worker_log.read_text(errors="replace"):
            sampler.engine.dispose()
            seconds = round(time.monotonic() - started, 1)
            print(f"worker settled after {seconds} s (dirty queue was {first})", flush=True)
            return {"seconds": seconds, "dirty_at_start": first}
        time.sleep(5)
    sampler.engine.dispose()
    raise SystemExit(
        f"the pipeline worker did not settle within {timeout:.0f} s (dirty queue {depth})"
    )


def run_locust(
    *,
    port: int,
    users: int,
    duration: int,
    classes: Sequence[str],
    csv_prefix: Path,
    env: dict[str, str],
) -> dict[str, Any]:
    spawn_rate = max(1, min(users, 50))
    # The locustfile measures ``duration`` seconds after the last sign-in and then stops the
    # run; ``-t`` is only the cap (spawning plus sign-ins, argon2 being slow on purpose).
    cap = duration + warmup_for(users)
    stats_path = Path(f"{csv_prefix}_steady.json")
    stats_path.unlink(missing_ok=True)
    env = env | {
        "TP_LOAD_STATS": str(stats_path),
        "TP_LOAD_DURATION": str(duration),
        "TP_LOAD_WINDOW_FILE": f"{csv_prefix}_window",
    }
    command = [
        str(BIN / "locust"),
        "-f", str(LOAD_DIR / "locustfile.py"),
        "--headless", "--only-summary",
        "-u", str(users), "-r", str(spawn_rate),
        "-t", f"{cap}s",
        "--stop-timeout", "10",
        "--host", f"http://127.0.0.1:{port}",
        "--csv", str(csv_prefix),
        "--exit-code-on-error", "0",
        *classes,
    ]  # fmt: skip
    log = csv_prefix.with_suffix(".log")
    with log.open("wb") as sink:
        completed = subprocess.run(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
            timeout=cap + 300, check=False,
        )  # fmt: skip
    if completed.returncode != 0:
        raise SystemExit(f"locust failed ({completed.returncode}):\n{log.read_text()[-3000:]}")
    if not stats_path.is_file():
        raise SystemExit(f"locust wrote no statistics:\n{log.read_text()[-3000:]}")
    steady: dict[str, Any] = orjson.loads(stats_path.read_bytes())
    # Locust's own figures over the whole step, sign-ins included, for reference.
    steady["locust_all_requests"] = read_stats(Path(f"{csv_prefix}_stats.csv"))["aggregate"]
    return steady


def read_stats(stats_csv: Path) -> dict[str, Any]:
    """Per-route and aggregated figures from locust's ``--csv`` output."""

    def figures(row: dict[str, str]) -> dict[str, Any]:
        def number(key: str) -> float | None:
            value = row.get(key, "")
            return None if value in ("", "N/A") else float(value)

        return {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps": round(number("Requests/s") or 0.0, 2),
            "p50_ms": number("50%"),
            "p95_ms": number("95%"),
            "p99_ms": number("99%"),
            "max_ms": number("Max Response Time"),
        }

    with stats_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    routes = {row["Name"]: figures(row) for row in rows if row["Name"] != "Aggregated"}
    aggregate = next((figures(r) for r in rows if r["Name"] == "Aggregated"), None)
    if aggregate is None:
        raise SystemExit(f"{stats_csv} has no Aggregated row")
    return {"aggregate": aggregate, "routes": routes}


# ================================================================================ profile
@contextmanager
def profiling(
    workers: list[int], duration: int, window: Path, svg: Path, workdir: Path
) -> Iterator[dict]:
    """py-spy on the API workers for ``duration`` s: an SVG of one, collapsed stacks of all.

    py-spy starts when the locustfile opens the measuring window (creates ``window``): the
    sign-ins before it are argon2-bound and would fill the flame graph.
    """
    found: dict[str, Any] = {}
    spy = BIN / "py-spy"
    if not workers or not spy.is_file():
        yield found
        return
    svg.parent.mkdir(parents=True, exist_ok=True)
    window.unlink(missing_ok=True)
    wait = f'while [ ! -e "{window}" ]; do sleep 0.2; done; exec "$0" "$@"'
    seconds = str(max(1, duration - 1))
    commands = [["sh", "-c", wait, str(spy), "record", "--nonblocking", "-r", "50", "-d", seconds]]
    jobs = [
        subprocess.Popen(
            [*commands[0], "-p", str(workers[0]), "-o", str(svg)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    raw_files = []
    for pid in workers:
        raw = workdir / f"profile-{pid}.txt"
        raw_files.append(raw)
        jobs.append(
            subprocess.Popen(
                [*commands[0], "-p", str(pid), "-f", "raw", "-o", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    try:
        yield found
    finally:
        for job in jobs:
            try:
                job.wait(timeout=duration + 60)
            except subprocess.TimeoutExpired:
                job.terminate()
                job.wait()
        found |= hottest(raw_files)
        if svg.is_file():
            found["svg"] = (
                str(svg.relative_to(REPO_ROOT)) if svg.is_relative_to(REPO_ROOT) else str(svg)
            )


def hottest(raw_files: Sequence[Path], top: int = 8) -> dict[str, Any]:
    """Share of samples per function: inclusive for tutorpulse code, self time for all."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for path in raw_files:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            frames = [f.strip() for f in stack.split(";")]
            if frames:
                own[frames[-1]] = own.get(frames[-1], 0) + count
            for frame in {f for f in frames if "tutorpulse" in f}:
                inclusive[frame] = inclusive.get(frame, 0) + count
    if not total:
        return {}

    def ranked(table: dict[str, int]) -> list[dict[str, Any]]:
        best = sorted(table.items(), key=lambda item: -item[1])[:top]
        return [{"frame": name, "share": round(n / total, 3)} for name, n in best]

    return {"samples": total, "self_time": ranked(own), "tutorpulse_inclusive": ranked(inclusive)}


# =================================================================================== main
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=10, help="data volume: 1 or 10 (default)")
    parser.add_argument("--days", type=int, help="simulated days (default 45; quick 14)")
    parser.add_argument("--tutors", type=int, help="override the scale's tutor count")
    parser.add_argument("--sessions-per-day", type=int, help="override the scale's volume")
    parser.add_argument("--users", default="20,100,300", help="user counts, one step each")
    parser.add_argument("--duration", type=int, default=60, help="seconds per step")
    parser.add_argument("--saturation-users", type=int, default=60, help="users without think time")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="API processes")
    parser.add_argument(
        "--compression", type=float, default=1.0,
        help="ingest feed: simulated seconds per real second (1, the default: the scale's own "
        "rate, e.g. 30,000 sessions/day at 10x; 60: an hour of traffic a minute, a stress test)",
    )  # fmt: skip
    parser.add_argument(
        "--settle-timeout", type=float, default=1800.0,
        help="seconds to wait for the worker's start-up recompute and backlog before the steps",
    )  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true", help="150 tutors, 14 days, 5/20 users, 10 s"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy")
    parser.add_argument(
        "--workdir", type=Path, help="keep the data here (with --keep, the next run reuses it)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument(
        "--build-only", action="store_true",
        help="build the database and fixture, then stop (with --workdir and --keep, so that "
        "a later run on a quiet machine measures without rebuilding)",
    )  # fmt: skip
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TUTORPULSE_BENCH_POSTGRES_URL")
        or os.environ.get("TUTORPULSE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--profile-out", type=Path, default=DEFAULT_PROFILE)
    args = parser.parse_args(argv)
    try:
        args.user_steps = [int(u) for u in args.users.split(",") if u.strip()]
    except ValueError:
        parser.error(f"--users must be comma-separated integers, got {args.users!r}")
    if not args.user_steps or min(args.user_steps) < 1:
        parser.error("--users needs at least one positive count")
    if args.build_only and not (args.workdir and args.keep):
        parser.error("--build-only needs --workdir and --keep (else the build is thrown away)")
    if args.quick:
        args.scale = 1
        args.days = args.days or 14
        args.duration = 10 if args.duration == 60 else args.duration
        args.saturation_users = 10 if args.saturation_users == 60 else args.saturation_users
        args.user_steps = [5, 20] if args.users == "20,100,300" else args.user_steps
    args.days = args.days or 45
    args.tutors = args.tutors or (150 if args.quick else BASE_TUTORS * args.scale)
    args.sessions_per_day = args.sessions_per_day or (
        300 if args.quick else BASE_SESSIONS_PER_DAY * args.scale
    )
    numbers = (args.scale, args.duration, args.workers, args.tutors, args.sessions_per_day)
    if min(numbers) < 1 or args.days < 2 or args.saturation_users < 1:
        parser.error(
            "--scale, --duration, --workers, --tutors, --sessions-per-day and "
            "--saturation-users must be positive, --days at least 2"
        )
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    load_start = os.getloadavg()
    tutors, per_day = args.tutors, args.sessions_per_day
    # The ingest feed runs at the scale's real rate (quick: the 1x rate), time-compressed.
    feed_per_day = BASE_SESSIONS_PER_DAY * args.scale
    sessions_per_s = feed_per_day / 86_400 * args.compression
    interval = 2.0
    batch = max(1, round(sessions_per_s * interval))
    # Enough feed for every step at its longest (the cap) plus the saturation step.
    steps_seconds = sum(args.duration + warmup_for(u) for u in args.user_steps) + args.duration
    ingest = {
        "token": secrets.token_urlsafe(32),
        "interval_s": interval,
        "batch": batch,
        "sessions_per_s": round(sessions_per_s, 2),
        "records": math.ceil(batch * steps_seconds / interval) + batch,
        "feedback_links": 20 * max(args.user_steps) * max(1, args.duration // 10),
    }
    own_workdir = args.workdir is None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tp-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # One secret per database: PII columns are encrypted with keys derived from it and the
    # feedback links are signed with it, so the builder, the app and the worker share it
    # (and a reused --workdir keeps it).
    secret_file = workdir / "secret_key"
    if not secret_file.is_file():
        secret_file.write_text(secrets.token_urlsafe(32))
    os.environ["TUTORPULSE_SECRET_KEY"] = secret_file.read_text().strip()
    os.environ["TUTORPULSE_ENV"] = "production"
    os.environ.pop("TUTORPULSE_DATABASE_URL", None)
    schema = f"tp_load_{args.tutors}t_{args.sessions_per_day}s_{args.days}d"
    if own_workdir:
        schema += f"_{uuid.uuid4().hex[:6]}"
    try:
        with schema_database(args.postgres_url, schema, keep=args.keep) as url:
            print(f"building {schema} ({tutors} tutors, {per_day}/day, {args.days} days)")
            build_info = build(url, workdir, tutors=tutors, per_day=per_day, days=args.days)
            fixture = make_fixture(url, workdir / "data", managers=40, tutors=80, ingest=ingest)
            fixture_path = workdir / "fixture.json"
            fixture_path.write_bytes(orjson.dumps(fixture))
            if args.build_only:
                print(f"built: {orjson.dumps(build_info).decode()}; measure with --workdir")
                return 0
            result = run_steps(args, url, workdir, fixture, fixture_path)
            result["build"] = build_info
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not args.keep:  # the schema is gone: the next run must build it again
            (workdir / "database.ready").unlink(missing_ok=True)
    result |= {
        "benchmark": "load",
        "command": " ".join(["benchmarks/load.py", *args.argv]),
        "git_commit": _git_commit(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        },
        "scale": args.scale,
        "quick": args.quick,
        "database": "postgresql",
        "dataset": fixture["dataset"] | {"days": args.days},
        "targets": TARGETS | {"users": TARGET_USERS, "scale": 10},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    for step in result["steps"]:
        agg = step["aggregate"]
        print(
            f"{step['users']:>4} users: {agg['requests']} requests, {agg['rps']} req/s, "
            f"p50 {agg['p50_ms']} p95 {agg['p95_ms']} p99 {agg['p99_ms']} ms, "
            f"{agg['failures']} errors; dirty queue {step['backlog']['start']} -> "
            f"{step['backlog']['end']} (max {step['backlog']['max']})"
        )
    print(f"saturation: {result['saturation']}")
    print(f"results written to {args.out}")
    return 0


def run_steps(
    args: argparse.Namespace,
    url: str,
    workdir: Path,
    fixture: dict[str, Any],
    fixture_path: Path,
) -> dict[str, Any]:
    port = free_port()
    env = server_env(url, workdir, fixture["ingest"]["token"])
    locust_env = {**os.environ, "TP_LOAD_FIXTURE": str(fixture_path), "TP_LOAD_SEED": str(SEED)}
    app_command = [
        str(BIN / "uvicorn"), "--factory", "--app-dir", str(LOAD_DIR), "server:app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    worker_command = [str(BIN / "tutorpulse"), "worker", "pipeline"]
    steps: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "server": {
            "workers": args.workers,
            "redis": bool(env.get("TUTORPULSE_REDIS_URL")),
            "command": "uvicorn --factory benchmarks/load/server.py:app --workers "
            f"{args.workers} + tutorpulse worker pipeline",
        },
        "ingest": fixture["ingest"] | {"compression": args.compression},
    }
    app_log, worker_log = workdir / "app.log", workdir / "worker.log"
    with (
        running(app_command, env, app_log) as app,
        running(worker_command, env, worker_log) as worker,
    ):
        wait_ready(port, app, app_log)
        time.sleep(2)  # every worker process past its start-up
        result["warm_up"] = wait_settled(url, worker, worker_log, timeout=args.settle_timeout)
        baseline = run_locust(
            port=port, users=20, duration=max(5, args.duration // 2), classes=["BaselineUser"],
            csv_prefix=workdir / "baseline", env=locust_env,
        )  # fmt: skip
        result["baseline"] = baseline["aggregate"] | {"users": 20}
        mix = ["ManagerUser", "TutorUser", "StudentUser", "IngestClient"]
        profile_step = min(args.user_steps, key=lambda u: abs(u - TARGET_USERS))
        links = len(fixture["feedback_tokens"]) // len(args.user_steps)
        for index, users in enumerate(args.user_steps):
            step_env = locust_env | {"TP_LOAD_LINKS": f"{index * links}:{(index + 1) * links}"}
            profile_ctx = (
                profiling(
                    api_workers(app),
                    args.duration,
                    workdir / f"step-{users}_window",
                    args.profile_out,
                    workdir,
                )
                if users == profile_step and not args.no_profile
                else _nothing()
            )
            with BacklogSampler(url) as backlog, profile_ctx as profile:
                stats = run_locust(
                    port=port, users=users, duration=args.duration, classes=mix,
                    csv_prefix=workdir / f"step-{users}", env=step_env,
                )  # fmt: skip
            if worker.poll() is not None:
                raise SystemExit(f"the pipeline worker died:\n{worker_log.read_text()[-3000:]}")
            step = {"users": users, "duration_s": args.duration} | stats
            step["backlog"] = backlog_figures(backlog.samples, fixture["ingest"]["batch"])
            step["ingest"] = {
                "sessions": stats["routes"].get("POST /ingest/sessions", {}).get("requests", 0)
                * fixture["ingest"]["batch"]
            }
            agg = stats["aggregate"]
            if args.scale >= 10 and users == TARGET_USERS:
                step["checks"] = {
                    "p95": (agg["p95_ms"] or 0) < TARGETS["p95_ms"],
                    "p99": (agg["p99_ms"] or 0) < TARGETS["p99_ms"],
                    "errors": agg["failures"] == 0,
                    "backlog": step["backlog"]["keeps_up"],
                }
            else:
                step["checks"] = {
                    "errors": agg["failures"] == 0,
                    "backlog": step["backlog"]["keeps_up"],
                }
            if profile:
                result["profile"] = profile.get("svg")
                result["profile_hotspots"] = profile
            steps.append(step)
        saturation = run_locust(
            port=port, users=args.saturation_users, duration=args.duration,
            classes=["ManagerUser", "TutorUser"], csv_prefix=workdir / "saturation",
            env=locust_env | {"TP_LOAD_THINK": "0"},
        )  # fmt: skip
    result["steps"] = steps
    best = max([*steps, {"users": args.saturation_users} | saturation], key=_rps)
    result["saturation"] = {
        "rps": _rps(best),
        "users": best["users"],
        "no_think_time": saturation["aggregate"] | {"users": args.saturation_users},
        "note": "The highest throughput of any step; the no-think-time step has every user "
        "send its next request as soon as the last one returns.",
    }
    largest = steps[-1]["routes"]
    # Sign-ins happen before the window (a storm of argon2 checks): reported per step only.
    result["slowest_routes"] = sorted(
        (
            {"name": name} | figures
            for name, figures in largest.items()
            if figures["p95_ms"] and name != "POST /auth/login"
        ),
        key=lambda r: -(r["p95_ms"] or 0),
    )[:5]
    result["bottleneck"] = bottleneck_note(result)
    return result


def warmup_for(users: int) -> int:
    """Seconds allowed for spawning and signing in: ~1 s of argon2 per sign-in on a loaded
    2-core machine, generously (only a cap: measuring starts after the last sign-in)."""
    spawn_rate = max(1, min(users, 50))
    return math.ceil(users / spawn_rate) + 30 + users


def _rps(step: dict[str, Any]) -> float:
    return float(step["aggregate"]["rps"])


@contextmanager
def _nothing() -> Iterator[dict[str, Any]]:
    yield {}


def backlog_figures(samples: list[int], batch: int) -> dict[str, Any]:
    """Start, end and max of the dirty queue; it keeps up when the end is not above the start
    by more than one ingest batch's worth of tutors (a batch may land just before the sample)."""
    if not samples:
        return {"samples": 0, "keeps_up": False}
    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    growth = sum(last) / len(last) - sum(first) / len(first)
    return {
        "samples": len(samples),
        "start": samples[0],
        "end": samples[-1],
        "max": max(samples),
        "growth": round(growth, 1),
        "keeps_up": samples[-1] <= samples[0] + batch,
    }


def bottleneck_note(result: dict[str, Any]) -> str:
    spots = result.get("profile_hotspots", {}).get("tutorpulse_inclusive", [])
    slow = result.get("slowest_routes", [])
    parts = []
    if slow:
        parts.append(
            f"slowest route at the largest step: {slow[0]['name']} (p95 {slow[0]['p95_ms']} ms)"
        )
    if spots:
        named = ", ".join(f"{s['frame']} {100 * s['share']:.0f}%" for s in spots[:3])
        parts.append(f"most sampled tutorpulse code in the API workers: {named}")
    return "; ".join(parts) + ("." if parts else "")


def _git_commit() -> str | None:
    completed = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )
    return completed.stdout.strip() or None


if __name__ == "__main__":
    raise SystemExit(main())
