"""Continuous mode: the simulator as a worker that feeds the real ingestion path.

One tick loop serves backfill and live mode: each tick advances the simulated clock (15
minutes by default; a backfill uses whole days), sends the released records through
``tutorpulse.ingest.files.ingest_records`` (no side door into the tables) and commits once.

Restarts continue where the worker stopped, with no duplicate and no gap. The state lives in
two files under ``<data_dir>/simulator/``: a full snapshot written each time a new simulated
day begins (``state.json``) and the clock of the last committed tick (``cursor.json``). On
start the snapshot is loaded and silently replayed up to the cursor (the same seeds give the
same records, which are already in the database). A crash between the database commit and
the cursor write replays one tick: ingestion is idempotent, so the database does not change.

Interventions stored for synthetic tutors are read once per simulated day and lower those
tutors' departure hazard (``config.InterventionEffects``). Run the pipeline on the data's
clock (``TUTORPULSE_PIPELINE_CLOCK=data``) so that interventions carry simulated dates.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.config import Settings
from tutorpulse.db.availability import database_unavailable, first_line
from tutorpulse.errors import TutorpulseError
from tutorpulse.simulator.config import DEFAULT_START, SimulationConfig
from tutorpulse.simulator.engine import (
    DAY,
    InterventionRecord,
    InterventionSource,
    MarketplaceSimulator,
)
from tutorpulse.simulator.export import DatasetSummary, write_dataset
from tutorpulse.simulator.records import SOURCE, to_datetime

log = logging.getLogger(__name__)

DEFAULT_TICK = timedelta(minutes=15)
DEMO_SPEED = 1440.0  # simulated seconds per real second: one simulated day per real minute
SMALL_SESSIONS_PER_DAY = 300  # ``--small`` demos
STATE_FILE = "state.json"
CURSOR_FILE = "cursor.json"
ORIGIN = "simulator"
Released = dict[str, list[dict[str, Any]]]
# Buffer streams in the order a tick is ingested: a booking before its outcome, a session
# before its rating update and its feedback.
INGEST_ORDER: tuple[tuple[str, str], ...] = (
    ("tutors", "tutors"),
    ("students", "students"),
    ("session_bookings", "sessions"),
    ("sessions", "sessions"),
    ("session_ratings", "sessions"),
    ("feedback", "feedback"),
    ("tutor_events", "tutor_events"),
)


@dataclass(frozen=True)
class SimulationArguments:
    """What a simulation was started with; a restart rebuilds the same configuration."""

    seed: int = 0
    start: date = DEFAULT_START
    tutors: int | None = None
    sessions_per_day: int | None = None

    def config(self) -> SimulationConfig:
        return SimulationConfig.build(
            seed=self.seed,
            start=self.start,
            tutors=self.tutors,
            sessions_per_day=self.sessions_per_day,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "tutors": self.tutors,
            "sessions_per_day": self.sessions_per_day,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationArguments:
        return cls(
            seed=int(data["seed"]),
            start=date.fromisoformat(data["start"]),
            tutors=data.get("tutors"),
            sessions_per_day=data.get("sessions_per_day"),
        )


# ------------------------------------------------------------------------------ the state
def _write_atomically(path: Path, payload: bytes) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


class StateStore:
    """The snapshot and cursor files of one simulation, bound to one database."""

    def __init__(self, directory: Path, *, database: str) -> None:
        self.directory = directory
        self.database = database

    @property
    def exists(self) -> bool:
        return (self.directory / STATE_FILE).exists()

    def load(self) -> tuple[SimulationArguments, dict[str, Any], int]:
        """(arguments, engine state, cursor of the last committed tick)."""
        try:
            state = orjson.loads((self.directory / STATE_FILE).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise TutorpulseError(
                f"unreadable simulator state {self.directory / STATE_FILE}: {exc}"
            ) from exc
        if state.get("database") != self.database:
            raise TutorpulseError(
                f"simulator state in {self.directory} belongs to another database "
                f"({state.get('database')}); remove it to start a new simulation"
            )
        cursor = int(state["engine"]["cursor"])
        cursor_path = self.directory / CURSOR_FILE
        if cursor_path.exists():
            cursor = max(cursor, int(orjson.loads(cursor_path.read_bytes())["cursor"]))
        return SimulationArguments.from_dict(state["arguments"]), state["engine"], cursor

    def save_snapshot(
        self, arguments: SimulationArguments, simulator: MarketplaceSimulator
    ) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        state = {
            "database": self.database,
            "arguments": arguments.as_dict(),
            "engine": simulator.to_state(),
        }
        _write_atomically(
            self.directory / STATE_FILE, orjson.dumps(state, option=orjson.OPT_SERIALIZE_NUMPY)
        )

    def save_cursor(self, cursor: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.directory / CURSOR_FILE, orjson.dumps({"cursor": cursor}))


# ----------------------------------------------------------------------- in and out
class RecordSink(Protocol):
    def deliver(self, released: Released, *, now: datetime) -> None: ...


# Pauses before re-sending a tick the database could not take (locked or unreachable):
# 0.5 s doubling, about two minutes in all, then the worker stops with the error.
DELIVERY_RETRY_DELAYS = tuple(0.5 * 2**attempt for attempt in range(8))


class IngestSink:
    """Sends each tick through the ingestion service and commits it as one transaction.

    A tick the database cannot take now (SQLite's writer lock held past the busy timeout by a
    long pipeline job, a PostgreSQL outage) is sent again after a pause: it was rolled back
    whole, so re-sending it neither loses nor duplicates a record.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        origin: str = ORIGIN,
        retry_delays: Sequence[float] = DELIVERY_RETRY_DELAYS,
        pause: Callable[[float], object] = time.sleep,
    ) -> None:
        self.session_factory = session_factory
        self.origin = origin
        self.rejected = 0
        self.retry_delays = tuple(retry_delays)
        self.pause = pause

    def deliver(self, released: Released, *, now: datetime) -> None:
        for attempt, delay in enumerate((*self.retry_delays, None), start=1):
            try:
                self._deliver_once(released, now=now)
                return
            except DBAPIError as exc:
                if delay is None or not database_unavailable(exc):
                    raise
                log.warning(
                    "simulator tick not stored (%s); attempt %d, again in %.1f s",
                    first_line(exc),
                    attempt,
                    delay,
                )
                self.pause(delay)

    def _deliver_once(self, released: Released, *, now: datetime) -> None:
        from tutorpulse.ingest.files import ingest_records

        with self.session_factory() as db:
            for stream, kind in INGEST_ORDER:
                records = released.get(stream) or []
                if not records:
                    continue
                report = ingest_records(
                    db, kind=kind, records=records, source=SOURCE, origin=self.origin, now=now
                )
                if report.total_rejected:
                    # Never silent: a rejected synthetic record is a simulator bug.
                    self.rejected += report.total_rejected
                    log.error(
                        "simulator records rejected by ingestion",
                        extra={"kind": kind, "reasons": report.as_dict()["rejections"][:5]},
                    )
            db.commit()


class DatabaseInterventions:
    """Interventions of synthetic tutors, as the intervention engine stored them."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def __call__(self, day_start: datetime) -> Sequence[InterventionRecord]:
        from tutorpulse.interventions.models import Intervention

        columns = (
            Intervention.tutor_id,
            Intervention.intervention_type,
            Intervention.status,
            Intervention.recommended_date,
            Intervention.acted_at,
            Intervention.completed_date,
            Intervention.holdout,
        )
        query = select(*columns).where(
            Intervention.tutor_id.like("syn\\_t%", escape="\\"),
            Intervention.recommended_date < day_start,
        )
        with self.session_factory() as db:
            rows = db.execute(query).all()
        return [
            InterventionRecord(
                tutor_id=tutor,
                intervention_type=kind,
                status=status,
                reached_at=acted or completed or recommended,
                holdout=bool(holdout),
            )
            for tutor, kind, status, recommended, acted, completed, holdout in rows
        ]


# ------------------------------------------------------------------------------ ticking
class SimulatorRunner:
    """The tick loop over a simulator, a sink and a state store."""

    def __init__(
        self,
        *,
        arguments: SimulationArguments,
        store: StateStore,
        sink: RecordSink,
        interventions: InterventionSource | None = None,
        tick: timedelta = DEFAULT_TICK,
    ) -> None:
        if tick <= timedelta(0) or tick.total_seconds() % 1:
            raise ValueError("the tick must be a positive whole number of seconds")
        self.arguments = arguments
        self.store = store
        self.sink = sink
        self.interventions = interventions
        self.tick_seconds = int(tick.total_seconds())
        config = arguments.config()
        if store.exists:
            saved_arguments, engine_state, cursor = store.load()
            if saved_arguments != arguments:
                raise TutorpulseError(
                    f"a simulation with other settings ({saved_arguments.as_dict()}) is stored in "
                    f"{store.directory}; remove it to start a new one"
                )
            try:
                self.simulator = MarketplaceSimulator(config, state=engine_state)
            except ValueError as exc:
                raise TutorpulseError(f"cannot resume the simulation: {exc}") from exc
            # Records up to the cursor are in the database already: replay them silently.
            self.simulator.advance_to(cursor, interventions=interventions)
        else:
            self.simulator = MarketplaceSimulator(config)
            store.save_snapshot(arguments, self.simulator)

    @property
    def clock(self) -> datetime:
        """The simulated moment up to which records have been delivered."""
        return self.simulator.now

    def step(self, until: int | None = None) -> int:
        """One tick (or up to ``until`` epoch seconds): deliver, commit, remember."""
        simulator = self.simulator
        target = until if until is not None else simulator.cursor + self.tick_seconds
        days_before = simulator.days_simulated
        released = simulator.advance_to(target, interventions=self.interventions)
        self.sink.deliver(released, now=to_datetime(target))
        if simulator.days_simulated != days_before:
            self.store.save_snapshot(self.arguments, simulator)
        self.store.save_cursor(simulator.cursor)
        return target

    def backfill_until(self, end: int, on_day: Callable[[int], None] | None = None) -> None:
        """Whole-day ticks (the same tick code, larger ticks) up to ``end`` epoch seconds."""
        while self.simulator.cursor < end:
            boundary = self.simulator.cursor + 1
            next_midnight = boundary - (boundary - self.simulator.start_seconds) % DAY + DAY - 1
            self.step(min(next_midnight, end))
            if on_day is not None:
                on_day(self.simulator.days_simulated)

    def run(
        self,
        *,
        speed: float = DEMO_SPEED,
        max_ticks: int | None = None,
        stop: threading.Event | None = None,
        wait: Callable[[float], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> int:
        """Tick until stopped; ``speed`` = simulated seconds per real second (0: no pause).

        Real time only paces the loop (``monotonic``, ``wait``); it never enters the data.
        """
        stop = stop or threading.Event()
        pause = wait or stop.wait
        interval = self.tick_seconds / speed if speed > 0 else 0.0
        ticks = 0
        deadline = monotonic()
        while not stop.is_set() and (max_ticks is None or ticks < max_ticks):
            self.step()
            ticks += 1
            if interval:
                deadline += interval
                pause(max(0.0, deadline - monotonic()))
        return ticks


# ------------------------------------------------------------------ entry points (CLI)
def state_directory(settings: Settings) -> Path:
    return settings.data_dir / "simulator"


def _database_key(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def open_runner(
    *,
    settings: Settings,
    arguments: SimulationArguments | None = None,
    session_factory: sessionmaker[Session] | None = None,
    tick: timedelta = DEFAULT_TICK,
) -> SimulatorRunner:
    """A runner bound to the settings' database; resumes the stored simulation if any.

    ``arguments`` None: the stored simulation's, or the defaults for a new one.
    """
    from tutorpulse.db.engine import make_engine, make_session_factory

    factory = session_factory or make_session_factory(make_engine(settings.effective_database_url))
    store = StateStore(state_directory(settings), database=_database_key(settings))
    if not store.exists:
        _refuse_foreign_synthetic_data(factory)
    if arguments is None:
        arguments = store.load()[0] if store.exists else SimulationArguments()
    return SimulatorRunner(
        arguments=arguments,
        store=store,
        sink=IngestSink(factory),
        interventions=DatabaseInterventions(factory),
        tick=tick,
    )


def _refuse_foreign_synthetic_data(factory: sessionmaker[Session]) -> None:
    """Synthetic ids are counters: a second simulation would reuse the first one's ids."""
    from tutorpulse.marketplace.models import Tutor

    with factory() as db:
        found = db.scalar(select(Tutor.tutor_id).where(Tutor.source == SOURCE).limit(1))
    if found is not None:
        raise TutorpulseError(
            "the database already holds synthetic data that this simulator did not write "
            "(no simulator state next to it): import generated files with "
            "`backfill_files`, or start from an empty database"
        )


def backfill_simulation(
    *,
    settings: Settings,
    days: int = 90,
    small: bool = False,
    seed: int = 0,
    start: date | None = None,
    session_factory: sessionmaker[Session] | None = None,
    on_day: Callable[[int], None] | None = None,
) -> SimulatorRunner:
    """Simulate ``days`` days from ``start`` into the database (resuming a stored run).

    Returns the runner, ready for ``run`` (live mode continues from the end of the backfill).
    """
    arguments = SimulationArguments(
        seed=seed,
        start=start or DEFAULT_START,
        sessions_per_day=SMALL_SESSIONS_PER_DAY if small else None,
    )
    runner = open_runner(settings=settings, arguments=arguments, session_factory=session_factory)
    end = runner.simulator.start_seconds + days * DAY - 1
    runner.backfill_until(end, on_day=on_day)
    return runner


def backfill_files(
    *,
    settings: Settings,
    out: Path,
    days: int = 90,
    arguments: SimulationArguments | None = None,
    on_day: Callable[[int], None] | None = None,
) -> DatasetSummary:
    """Write ``days`` days to files (for the fast ``import``) and keep the simulator's state.

    Importing ``out`` and then running the worker gives the same database as a backfill
    through ticks: the worker resumes right after the files' last day. Import the files
    before starting the worker.
    """
    arguments = arguments or SimulationArguments()
    store = StateStore(state_directory(settings), database=_database_key(settings))
    if store.exists:
        raise TutorpulseError(
            f"a simulation is already stored in {store.directory}; the worker resumes it"
        )
    simulator = MarketplaceSimulator(arguments.config())
    summary = write_dataset(simulator, days=days, out=out, on_day=on_day)
    store.save_snapshot(arguments, simulator)
    store.save_cursor(simulator.cursor)
    return summary


def run_simulator_worker(
    *,
    settings: Settings,
    speed: float = DEMO_SPEED,
    max_ticks: int | None = None,
    stop: threading.Event | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> int:
    """``tutorpulse worker simulator``: live ticks until stopped; returns the ticks run."""
    runner = open_runner(settings=settings, session_factory=session_factory)
    log.info(
        "simulator worker started",
        extra={"simulated_now": runner.clock.isoformat(), "speed": speed},
    )
    return runner.run(speed=speed, max_ticks=max_ticks, stop=stop)


def simulator_worker(settings: Settings, stop: threading.Event) -> None:
    """``(settings, stop)`` form for ``tutorpulse.jobs.cli.register_worker("simulator", ...)``."""
    from tutorpulse.db.engine import make_engine, make_session_factory
    from tutorpulse.realtime.live import publish_commits

    factory = make_session_factory(make_engine(settings.effective_database_url))
    publish_commits(settings, factory)  # each committed tick: "re-read now" (Redis)
    run_simulator_worker(
        settings=settings, stop=stop, speed=settings.simulator_speed, session_factory=factory
    )


def simulated_now(settings: Settings) -> datetime | None:
    """Where the stored simulation's clock stands (None: no simulation yet)."""
    store = StateStore(state_directory(settings), database=_database_key(settings))
    if not store.exists:
        return None
    return datetime.fromtimestamp(store.load()[2] + 1, tz=UTC)
