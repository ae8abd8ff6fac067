"""Ingest-to-dashboard latency (issue 10), with the production processes on PostgreSQL + Redis.

1. A throwaway PostgreSQL schema; the simulator backfills ``--days`` days of a marketplace at
   ``--scale`` (1x = 3,000 sessions a day, 10x = 30,000) through its normal ingest path.
2. Real processes against it: ``tutorpulse serve`` (the API and UI), ``tutorpulse worker
   pipeline`` (data clock, so the windows follow the simulated time) and ``tutorpulse worker
   simulator`` (live mode at ``--speed`` simulated seconds per real second, through
   ``TUTORPULSE_SIMULATOR_SPEED``: 1 = real time, the marketplace's own load; 1440 = the
   demo's one simulated day per real minute, a 1440-fold stress), with
   ``TUTORPULSE_REDIS_URL`` set so that commits publish their "re-read now" signal.
3. After the pipeline worker's first full recompute, probes: each probe POSTs one completed
   session through ``POST /api/v1/ingest/sessions`` (an API token, like any client) for a
   probe tutor that only the benchmark writes to, then reads the tutor's profile through the
   API every 50 ms until its 30-day metrics include the session. Latency = from sending the
   POST to the first profile that shows it (the pipeline worker recomputed the tutor's
   metrics, flags and score and committed).

Targets: p95 < 5 s at 1x, < 15 s at 10x. Results: ``benchmarks/results/latency.json``.

    .venv/bin/python benchmarks/latency.py --quick          # 1x, 3 days backfilled, 12 probes
    .venv/bin/python benchmarks/latency.py                  # 1x, 7 days, 40 probes
    .venv/bin/python benchmarks/latency.py --scale 10       # 10x (long backfill)
    .venv/bin/python benchmarks/latency.py --quick --speed 1440   # stress: demo pace
    # probes overlapping full recomputes on purpose: a full run after every 15-s tick
    .venv/bin/python benchmarks/latency.py --quick --speed 60 --start-hour 10 --probes 30
    # 10x: backfill once and keep it, then measure (again) on the kept schema and data dir
    .venv/bin/python benchmarks/latency.py --scale 10 --keep       # prints schema + data dir
    .venv/bin/python benchmarks/latency.py --scale 10 --reuse-schema tp_latency_... \
        --data-dir /tmp/tp-latency-...

``probes_overlapping_a_full_run``: probes whose wait overlapped a full recompute or nightly
rollup (start and end from the pipeline worker's log).

PostgreSQL comes from ``--database-url`` or ``TUTORPULSE_TEST_POSTGRES_URL``; Redis from
``--redis-url`` or ``TUTORPULSE_TEST_REDIS_URL`` (omit both to run without Redis).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "latency.json"
TARGET_P95_SECONDS = {1: 5.0, 10: 15.0}
BASE_SESSIONS_PER_DAY = 3000
START = date(2025, 1, 6)
PROBE_TUTOR = "latency-probe-tutor"
PROBE_STUDENT = "latency-probe-student"
READ_EVERY_SECONDS = 0.05
PROBE_TIMEOUT_SECONDS = 120.0
DAY = 86_400


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=REPO_ROOT
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def schema_database(base_url: str, keep: bool, reuse: str | None = None) -> Iterator[str]:
    """A private schema on the server; every process gets it as its search_path.

    ``reuse``: a schema kept by an earlier ``--keep`` run (backfilled already), kept again."""
    from tutorpulse.db.engine import make_engine

    schema = reuse or f"tp_latency_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base_url)
    if reuse is None:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        if keep or reuse:
            print(f"kept schema {schema}", flush=True)
        else:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def backfill(
    env: dict[str, str], *, scale: int, days: int, seed: int, start_hour: int = 0
) -> dict[str, Any]:
    """Migrations, then the simulator's own backfill (state kept for its live worker)."""
    from tutorpulse.config import Settings
    from tutorpulse.db.migrate import upgrade
    from tutorpulse.simulator.live import SimulationArguments, open_runner

    settings = Settings(
        env="test",
        database_url=env["TUTORPULSE_DATABASE_URL"],
        data_dir=Path(env["TUTORPULSE_DATA_DIR"]),
    )
    from tutorpulse.db.engine import make_engine

    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    started = time.perf_counter()
    arguments = SimulationArguments(
        seed=seed, start=START, sessions_per_day=BASE_SESSIONS_PER_DAY * scale
    )
    runner = open_runner(settings=settings, arguments=arguments)
    runner.backfill_until(runner.simulator.start_seconds + days * DAY + start_hour * 3600 - 1)
    from tutorpulse.marketplace.models import Tutor, TutoringSession

    with Session(engine) as db:
        counts = {
            "tutors": db.scalar(select(func.count()).select_from(Tutor)),
            "sessions": db.scalar(select(func.count()).select_from(TutoringSession)),
        }
    engine.dispose()
    return {"seconds": round(time.perf_counter() - started, 1), "records": counts}


def reuse_backfilled(env: dict[str, str]) -> dict[str, Any]:
    """A kept schema: migrations brought up to date, the backfill itself skipped."""
    from tutorpulse.db.engine import make_engine
    from tutorpulse.db.migrate import upgrade
    from tutorpulse.marketplace.models import Tutor, TutoringSession

    engine = make_engine(env["TUTORPULSE_DATABASE_URL"])
    upgrade(engine)
    with Session(engine) as db:
        counts = {
            "tutors": db.scalar(select(func.count()).select_from(Tutor)),
            "sessions": db.scalar(select(func.count()).select_from(TutoringSession)),
        }
    engine.dispose()
    if not counts["tutors"]:
        raise SystemExit("the reused schema holds no tutors: backfill it with --keep first")
    return {"seconds": 0.0, "reused": True, "records": counts}


class Processes:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        cli = Path(sys.executable).with_name("tutorpulse")
        log = (self.workdir / f"{name}.log").open("wb")
        self.running[name] = subprocess.Popen(
            [str(cli), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def check(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self) -> None:
        for process in self.running.values():
            process.terminate()
        for process in self.running.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def staff_token(database_url: str) -> str:
    from tutorpulse.auth import service as auth_service
    from tutorpulse.auth.models import User
    from tutorpulse.db.engine import make_engine

    engine = make_engine(database_url)
    with Session(engine) as db:
        user = User(email=f"latency-{uuid.uuid4().hex[:6]}@example.org", role="ops_manager")
        user.is_active = True
        db.add(user)
        db.flush()
        token, _ = auth_service.start_session(
            db,
            user=user,
            method="benchmark",
            ip="127.0.0.1",
            now=datetime.now(UTC),
            lifetime=timedelta(hours=6),
        )
        db.commit()
    engine.dispose()
    return token


START_UP_JOBS = ("full", "nightly")  # due at once when a worker starts: warm-up, not steady


def wait_for_first_full_run(
    database_url: str, processes: Processes, timeout: float, after_id: int = 0
) -> float:
    from tutorpulse.db.engine import make_engine
    from tutorpulse.events.models import OutboxMessage

    engine = make_engine(database_url)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < timeout:
            processes.check()
            with Session(engine) as db:
                done = set(
                    db.scalars(
                        select(OutboxMessage.payload["job"].as_string()).where(
                            OutboxMessage.topic == "job.completed", OutboxMessage.id > after_id
                        )
                    )
                )
            if done.issuperset(START_UP_JOBS):
                return round(time.perf_counter() - started, 1)
            time.sleep(1)
    finally:
        engine.dispose()
    raise SystemExit("the pipeline worker's start-up recomputes did not finish in time")


def settle_baseline(database_url: str, workdir: Path) -> tuple[dict[Path, float], int, datetime]:
    """Taken before the simulator starts: its cursor files, the newest outbox id, the time."""
    cursor = workdir / "simulator"
    files = {p: p.stat().st_mtime for p in cursor.rglob("cursor.json")}
    return files, newest_outbox_id(database_url), simulated_now(database_url)


def wait_for_settled_queue(
    database_url: str,
    processes: Processes,
    baseline: tuple[dict[Path, float], int, datetime],
    timeout: float,
) -> float:
    """Warm-up: the simulator's first live tick delivered and its dirty tutors recomputed.

    Its first tick starts a new simulated day with all of that day's bookings, a burst the
    pipeline works through in 500-tutor batches; and as the pipeline runs on the data clock,
    the tick may move its time past the next 15-minute mark (a full recompute follows) and
    midnight (the nightly rollup). Steady state begins after those.
    """
    from tutorpulse.db.engine import make_engine
    from tutorpulse.events.models import DirtyTutor

    engine = make_engine(database_url)
    cursor = Path(processes.env["TUTORPULSE_DATA_DIR"]) / "simulator"
    started = time.perf_counter()
    before, newest, clock_before = baseline
    try:
        while time.perf_counter() - started < timeout:
            processes.check()
            ticked = any(p.stat().st_mtime != before.get(p) for p in cursor.rglob("cursor.json"))
            with Session(engine) as db:
                queued = db.scalar(select(func.count()).select_from(DirtyTutor)) or 0
            if ticked and not queued:
                # The recomputes the tick's new data time makes due (data clock).
                moved = simulated_now(database_url)
                due = int(moved - clock_before >= timedelta(minutes=15))
                due += int(moved.date() != clock_before.date())
                if full_runs_after(database_url, newest) >= due:
                    return round(time.perf_counter() - started, 1)
            time.sleep(0.5)
    finally:
        engine.dispose()
    raise SystemExit("the pipeline did not catch up with the simulator's first tick")


def newest_outbox_id(database_url: str) -> int:
    """The newest outbox id: job runs after it happened during the probes."""
    from tutorpulse.db.engine import make_engine
    from tutorpulse.events.models import OutboxMessage

    engine = make_engine(database_url)
    with Session(engine) as db:
        newest = int(db.scalar(select(func.max(OutboxMessage.id))) or 0)
    engine.dispose()
    return newest


def full_runs_after(database_url: str, outbox_id: int) -> int:
    """Full recomputes completed while probing (each holds the single worker for a while)."""
    from tutorpulse.db.engine import make_engine
    from tutorpulse.events.models import OutboxMessage

    engine = make_engine(database_url)
    with Session(engine) as db:
        count = db.scalar(
            select(func.count()).where(
                OutboxMessage.id > outbox_id,
                OutboxMessage.topic == "job.completed",
                OutboxMessage.payload["job"].as_string().in_(START_UP_JOBS),
            )
        )
    engine.dispose()
    return int(count or 0)


def simulated_now(database_url: str) -> datetime:
    from tutorpulse.db.engine import make_engine
    from tutorpulse.marketplace.models import TutoringSession

    engine = make_engine(database_url)
    with Session(engine) as db:
        # The pipeline's data clock: the latest held or missed session (not future bookings).
        latest = db.scalar(
            select(func.max(TutoringSession.scheduled_start)).where(
                TutoringSession.status.in_(("completed", "no_show"))
            )
        )
    engine.dispose()
    assert isinstance(latest, datetime)
    return latest if latest.tzinfo else latest.replace(tzinfo=UTC)


def sessions_in_30_days(profile: dict[str, Any]) -> int:
    for window in profile.get("metrics", []):
        if window.get("window_days") == 30:
            return int(window.get("sessions_completed", 0))
    return 0


def probe_session(session_id: str, start: datetime) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "tutor_id": PROBE_TUTOR,
        "student_id": PROBE_STUDENT,
        "session_number": 1,
        "scheduled_start": start.isoformat().replace("+00:00", "Z"),
        "actual_start": start.isoformat().replace("+00:00", "Z"),
        "duration_minutes": 60,
        "subject": "Mathematics",
        "session_type": "1-on-1",
        "tutor_initiated_reschedule": False,
        "no_show": False,
        "late_start_minutes": 0,
        "engagement_score": 0.8,
        "student_rating": 4.5,
        "student_feedback_text": "Helpful",
        "learning_objectives_met": True,
        "technical_issues": False,
    }


def run_probes(
    client: httpx.Client,
    *,
    token: str,
    staff: str,
    database_url: str,
    probes: int,
    seed: int,
    processes: Processes,
    post_seconds: list[float],
    windows: list[tuple[float, float]],
) -> list[float]:
    ingest = {"Authorization": f"Bearer {token}"}
    read = {"Authorization": f"Bearer {staff}"}
    onboarded = (simulated_now(database_url) - timedelta(days=60)).date().isoformat()
    tutor = {
        "tutor_id": PROBE_TUTOR,
        "name": "Latency Probe",
        "email": "latency-probe@example.org",
        "onboarding_date": onboarded,
        "subjects": ["Mathematics"],
        "education_level": "Master",
        "location": "London, UK",
        "baseline_sessions_per_week": 10,
    }
    student = {
        "student_id": PROBE_STUDENT,
        "name": "Probe Student",
        "age": 16,
        "grade_level": "11",
        "subjects_interested": ["Mathematics"],
    }
    for kind, record in (("tutors", tutor), ("students", student)):
        response = client.post(f"/api/v1/ingest/{kind}", json=[record], headers=ingest)
        response.raise_for_status()
    rng = random.Random(seed)
    latencies: list[float] = []
    post_seconds.clear()
    expected = None
    for index in range(probes):
        processes.check()
        if expected is None:  # the probe tutor's own figures, once the pipeline has seen it
            expected = _wait_profile(client, read, lambda _: True)
        # A session that just ended, in simulated time (the pipeline's data clock).
        start = simulated_now(database_url) - timedelta(hours=1)
        record = probe_session(f"latency-probe-{index}-{uuid.uuid4().hex[:6]}", start)
        sent = time.perf_counter()
        sent_wall = time.time()
        response = client.post("/api/v1/ingest/sessions", json=[record], headers=ingest)
        response.raise_for_status()
        post_seconds.append(time.perf_counter() - sent)
        if response.json().get("inserted") != 1:
            raise SystemExit(f"probe {index} was not stored: {response.text}")
        target = expected + 1
        seen = _wait_profile(client, read, lambda count, t=target: count >= t)  # type: ignore[misc]
        latencies.append(time.perf_counter() - sent)
        windows.append((sent_wall, time.time()))
        expected = seen
        print(f"  probe {index + 1}/{probes}: {latencies[-1]:.2f} s", flush=True)
        time.sleep(rng.uniform(0.5, 2.0))  # spread the probes over the pipeline's cycle
    return latencies


def _wait_profile(client: httpx.Client, headers: dict[str, str], done: Any) -> int:
    deadline = time.perf_counter() + PROBE_TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        response = client.get(f"/api/v1/tutors/{PROBE_TUTOR}", headers=headers)
        if response.status_code == 200:
            count = sessions_in_30_days(response.json())
            if done(count):
                return count
        time.sleep(READ_EVERY_SECONDS)
    raise SystemExit(f"the probe did not show up within {PROBE_TIMEOUT_SECONDS:.0f} s")


def scheduled_job_runs(log_path: Path) -> list[tuple[str, float, float]]:
    """(job, start, end) in wall-clock seconds of the full and nightly recomputes, from the
    pipeline worker's JSON log ("job full started" ... "job full finished in 4.1 s")."""
    started: dict[str, float] = {}
    runs: list[tuple[str, float, float]] = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        words = str(entry.get("message", "")).split()
        if len(words) < 3 or words[0] != "job" or words[1] not in START_UP_JOBS:
            continue
        at = datetime.fromisoformat(entry["time"]).timestamp()
        if words[2] == "started":
            started[words[1]] = at
        elif words[2] == "finished" and words[1] in started:
            runs.append((words[1], started.pop(words[1]), at))
    now = time.time()
    runs.extend((job, at, now) for job, at in started.items())  # still running at the end
    return runs


def overlapping(
    windows: list[tuple[float, float]], runs: list[tuple[str, float, float]]
) -> list[int]:
    """Probes (indices) whose wait (POST sent -> shown) overlapped a full recompute or
    nightly rollup."""
    return [
        index
        for index, (sent, seen) in enumerate(windows)
        if any(start < seen and sent < end for _, start, end in runs)
    ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run(args: argparse.Namespace) -> dict[str, Any]:
    base_url = args.database_url or os.environ.get("TUTORPULSE_TEST_POSTGRES_URL")
    if not base_url:
        raise SystemExit("PostgreSQL needed: --database-url or TUTORPULSE_TEST_POSTGRES_URL")
    redis_url = args.redis_url or os.environ.get("TUTORPULSE_TEST_REDIS_URL")
    if args.reuse_schema and not args.data_dir:
        raise SystemExit("--reuse-schema needs --data-dir (the simulator's state of that run)")
    workdir = args.data_dir or Path(tempfile.mkdtemp(prefix="tp-latency-"))
    token = secrets.token_urlsafe(24)
    with schema_database(base_url, args.keep, args.reuse_schema) as database_url:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("TUTORPULSE_")
        } | {
            "TUTORPULSE_ENV": "test",
            "TUTORPULSE_DATABASE_URL": database_url,
            "TUTORPULSE_DATA_DIR": str(workdir),
            "TUTORPULSE_INGEST_TOKEN": token,
            "TUTORPULSE_PIPELINE_CLOCK": "data",
            "TUTORPULSE_SIMULATOR_SPEED": str(args.speed),
        }
        if args.full_every:
            env["TUTORPULSE_PIPELINE_FULL_EVERY_SECONDS"] = str(args.full_every)
        if redis_url:
            env["TUTORPULSE_REDIS_URL"] = redis_url
        if args.reuse_schema:
            built = reuse_backfilled(env)
        else:
            print(f"backfilling {args.days} days at {args.scale}x ...", flush=True)
            built = backfill(
                env, scale=args.scale, days=args.days, seed=args.seed, start_hour=args.start_hour
            )
        print(f"  {built}  (data dir {workdir})", flush=True)
        port = _free_port()
        processes = Processes(env, workdir)
        try:
            processes.start("web", "serve", "--port", str(port), "--workers", str(args.workers))
            before_start = newest_outbox_id(database_url)
            processes.start("pipeline", "worker", "pipeline")
            print("waiting for the pipeline worker's start-up recomputes ...", flush=True)
            first_full = wait_for_first_full_run(
                database_url, processes, timeout=3600, after_id=before_start
            )
            baseline = settle_baseline(database_url, workdir)
            processes.start("simulator", "worker", "simulator")
            print("waiting for the simulator's first tick to be recomputed ...", flush=True)
            settle = wait_for_settled_queue(database_url, processes, baseline, timeout=1800)
            staff = staff_token(database_url)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                for _ in range(600):
                    processes.check()
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.5)
                ready = client.get("/readyz").json()
                print(f"probing ({args.probes} probes) ...", flush=True)
                started_probing = newest_outbox_id(database_url)
                post_seconds: list[float] = []
                windows: list[tuple[float, float]] = []
                latencies = run_probes(
                    client,
                    token=token,
                    staff=staff,
                    database_url=database_url,
                    probes=args.probes,
                    seed=args.seed,
                    processes=processes,
                    post_seconds=post_seconds,
                    windows=windows,
                )
                overlaps = full_runs_after(database_url, started_probing)
                probes_overlapping = overlapping(
                    windows, scheduled_job_runs(workdir / "pipeline.log")
                )
        finally:
            processes.stop()
        sim_log = (workdir / "simulator.log").read_text(errors="replace")
    target = TARGET_P95_SECONDS.get(args.scale, TARGET_P95_SECONDS[10])
    p95 = _percentile(latencies, 0.95)
    return {
        "benchmark": "latency",
        "git_commit": _git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": list(os.getloadavg()),
        },
        "command": "python " + " ".join(sys.argv),
        "quick": args.quick,
        "scale": args.scale,
        "sessions_per_day": BASE_SESSIONS_PER_DAY * args.scale,
        "simulator_speed": args.speed,
        "sessions_per_real_minute": round(
            BASE_SESSIONS_PER_DAY * args.scale * args.speed / 1440, 1
        ),
        "backfill_days": args.days,
        "backfill": built,
        "processes": {
            "web": f"tutorpulse serve --workers {args.workers}",
            "pipeline": "tutorpulse worker pipeline (TUTORPULSE_PIPELINE_CLOCK=data)",
            "simulator": f"tutorpulse worker simulator (live, speed {args.speed:g}: simulated "
            "seconds per real second)",
            "redis": bool(redis_url),
            "database": "postgresql",
        },
        "readyz_at_start": ready,
        "start_up_recomputes_seconds": first_full,
        "first_simulator_tick_settled_seconds": settle,
        "warm_up": "settled",  # probes start after the start-up jobs and the first tick
        # Full recomputes and nightly rollups completed while probing: each holds the single
        # pipeline worker for a while, and a probe arriving meanwhile waits for it.
        "full_recomputes_during_probes": overlaps,
        "full_every_seconds": args.full_every or 900,
        "start_hour": args.start_hour,
        # Probes whose wait overlapped a full recompute or nightly rollup (worker log times).
        "probes_overlapping_a_full_run": len(probes_overlapping),
        "reused_schema": args.reuse_schema,
        "simulator_ticks_logged": sim_log.count("\n"),
        "probes": len(latencies),
        "latency_seconds": {
            "p50": round(statistics.median(latencies), 3),
            "p95": round(p95, 3),
            "max": round(max(latencies), 3),
            "min": round(min(latencies), 3),
            "all": [round(value, 3) for value in latencies],
            "ingest_post_of_each": [round(value, 3) for value in post_seconds],
            # The probes that overlapped a full recompute or nightly rollup.
            "overlapping_full_run": [round(latencies[i], 3) for i in probes_overlapping],
        },
        "target_p95_seconds": target,
        "meets_target": p95 < target,
        "measured": "POST /api/v1/ingest/sessions sent -> first GET /api/v1/tutors/{id} "
        "whose 30-day metrics include the session (read every 50 ms)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, choices=(1, 10))
    parser.add_argument("--days", type=int, default=None, help="Days backfilled (default 7).")
    parser.add_argument("--probes", type=int, default=None, help="Probes (default 40).")
    parser.add_argument("--workers", type=int, default=1, help="Uvicorn workers of the app.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="Simulator pace, simulated seconds per real second (1 = real time).",
    )
    parser.add_argument("--quick", action="store_true", help="3 days backfilled, 12 probes.")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the schema afterwards.")
    parser.add_argument(
        "--reuse-schema",
        default=None,
        help="Measure on a schema kept by an earlier --keep run (no backfill); with --data-dir.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="The data directory (simulator state) of that run; printed by every run.",
    )
    parser.add_argument(
        "--start-hour",
        type=int,
        default=0,
        choices=range(24),
        metavar="HOUR",
        help="Backfill into the next day up to this simulated hour, so that live ticks start "
        "in the busy part of the day (at midnight the data clock stands still for hours).",
    )
    parser.add_argument(
        "--full-every",
        type=int,
        default=None,
        help="Full recompute interval of the pipeline worker, in data-clock seconds (default "
        "900). The data clock moves with the simulator's 15-minute ticks: with --speed 60 "
        "--start-hour 10 a full recompute follows every tick (15 s), overlapping probes.",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.days = args.days or (3 if args.quick else 7)
    args.probes = args.probes or (12 if args.quick else 40)
    result = run(args)
    runs: list[dict[str, Any]] = []
    if args.out.exists():
        try:
            runs = [
                r
                for r in json.loads(args.out.read_text()).get("runs", [])
                if (r.get("scale"), r.get("quick"), r.get("simulator_speed"), r.get("warm_up"))
                != (args.scale, args.quick, args.speed, "settled")
            ]
        except (ValueError, AttributeError):
            runs = []
    runs.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"benchmark": "latency", "runs": runs}, indent=2, default=str) + "\n"
    )
    print(
        json.dumps(
            {
                "scale": args.scale,
                "latency_seconds": {
                    k: v for k, v in result["latency_seconds"].items() if k != "all"
                },
                "meets_target": result["meets_target"],
                "probes_overlapping_a_full_run": result["probes_overlapping_a_full_run"],
            }
        )
    )


if __name__ == "__main__":
    main()
