"""Locust users of the load test (issue 11): a realistic mix against a running tutorpulse.

Started by ``benchmarks/load.py``, which prepares the database and writes the fixture named
by ``TP_LOAD_FIXTURE`` (accounts, feedback links, tutor ids, ingest records and rate):

- managers sign in through ``POST /api/v1/auth/login`` and use the home dashboard's data
  calls, the tutor list (pages, searches), the alert queue, tutor profiles and predictions;
- tutors sign in and open their portal;
- students open a feedback link and submit the form once (signed links, no account);
- one machine client posts session records to ``/api/v1/ingest/sessions`` at the fixture's
  rate (10x = 30,000 sessions/day, time-compressed), with the ingest token;
- ``BaselineUser`` only calls the empty route (the HTTP overhead baseline), run on its own.

``TP_LOAD_THINK=0`` removes the think time (the saturation step). Request names group URLs
by route, so that the statistics are per route, not per tutor.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter, defaultdict, deque
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, between, constant, constant_pacing, events, task
from locust.env import Environment

FIXTURE: dict[str, Any] = json.loads(Path(os.environ["TP_LOAD_FIXTURE"]).read_text())
THINK = float(os.environ.get("TP_LOAD_THINK", "1"))
# Seeded: two runs of a step send the same sequence of choices per user spawn order.
RANDOM = random.Random(int(os.environ.get("TP_LOAD_SEED", "11")))
# Each step gets its own slice of the links: a link answered in one step stays answered.
_LINKS = slice(*(int(x) for x in os.environ.get("TP_LOAD_LINKS", "0:1000000000").split(":")))
FEEDBACK_LINKS: deque[str] = deque(FIXTURE["feedback_tokens"][_LINKS])
INGEST_RECORDS: deque[dict[str, Any]] = deque(FIXTURE["ingest_records"])
API = "/api/v1"
LOGIN = "POST /auth/login"
# The steady-state window: it opens once every user has been spawned and the last sign-in
# has returned (argon2 is slow on purpose; a sign-in storm is not the steady mix) and lasts
# ``TP_LOAD_DURATION`` seconds, then the run stops. Sign-ins are reported on their own.
# Locust's CSV keeps everything; ``TP_LOAD_STATS`` gets the window's figures.
STATS_OUT = os.environ.get("TP_LOAD_STATS")
DURATION_S = float(os.environ.get("TP_LOAD_DURATION", "0"))
# (monotonic time, route, response ms, error or None) of every request.
SAMPLES: list[tuple[float, str, float, str | None]] = []
WINDOW = {"started": 0.0, "start": 0.0, "stop": 0.0}
SIGNING_IN = {"count": 0}
RUNNING: dict[str, Environment] = {}


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    RUNNING["env"] = environment


@events.test_start.add_listener
def _started(**_: Any) -> None:
    WINDOW["started"] = time.monotonic()


@events.spawning_complete.add_listener
def _spawned(**_: Any) -> None:
    if DURATION_S > 0:
        gevent.spawn(_measure)


def _measure() -> None:
    gevent.sleep(0.5)  # the last spawned users enter on_start
    while SIGNING_IN["count"] > 0:
        gevent.sleep(0.2)
    WINDOW["start"] = time.monotonic()
    if os.environ.get("TP_LOAD_WINDOW_FILE"):  # the driver's profiler starts on this
        Path(os.environ["TP_LOAD_WINDOW_FILE"]).touch()
    gevent.sleep(DURATION_S)
    WINDOW["stop"] = time.monotonic()
    runner = RUNNING["env"].runner
    if runner is not None:
        runner.quit()


@events.request.add_listener
def _record(name: str, response_time: float, exception: Any = None, **_: Any) -> None:
    error = None if exception is None else str(exception)[:200]
    SAMPLES.append((time.monotonic(), name, response_time, error))


def _figures(samples: list[float], failures: int, seconds: float) -> dict[str, Any]:
    ordered = sorted(samples)

    def pct(q: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None

    return {
        "requests": len(ordered),
        "failures": failures,
        "rps": round(len(ordered) / seconds, 2) if seconds > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1], 1) if ordered else None,
    }


@events.test_stop.add_listener
def _stopped(**_: Any) -> None:
    if not STATS_OUT:
        return
    stop = WINDOW["stop"] or time.monotonic()
    start = WINDOW["start"] or stop
    steady: dict[str, list[float]] = defaultdict(list)
    failed: Counter[str] = Counter()
    errors: Counter[tuple[str, str]] = Counter()
    for at, name, ms, error in SAMPLES:
        if name != LOGIN and not start <= at <= stop:
            continue
        steady[name].append(ms)
        if error is not None:
            failed[name] += 1
            errors[(name, error)] += 1
    seconds = stop - start
    routes = {name: _figures(v, failed[name], seconds) for name, v in steady.items()}
    if LOGIN in routes:  # sign-ins happen before the window: their rate is not the window's
        routes[LOGIN]["rps"] = None
    in_window = [t for name, values in steady.items() if name != LOGIN for t in values]
    failures = sum(n for name, n in failed.items() if name != LOGIN)
    result = {
        "seconds": round(seconds, 1),
        "warmup_s": round(start - WINDOW["started"], 1),
        "aggregate": _figures(in_window, failures, seconds),
        "routes": routes,
        "failure_samples": [
            {"route": name, "error": error, "count": count}
            for (name, error), count in errors.most_common(10)
        ],
    }
    Path(STATS_OUT).write_text(json.dumps(result, indent=1))


def think() -> Any:
    # Humans read a page before the next click: 1-4 s; none at all for the saturation step.
    return between(1.0 * THINK, 4.0 * THINK) if THINK > 0 else constant(0)


class SignedInUser(HttpUser):
    abstract = True
    accounts_key = ""

    def on_start(self) -> None:
        SIGNING_IN["count"] += 1
        try:
            self._sign_in()
        finally:
            SIGNING_IN["count"] -= 1

    def _sign_in(self) -> None:
        account = RANDOM.choice(FIXTURE[self.accounts_key])
        with self.client.post(
            f"{API}/auth/login",
            json={"email": account["email"], "password": account["password"]},
            name=LOGIN,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"login {account['email']}: {response.status_code}")
                return
            token = response.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"


class ManagerUser(SignedInUser):
    weight = 5
    wait_time = think()
    accounts_key = "managers"

    @task(4)
    def home(self) -> None:
        # The home page fires its four data calls together.
        self.client.get(f"{API}/kpis", name="GET /kpis")
        self.client.get(f"{API}/analytics/churn_trend", name="GET /analytics/churn_trend")
        self.client.get(f"{API}/alerts?page_size=10", name="GET /alerts (home)")
        self.client.get(f"{API}/interventions?assignee=me", name="GET /interventions?me")

    @task(2)
    def tutor_list(self) -> None:
        page = RANDOM.randint(1, 5)
        self.client.get(f"{API}/tutors?page={page}", name="GET /tutors")

    @task(1)
    def tutor_search(self) -> None:
        query = RANDOM.choice(["an", "el", "mar", "jo", "li"])
        self.client.get(f"{API}/tutors?q={query}&sort=name", name="GET /tutors?q")

    @task(1)
    def alert_queue(self) -> None:
        self.client.get(f"{API}/alerts?page={RANDOM.randint(1, 3)}", name="GET /alerts")

    @task(3)
    def profile(self) -> None:
        tutor_id = RANDOM.choice(FIXTURE["tutor_ids"])
        self.client.get(f"{API}/tutors/{tutor_id}", name="GET /tutors/{id}")
        self.client.get(f"{API}/tutors/{tutor_id}/predictions", name="GET /tutors/{id}/predictions")


class TutorUser(SignedInUser):
    weight = 3
    wait_time = think()
    accounts_key = "tutors"

    @task
    def portal(self) -> None:
        self.client.get(f"{API}/portal/me", name="GET /portal/me")


class StudentUser(HttpUser):
    weight = 2
    wait_time = think()

    @task
    def feedback(self) -> None:
        if not FEEDBACK_LINKS:
            return  # every link of the fixture answered: the student has nothing to do
        token = FEEDBACK_LINKS.popleft()
        self.client.get(f"{API}/feedback/{token}", name="GET /feedback/{token}")
        body = {
            "overall_rating": RANDOM.randint(3, 5),
            "subject_knowledge": RANDOM.randint(3, 5),
            "communication": RANDOM.randint(2, 5),
            "patience": RANDOM.randint(3, 5),
            "engagement": RANDOM.randint(2, 5),
            "helpfulness": RANDOM.randint(3, 5),
            "would_recommend": RANDOM.random() < 0.85,
            "would_work_again": RANDOM.choice(["yes", "yes", "maybe", "probably_not"]),
            "free_text_feedback": "Clear explanations, thank you.",
        }
        self.client.post(f"{API}/feedback/{token}", json=body, name="POST /feedback/{token}")


class IngestClient(HttpUser):
    """The marketplace's session feed: one client, a batch every ``interval`` seconds."""

    fixed_count = 1
    wait_time = constant_pacing(float(FIXTURE["ingest"]["interval_s"]))

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {FIXTURE['ingest']['token']}"

    @task
    def post_sessions(self) -> None:
        size = int(FIXTURE["ingest"]["batch"])
        batch = [INGEST_RECORDS.popleft() for _ in range(min(size, len(INGEST_RECORDS)))]
        if not batch:
            return
        with self.client.post(
            f"{API}/ingest/sessions?source=synthetic",
            json=batch,
            name="POST /ingest/sessions",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"ingest: HTTP {response.status_code}")
                return
            result = response.json()
            if result.get("rejected"):
                reasons = [r.get("reason") for r in result.get("rejections", [])[:2]]
                response.failure(f"ingest rejected {result['rejected']}: {reasons}")


class BaselineUser(HttpUser):
    """The empty route only; run alone (named on the command line), never in the mix."""

    wait_time = constant(0.05)

    @task
    def empty(self) -> None:
        self.client.get("/bench-empty", name="GET /bench-empty")
