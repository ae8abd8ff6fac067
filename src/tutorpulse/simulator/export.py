"""Writing a simulated period to the DESIGN.md §3 files, streaming one day at a time.

The files hold the last version of every record: a session appears once, with its rating if
the rating arrived within the period, or as ``scheduled`` if it lies beyond the period's end.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from tutorpulse import __version__
from tutorpulse.simulator.config import SimulationConfig
from tutorpulse.simulator.engine import DAY, MarketplaceSimulator
from tutorpulse.simulator.records import FILE_NAMES, KINDS, SOURCE, dumps_lines

MANIFEST = "manifest.json"
GENERATOR = "tutorpulse-simulator"
# Ratings arrive at most ~36 hours after a session ends; after that the record is final.
RATING_WAIT_SECONDS = 2 * DAY
WRITE_BUFFER = 1 << 20


@dataclass
class DatasetSummary:
    directory: Path
    days: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def sessions_per_day(self) -> float:
        return self.counts.get("sessions_held_or_missed", 0) / max(self.days, 1)


class DatasetWriter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, BinaryIO] = {
            kind: (directory / FILE_NAMES[kind]).open("wb", buffering=WRITE_BUFFER)
            for kind in KINDS
            if kind != "tutors"
        }
        self.counts = {kind: 0 for kind in KINDS}
        self.counts["sessions_held_or_missed"] = 0
        self._tutors: dict[str, dict[str, Any]] = {}
        self._bookings: dict[str, dict[str, Any]] = {}
        self._awaiting_rating: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()

    def write(self, released: dict[str, list[dict[str, Any]]], *, now: int) -> None:
        for record in released["tutors"]:
            self._tutors[record["tutor_id"]] = record
        self._lines("students", released["students"])
        for record in released["session_bookings"]:
            self._bookings[record["session_id"]] = record
        final: list[dict[str, Any]] = []
        for record in released["sessions"]:
            sid = record["session_id"]
            self._bookings.pop(sid, None)
            if record["status"] == "completed":
                self._awaiting_rating[sid] = (now + RATING_WAIT_SECONDS, record)
            else:
                final.append(record)
        for record in released["session_ratings"]:
            self._awaiting_rating.pop(record["session_id"], None)
            final.append(record)
        while self._awaiting_rating:
            sid, (due, record) = next(iter(self._awaiting_rating.items()))
            if due > now:
                break
            del self._awaiting_rating[sid]
            final.append(record)
        self._sessions(final)
        self._lines("feedback", released["feedback"])
        self._lines("tutor_events", released["tutor_events"])

    def close(self) -> dict[str, int]:
        self._sessions([record for _, record in self._awaiting_rating.values()])
        self._awaiting_rating.clear()
        # Bookings beyond the period: the upcoming sessions, as the marketplace knows them.
        self._lines("sessions", list(self._bookings.values()))
        lines = dumps_lines(self._tutors[key] for key in sorted(self._tutors))
        (self.directory / FILE_NAMES["tutors"]).write_bytes(lines)
        self.counts["tutors"] = len(self._tutors)
        for stream in self._files.values():
            stream.close()
        return dict(self.counts)

    def abort(self) -> None:
        for handle in self._files.values():
            handle.close()

    def _sessions(self, records: list[dict[str, Any]]) -> None:
        happened = sum(1 for r in records if r["status"] in ("completed", "no_show"))
        self.counts["sessions_held_or_missed"] += happened
        self._lines("sessions", records)

    def _lines(self, kind: str, records: list[dict[str, Any]]) -> None:
        if records:
            self._files[kind].write(dumps_lines(records))
            self.counts[kind] += len(records)


def generate_dataset(
    config: SimulationConfig,
    *,
    days: int,
    out: Path,
    on_day: Callable[[int], None] | None = None,
) -> DatasetSummary:
    """Simulate ``days`` days from ``config.start`` and write them to ``out``."""
    return write_dataset(MarketplaceSimulator(config), days=days, out=out, on_day=on_day)


def write_dataset(
    simulator: MarketplaceSimulator,
    *,
    days: int,
    out: Path,
    on_day: Callable[[int], None] | None = None,
) -> DatasetSummary:
    """Run a fresh ``simulator`` for ``days`` days into files; it can go on afterwards."""
    if days < 1:
        raise ValueError("days must be >= 1")
    if simulator.days_simulated:
        raise ValueError("write_dataset needs a simulator that has not started yet")
    writer = DatasetWriter(out)
    try:
        for day in range(days):
            released = simulator.advance_to(simulator.day_start(day + 1) - 1)
            writer.write(released, now=simulator.cursor)
            if on_day is not None:
                on_day(day)
    except BaseException:
        writer.abort()
        raise
    counts = writer.close()
    write_manifest(out, config=simulator.config, days=days, counts=counts)
    return DatasetSummary(directory=out, days=days, counts=counts)


def write_manifest(
    out: Path, *, config: SimulationConfig, days: int, counts: dict[str, int]
) -> None:
    end = config.start + timedelta(days=days - 1)
    manifest = {
        "generator": GENERATOR,
        "generator_version": __version__,
        "source": SOURCE,
        **config.describe(),
        "days": days,
        "end": end.isoformat(),
        "files": {kind: FILE_NAMES[kind] for kind in KINDS},
        "counts": counts,
        "behaviour": config.behaviour_dict(),
    }
    (out / MANIFEST).write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
