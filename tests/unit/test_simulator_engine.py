"""Determinism, tick equivalence, restart from saved state, wire format of the simulator."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from tutorpulse.ingest.schemas import SCHEMAS
from tutorpulse.simulator.buffer import STREAMS
from tutorpulse.simulator.config import SimulationConfig
from tutorpulse.simulator.engine import DAY, MarketplaceSimulator
from tutorpulse.simulator.export import generate_dataset
from tutorpulse.simulator.profiles import ProfileFactory
from tutorpulse.simulator.records import FILE_NAMES

SMALL = SimulationConfig.build(seed=11, sessions_per_day=150)
Released = dict[str, list[dict[str, Any]]]


def _digests(directory: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
    }


def _collect(into: Released, released: Released) -> None:
    for stream, records in released.items():
        into[stream].extend(records)


def _run(config: SimulationConfig, until: int, step: int) -> Released:
    simulator = MarketplaceSimulator(config)
    out: Released = defaultdict(list)
    moment = simulator.start_seconds - 1
    while moment < until:
        moment = min(moment + step, until)
        _collect(out, simulator.advance_to(moment))
    return out


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    generate_dataset(SMALL, days=10, out=tmp_path / "a")
    generate_dataset(SMALL, days=10, out=tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    other = SimulationConfig.build(seed=12, sessions_per_day=150)
    generate_dataset(other, days=10, out=tmp_path / "c")
    assert _digests(tmp_path / "c")["sessions.jsonl"] != _digests(tmp_path / "a")["sessions.jsonl"]


def test_manifest_describes_the_run_without_wall_clock(tmp_path: Path) -> None:
    generate_dataset(SMALL, days=3, out=tmp_path)
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    assert manifest["generator"] == "tutorpulse-simulator"
    assert manifest["source"] == "synthetic"
    assert (manifest["seed"], manifest["days"], manifest["start"]) == (11, 3, "2025-01-06")
    assert manifest["tutors"] == SMALL.initial_tutors
    assert manifest["sessions_per_day"] == 150
    assert set(manifest["files"].values()) == set(FILE_NAMES.values())


def test_fifteen_minute_ticks_equal_whole_days() -> None:
    start = MarketplaceSimulator(SMALL).start_seconds
    end = start + 4 * DAY - 1
    by_day = _run(SMALL, end, DAY)
    by_tick = _run(SMALL, end, 15 * 60)
    assert {s: len(r) for s, r in by_day.items()} == {s: len(r) for s, r in by_tick.items()}
    assert by_day == by_tick
    assert len(by_day["sessions"]) > 100


def test_restart_from_saved_state_continues_identically() -> None:
    reference = MarketplaceSimulator(SMALL)
    start = reference.start_seconds
    middle, end = start + 3 * DAY + 5 * 3600 - 1, start + 6 * DAY - 1
    expected: Released = defaultdict(list)
    _collect(expected, reference.advance_to(end))

    first = MarketplaceSimulator(SMALL)
    got: Released = defaultdict(list)
    _collect(got, first.advance_to(middle))
    saved = orjson.loads(orjson.dumps(first.to_state(), option=orjson.OPT_SERIALIZE_NUMPY))
    del first
    resumed = MarketplaceSimulator(SMALL, state=saved)
    assert resumed.cursor == middle
    _collect(got, resumed.advance_to(end))
    assert got == expected


def test_state_of_another_configuration_is_refused() -> None:
    state = orjson.loads(
        orjson.dumps(MarketplaceSimulator(SMALL).to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
    )
    with pytest.raises(ValueError, match="different configuration"):
        MarketplaceSimulator(SimulationConfig.build(seed=99, sessions_per_day=150), state=state)


def test_clock_cannot_go_backwards() -> None:
    simulator = MarketplaceSimulator(SMALL)
    simulator.advance_to(simulator.start_seconds + DAY)
    with pytest.raises(ValueError, match="backwards"):
        simulator.advance_to(simulator.start_seconds)


def test_adding_tutors_keeps_existing_profiles() -> None:
    small = SimulationConfig.build(seed=5, tutors=40)
    large = SimulationConfig.build(seed=5, tutors=60)
    a, b = ProfileFactory(small), ProfileFactory(large)
    for index in range(40):
        first = a.tutor(index, onboarding_day=None, start_seconds=0)
        second = b.tutor(index, onboarding_day=None, start_seconds=0)
        assert first.record == second.record
        assert first.subjects == second.subjects


def test_archetype_mix_follows_the_prior() -> None:
    factory = ProfileFactory(SimulationConfig.build(seed=3, tutors=1000))
    counts: dict[str, int] = defaultdict(int)
    for index in range(1000):
        counts[
            factory.tutor(index, onboarding_day=None, start_seconds=0).record[
                "behavioral_archetype"
            ]
        ] += 1
    assert counts == {
        "high_performer": pytest.approx(300, abs=5),
        "at_risk": pytest.approx(200, abs=5),
        "new_tutor": pytest.approx(250, abs=5),
        "steady": pytest.approx(200, abs=5),
        "churner": pytest.approx(50, abs=5),
    }


def test_every_record_passes_the_ingest_schema_and_is_synthetic() -> None:
    released = _run(SMALL, MarketplaceSimulator(SMALL).start_seconds + 8 * DAY - 1, DAY)
    assert set(released) == set(STREAMS)
    kinds = {
        "session_bookings": "sessions",
        "session_ratings": "sessions",
    }
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    for stream, records in released.items():
        schema = SCHEMAS[kinds.get(stream, stream)]
        for record in records:
            schema.model_validate(record)
            identifier = next(iter(record.values()))
            assert str(identifier).startswith("syn_"), (stream, identifier)
            for key in ("scheduled_start", "timestamp", "event_timestamp"):
                if key in record:
                    assert iso.match(record[key]), record[key]
    statuses = {r["status"] for r in released["sessions"]}
    assert {"completed", "no_show"} <= statuses <= {"completed", "no_show", "cancelled"}
    assert {r["status"] for r in released["session_bookings"]} == {"scheduled"}


def test_records_have_a_fixed_key_order() -> None:
    released = _run(SMALL, MarketplaceSimulator(SMALL).start_seconds + 2 * DAY - 1, DAY)
    for records in released.values():
        orders = {tuple(r)[:5] for r in records}
        assert len(orders) <= 1


def test_labeller_finds_exactly_the_churn_the_simulator_enacted(tmp_path: Path) -> None:
    from tutorpulse.simulator.dataset import load_dataset
    from tutorpulse.simulator.export import write_dataset
    from tutorpulse.simulator.realism import prepare

    simulator = MarketplaceSimulator(SimulationConfig.build(seed=1, sessions_per_day=600))
    write_dataset(simulator, days=63, out=tmp_path)
    enacted = {(c["tutor_id"], c["churn_day"], c["reason"]) for c in simulator.churn_log()}
    tutors = prepare(load_dataset(tmp_path)).tutors
    labelled = {
        (t, int(day), reason)
        for t, day, reason in zip(
            tutors["tutor_id"], tutors["churn_day"], tutors["churn_reason"], strict=True
        )
        if isinstance(reason, str)
    }
    assert len(enacted) > 15
    assert labelled == enacted
    assert {"resignation", "reduced_activity"} <= {r for _, _, r in enacted}
    churned = set(tutors.loc[tutors["status"] == "churned", "tutor_id"])
    assert churned == {t for t, _, _ in enacted}
