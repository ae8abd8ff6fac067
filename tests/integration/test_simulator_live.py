"""Continuous mode through the real ingestion path: restarts, backfill + live, interventions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.config import Settings
from tutorpulse.db.engine import SQLITE_IMMEDIATE, make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade
from tutorpulse.errors import TutorpulseError
from tutorpulse.ingest.models import RejectedRecord
from tutorpulse.interventions.models import Intervention
from tutorpulse.marketplace.models import Tutor, TutoringSession
from tutorpulse.simulator import live
from tutorpulse.simulator.engine import DAY
from tutorpulse.simulator.live import (
    DatabaseInterventions,
    IngestSink,
    SimulationArguments,
    SimulatorRunner,
    StateStore,
)

from .helpers import table_checksums

ARGS = SimulationArguments(seed=21, sessions_per_day=40)
TICKS_PER_DAY = 96


def _database(directory: Path) -> tuple[Engine, sessionmaker[Session]]:
    directory.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{directory / 'db.sqlite'}")
    upgrade(engine)
    return engine, make_session_factory(engine)


def _runner(directory: Path, factory: sessionmaker[Session], **kwargs: object) -> SimulatorRunner:
    store = StateStore(directory / "state", database=str(directory))
    return SimulatorRunner(
        arguments=ARGS,
        store=store,
        sink=IngestSink(factory),
        interventions=DatabaseInterventions(factory),
        **kwargs,  # type: ignore[arg-type]
    )


def _checksums(factory: sessionmaker[Session]) -> dict[str, tuple[int, str]]:
    with factory() as db:
        return table_checksums(db)


def _rejects(factory: sessionmaker[Session]) -> int:
    with factory() as db:
        return int(db.scalar(select(func.count()).select_from(RejectedRecord)) or 0)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    directory = tmp_path_factory.mktemp("uninterrupted")
    _, factory = _database(directory)
    runner = _runner(directory, factory)
    assert runner.run(speed=0, max_ticks=3 * TICKS_PER_DAY + 10) == 3 * TICKS_PER_DAY + 10
    assert _rejects(factory) == 0
    return _checksums(factory)


def test_live_ticks_land_in_the_database(uninterrupted: dict[str, tuple[int, str]]) -> None:
    counts = {kind: rows for kind, (rows, _) in uninterrupted.items()}
    assert counts["tutors"] > 10 and counts["sessions"] > 100 and counts["tutor_events"] > 100


def test_restart_continues_without_duplicates_or_gaps(
    tmp_path: Path, uninterrupted: dict[str, tuple[int, str]]
) -> None:
    _, factory = _database(tmp_path)
    first = _runner(tmp_path, factory)
    first.run(speed=0, max_ticks=TICKS_PER_DAY + 37)  # stops in the middle of day 2
    del first
    second = _runner(tmp_path, factory)
    assert second.clock == datetime(2025, 1, 7, 9, 15, tzinfo=UTC)
    second.run(speed=0, max_ticks=2 * TICKS_PER_DAY + 10 - 37)
    assert _checksums(factory) == uninterrupted
    assert _rejects(factory) == 0


def test_crash_after_commit_replays_the_tick_harmlessly(
    tmp_path: Path, uninterrupted: dict[str, tuple[int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, factory = _database(tmp_path)
    runner = _runner(tmp_path, factory)
    runner.run(speed=0, max_ticks=150)
    original = StateStore.save_cursor

    def crash(self: StateStore, cursor: int) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(StateStore, "save_cursor", crash)
    with pytest.raises(RuntimeError):
        runner.step()  # committed to the database, cursor not saved
    monkeypatch.setattr(StateStore, "save_cursor", original)
    resumed = _runner(tmp_path, factory)
    resumed.run(speed=0, max_ticks=3 * TICKS_PER_DAY + 10 - 150)
    assert _checksums(factory) == uninterrupted


def test_backfill_then_one_live_day_equals_a_longer_backfill(tmp_path: Path) -> None:
    days = 90
    _, live_factory = _database(tmp_path / "live")
    runner = _runner(tmp_path / "live", live_factory)
    start = runner.simulator.start_seconds
    runner.backfill_until(start + days * DAY - 1)
    assert runner.run(speed=0, max_ticks=TICKS_PER_DAY) == TICKS_PER_DAY

    _, backfill_factory = _database(tmp_path / "backfill")
    longer = _runner(tmp_path / "backfill", backfill_factory)
    longer.backfill_until(start + (days + 1) * DAY - 1)

    assert runner.clock == longer.clock == datetime(2025, 4, 7, tzinfo=UTC)
    assert _checksums(live_factory) == _checksums(backfill_factory)
    assert _rejects(live_factory) == _rejects(backfill_factory) == 0


def test_other_settings_do_not_resume_a_stored_simulation(tmp_path: Path) -> None:
    _, factory = _database(tmp_path)
    _runner(tmp_path, factory).run(speed=0, max_ticks=2)
    store = StateStore(tmp_path / "state", database=str(tmp_path))
    with pytest.raises(TutorpulseError, match="other settings"):
        SimulatorRunner(
            arguments=SimulationArguments(seed=22), store=store, sink=IngestSink(factory)
        )
    with pytest.raises(TutorpulseError, match="another database"):
        StateStore(tmp_path / "state", database="elsewhere").load()


def test_interventions_are_read_for_synthetic_tutors(tmp_path: Path) -> None:
    _, factory = _database(tmp_path)
    runner = _runner(tmp_path, factory)
    runner.backfill_until(runner.simulator.start_seconds + 2 * DAY - 1)
    recommended = datetime(2025, 1, 6, 12, tzinfo=UTC)
    with factory() as db:
        tutor = db.scalars(select(Tutor.tutor_id).order_by(Tutor.tutor_id)).first()
        assert tutor is not None
        for kind, status, holdout in (("H4", "completed", False), ("A1", "holdout", True)):
            db.add(
                Intervention(
                    tutor_id=tutor,
                    intervention_type=kind,
                    trigger_reason="test",
                    evidence={},
                    recommended_date=recommended,
                    completed_date=recommended + timedelta(hours=5),
                    status=status,
                    holdout=holdout,
                )
            )
        db.commit()
    found = DatabaseInterventions(factory)(datetime(2025, 1, 8, tzinfo=UTC))
    assert {(i.tutor_id, i.intervention_type, i.holdout) for i in found} == {
        (tutor, "H4", False),
        (tutor, "A1", True),
    }
    assert next(
        i for i in found if i.intervention_type == "H4"
    ).reached_at == recommended + timedelta(hours=5)
    assert DatabaseInterventions(factory)(recommended) == []


def test_worker_entry_point(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'w.sqlite'}")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    runner = live.backfill_simulation(settings=settings, days=2, small=True)
    assert runner.clock == datetime(2025, 1, 8, tzinfo=UTC)
    assert live.run_simulator_worker(settings=settings, speed=0, max_ticks=4) == 4
    assert live.simulated_now(settings) == datetime(2025, 1, 8, 1, tzinfo=UTC)
    assert (tmp_path / "simulator" / "state.json").exists()
    with make_session_factory(engine)() as db:
        sources = set(db.scalars(select(TutoringSession.source).distinct()))
    assert sources == {"synthetic"}


def test_paced_run_waits_between_ticks(tmp_path: Path) -> None:
    _, factory = _database(tmp_path)
    now = [100.0]
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    runner = _runner(tmp_path, factory)
    # 15 simulated minutes per tick at 900 simulated seconds per second: one tick a second.
    runner.run(speed=900.0, max_ticks=3, wait=wait, monotonic=lambda: now[0])
    assert waits == [1.0, 1.0, 1.0]
    assert runner.clock == datetime(2025, 1, 6, 0, 45, tzinfo=UTC)


def _settings(directory: Path) -> tuple[Settings, sessionmaker[Session]]:
    directory.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'db.sqlite'}")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    return settings, make_session_factory(engine)


def _import(factory: sessionmaker[Session], directory: Path) -> None:
    from tutorpulse.ingest.files import import_directory, plan_directory

    with factory() as db:
        report = import_directory(
            db,
            plan=plan_directory(directory, source="auto"),
            now=datetime(2025, 6, 1, tzinfo=UTC),
            chunk_size=5000,
            checkpoint=db.commit,
        )
    assert report.total_rejected == 0


def test_file_backfill_then_live_equals_a_tick_backfill(tmp_path: Path) -> None:
    days = 20
    files_settings, files_factory = _settings(tmp_path / "files")
    live.backfill_files(settings=files_settings, out=tmp_path / "out", days=days, arguments=ARGS)
    _import(files_factory, tmp_path / "out")
    live.run_simulator_worker(settings=files_settings, speed=0, max_ticks=TICKS_PER_DAY)

    ticks_settings, ticks_factory = _settings(tmp_path / "ticks")
    runner = live.open_runner(settings=ticks_settings, arguments=ARGS)
    runner.backfill_until(runner.simulator.start_seconds + (days + 1) * DAY - 1)

    assert _checksums(files_factory) == _checksums(ticks_factory)
    with pytest.raises(TutorpulseError, match="already stored"):
        live.backfill_files(settings=files_settings, out=tmp_path / "again", days=1)


def test_worker_refuses_synthetic_data_it_did_not_write(tmp_path: Path) -> None:
    from tutorpulse.simulator.export import generate_dataset

    settings, factory = _settings(tmp_path)
    generate_dataset(ARGS.config(), days=2, out=tmp_path / "out")
    _import(factory, tmp_path / "out")
    with pytest.raises(TutorpulseError, match="did not write"):
        live.run_simulator_worker(settings=settings, speed=0, max_ticks=1)


def test_a_tick_the_locked_database_refused_is_sent_again(tmp_path: Path) -> None:
    """SQLite's writer lock held past the busy timeout (a long pipeline job): the tick waits
    and is re-sent whole once the lock is free; nothing lost, nothing doubled."""
    engine, factory = _database(tmp_path)

    def short_busy_timeout(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[attr-defined]

    impatient = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    event.listen(impatient, "connect", short_busy_timeout)
    holder = engine.execution_options(**SQLITE_IMMEDIATE).connect()
    holder.begin()  # another writer holds the lock
    pauses: list[float] = []

    def release_the_lock(seconds: float) -> None:
        pauses.append(seconds)
        if holder.in_transaction():
            holder.rollback()

    sink = IngestSink(make_session_factory(impatient), pause=release_the_lock)
    runner = _runner(tmp_path, factory)
    runner.sink = sink
    runner.step()
    holder.close()
    assert pauses == [0.5]
    with factory() as db:
        stored = db.scalar(select(func.count()).select_from(TutoringSession))
        assert stored and stored > 0
        assert db.scalar(select(func.count()).select_from(Tutor))
    impatient.dispose()
