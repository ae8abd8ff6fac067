"""The import's fast paths change nothing but speed.

- ``bulk.insert_rows`` (sqlite3 executemany / PostgreSQL COPY) stores exactly what a
  SQLAlchemy insert of the same rows stores, on both backends;
- parsing in a helper process (``parallel``) imports the same rows and reports the same
  rejects as parsing in-process, including files that turn unreadable half-way;
- a helper that dies makes the import fail loudly;
- updates grouped into one statement per set of changed columns end where a direct import
  of the final records ends;
- dirty marks for a whole chunk, written in one statement, queue and refresh as before;
- the NUL check, run after validation, still sees every string a record keeps.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, create_engine, delete, select
from sqlalchemy.orm import Session

from tutorpulse.db.engine import make_engine
from tutorpulse.events import service as events
from tutorpulse.events.models import DirtyTutor
from tutorpulse.ingest import bulk, parallel
from tutorpulse.ingest.files import import_directory, plan_directory
from tutorpulse.ingest.models import RejectedRecord
from tutorpulse.ingest.parsing import parse_chunk, parse_records
from tutorpulse.ingest.readers import RawRecord, read_jsonl
from tutorpulse.ingest.rows import TABLES
from tutorpulse.ingest.schemas import ID_FIELDS, KINDS, json_may_hold_nul
from tutorpulse.ingest.service import ImportReport

from ..conftest import FIXTURES, NOW, SAMPLE_DIR
from .helpers import event, run_import, session, student, table_checksums, tutor, write_jsonl

BOOKKEEPING = {"created_at", "updated_at"}
Inserter = Callable[[Session, str, list[dict[str, Any]]], None]


def _sample_rows() -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        records = read_jsonl(SAMPLE_DIR / f"{kind}.jsonl")
        chunks = parse_records(kind, records, source="synthetic", chunk_size=10_000)
        rows[kind] = [c.row for chunk in chunks for c in chunk.candidates]
    # Unknown fields (the JSON ``extra`` column) and empty lists must survive as well.
    rows["tutors"][0] = rows["tutors"][0] | {"extra": {"room": "B12", "n": [1, 2.5]}}
    rows["students"][0] = rows["students"][0] | {"subjects_interested": []}
    return rows


def _stored_after(db: Session, insert: Inserter) -> dict[str, list[dict[str, Any]]]:
    rows = _sample_rows()
    nested = db.begin_nested()
    for kind in KINDS:
        insert(db, kind, rows[kind])
    stored = {}
    for kind, table in TABLES.items():
        query = select(table).order_by(table.c[ID_FIELDS[kind]])
        stored[kind] = [
            {k: v for k, v in row.items() if k not in BOOKKEEPING}
            for row in db.execute(query).mappings()
        ]
    nested.rollback()
    return stored


def _sqlalchemy_insert(db: Session, kind: str, rows: list[dict[str, Any]]) -> None:
    db.execute(TABLES[kind].insert(), rows)


def _bulk_insert(db: Session, kind: str, rows: list[dict[str, Any]]) -> None:
    bulk.insert_rows(db.connection(), TABLES[kind], rows)


def test_bulk_insert_stores_what_sqlalchemy_stores(db: Session) -> None:
    expected = _stored_after(db, _sqlalchemy_insert)
    assert all(expected.values())
    assert _stored_after(db, _bulk_insert) == expected


# ------------------------------------------------------------- helper process
@pytest.fixture
def sqlite_db(sqlite_engine: Engine) -> Iterator[Session]:
    """The ``db`` fixture on SQLite only: the helper never touches the database."""
    connection = sqlite_engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


def _force_helper(monkeypatch: pytest.MonkeyPatch, *, min_bytes: int = 1) -> list[str]:
    """Parse files of ``min_bytes`` or more in a helper; returns the names of those files."""
    # A helper process per file costs ~0.5 s: tests pick the file(s) that need one.
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", min_bytes)
    monkeypatch.setattr(parallel, "_usable_cores", lambda: 2)
    helped: list[str] = []
    start_helper = parallel._parse_in_helper

    def spy(kind: str, path: Path, *options: Any) -> Iterator[Any]:
        helped.append(path.name)
        return start_helper(kind, path, *options)

    monkeypatch.setattr(parallel, "_parse_in_helper", spy)
    return helped


@pytest.fixture
def force_helper(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return _force_helper(monkeypatch)


def _summary(report: ImportReport) -> tuple[Any, ...]:
    """What a report says, whether the rows were new or already stored."""
    counts = {kind: (c.received, c.accepted, c.rejected) for kind, c in report.counts.items()}
    return counts, [r.describe() for r in report.rejections], report.notes


def test_helper_import_equals_in_process_import(
    sqlite_db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_process = run_import(sqlite_db, SAMPLE_DIR)
    stored = table_checksums(sqlite_db)
    helped = _force_helper(monkeypatch, min_bytes=(SAMPLE_DIR / "sessions.jsonl").stat().st_size)
    again = run_import(sqlite_db, SAMPLE_DIR)  # same rows, same hashes: all unchanged
    assert helped == ["sessions.jsonl"]
    assert table_checksums(sqlite_db) == stored
    assert sum(c.unchanged for c in again.counts.values()) == in_process.total_accepted
    assert _summary(again) == _summary(in_process)


@pytest.mark.parametrize(
    ("mode", "largest_file"),
    [("bad_values", "sessions.jsonl"), ("binary", "tutors.jsonl"), ("bad_csv", "tutors.csv")],
)
def test_helper_reports_the_same_rejects(
    sqlite_db: Session, monkeypatch: pytest.MonkeyPatch, mode: str, largest_file: str
) -> None:
    in_process = run_import(sqlite_db, FIXTURES / "bad" / mode)
    size = (FIXTURES / "bad" / mode / largest_file).stat().st_size
    helped = _force_helper(monkeypatch, min_bytes=size)
    assert _summary(run_import(sqlite_db, FIXTURES / "bad" / mode)) == _summary(in_process)
    assert helped == [largest_file]


def test_helper_imports_the_lines_before_a_file_turns_unreadable(
    sqlite_db: Session, tmp_path: Path, force_helper: list[str]
) -> None:
    # Past the text decoder's first block, so that some lines decode before the bad bytes.
    lines = [b"tutor_id,name,email,onboarding_date,subjects,education_level,location,"]
    lines[0] += b"baseline_sessions_per_week"
    for n in range(300):
        lines.append(
            f't{n},Ada Lovelace,t{n}@example.org,2024-09-01,"[""Math""]",PhD,Paris,9'.encode()
        )
    (tmp_path / "tutors.csv").write_bytes(b"\n".join(lines) + b"\n\xff\xfe broken\n")
    report = run_import(sqlite_db, tmp_path)
    assert 0 < report.counts["tutors"].inserted < 300
    assert any("not valid UTF-8 after line" in note for note in report.notes)
    assert force_helper == ["tutors.csv"]


@pytest.mark.usefixtures("force_helper")
def test_a_dead_helper_fails_the_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor()])
    crash = [sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"]
    monkeypatch.setattr(parallel, "_helper_command", lambda *args: crash)
    dialect = make_engine("sqlite://").dialect
    path = tmp_path / "tutors.jsonl"
    chunks = parallel.parse_file("tutors", path, source="real", chunk_size=10, dialect=dialect)
    with pytest.raises(parallel.ParseHelperError, match=r"exit code 3\): boom"):
        list(chunks)


def _import_without_commit(db: Session, directory: Path) -> ImportReport:
    return import_directory(db, plan=plan_directory(directory), now=NOW, chunk_size=4)


def test_grouped_updates_store_what_a_direct_import_stores(db: Session, tmp_path: Path) -> None:
    held = [
        session(f"x{n}", session_number=n, student_rating=4.0 + n / 10, engagement_score=0.5)
        for n in range(1, 9)
    ]
    held[2] |= {"no_show": True, "actual_start": None, "student_rating": None}
    held[5] |= {"extra_field": "kept"}
    unknown = dict.fromkeys(("actual_start", "student_rating", "student_feedback_text"))
    bookings = [
        record | unknown | {"status": "scheduled", "no_show": None, "late_start_minutes": None}
        for record in held
    ]
    write_jsonl(tmp_path / "tutors.jsonl", [tutor()])
    write_jsonl(tmp_path / "students.jsonl", [student()])
    outcomes = tmp_path / "outcomes"
    shutil.copytree(tmp_path, outcomes, ignore=shutil.ignore_patterns("outcomes"))
    write_jsonl(outcomes / "sessions.jsonl", held)

    nested = db.begin_nested()
    _import_without_commit(db, outcomes)
    expected = table_checksums(db)
    nested.rollback()

    write_jsonl(tmp_path / "sessions.jsonl", bookings)
    _import_without_commit(db, tmp_path)
    report = _import_without_commit(db, outcomes)
    assert report.counts["sessions"].updated == len(held)
    assert table_checksums(db) == expected


def test_mark_dirty_queues_and_refreshes_in_one_statement(db: Session, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor("t1"), tutor("t2"), tutor("t3")])
    run_import(db, tmp_path)
    db.execute(delete(DirtyTutor))
    later = NOW + timedelta(hours=1)
    assert events.mark_dirty(db, tutor_ids=["t2", "t1", "t2"], now=NOW, reason="first") == 2
    assert events.mark_dirty(db, tutor_ids=["t3", "t1"], now=later, reason="second") == 2
    assert events.mark_dirty(db, tutor_ids=[], now=later, reason="none") == 0
    marks = db.execute(
        select(DirtyTutor.tutor_id, DirtyTutor.marked_at, DirtyTutor.reason).order_by(
            DirtyTutor.tutor_id
        )
    ).all()
    assert [tuple(m) for m in marks] == [
        ("t1", later, "second"),
        ("t2", NOW, "first"),
        ("t3", later, "second"),
    ]


def test_rows_are_prepared_here_when_the_helper_cannot_rebuild_the_dialect(
    tmp_path: Path, force_helper: list[str]
) -> None:
    # An engine with its own JSON serializer: the helper's make_engine() would differ.
    dialect = create_engine("sqlite://", json_serializer=json.dumps).dialect
    assert bulk.portable_dialect(dialect) is None
    assert bulk.portable_dialect(make_engine("sqlite://").dialect) == "sqlite+pysqlite"
    write_jsonl(tmp_path / "tutors.jsonl", [tutor(subjects=["Math", "Art"])])
    path = tmp_path / "tutors.jsonl"
    (chunk,) = parallel.parse_file("tutors", path, source="real", chunk_size=10, dialect=dialect)
    assert force_helper == ["tutors.jsonl"]
    row = chunk.candidates[0].row
    assert row["onboarding_date"] == "2024-09-01" and row["subjects"] == '["Math", "Art"]'


@pytest.mark.parametrize(
    "record",
    [
        event(metadata={"anything": ["ok", "b\x00d"]}),
        event(event_type="training_completed", metadata={"module_id": "m\x001"}),
        event(unknown={"nested": {"deep": "x\x00"}}),
        tutor(subjects=["Math", "Ar\x00t"]),
    ],
)
def test_nul_checks_after_validation_still_see_every_kept_string(record: dict[str, Any]) -> None:
    # The check runs after pydantic's JSON-mode validation (fast path): nothing escapes it.
    kind = "tutor_events" if "event_id" in record else "tutors"
    raw = RawRecord("x.jsonl", 1, orjson.dumps(record))
    (rejected,) = parse_chunk(kind, [raw], source="real").rejections
    assert rejected.reason == "contains a NUL character" and rejected.field


def test_json_without_the_nul_escape_cannot_hold_a_nul() -> None:
    # What lets parse_chunk skip the record-wide NUL check for such input.
    assert not json_may_hold_nul(orjson.dumps(tutor()))
    assert json_may_hold_nul(orjson.dumps(tutor(name="A\x00da")))
    raw_nul = orjson.dumps(tutor()).replace(b"Ada", b"A\x00da")
    (rejected,) = parse_chunk(
        "tutors", [RawRecord("t.jsonl", 1, raw_nul)], source="real"
    ).rejections
    assert rejected.reason.startswith("invalid JSON")


def test_helper_candidates_reread_their_line_when_a_later_check_needs_it(
    sqlite_db: Session, tmp_path: Path, force_helper: list[str]
) -> None:
    # The helper sends where a line is, not its text: a reference reject must still store
    # the exact line, and a re-sent record must still be compared field by field.
    write_jsonl(tmp_path / "tutors.jsonl", [tutor("t1")])
    write_jsonl(tmp_path / "students.jsonl", [student("s1")])
    first = session("x1", student_rating=4.0)
    write_jsonl(
        tmp_path / "sessions.jsonl",
        [first, session("x2", tutor_id="ghost"), first | {"student_rating": 2.0}],
    )
    report = run_import(sqlite_db, tmp_path)
    assert "sessions.jsonl" in force_helper
    assert report.counts["sessions"].rejected == 1
    raw, line = sqlite_db.execute(
        select(RejectedRecord.raw, RejectedRecord.line).where(RejectedRecord.record_id == "x2")
    ).one()
    assert line == 2
    assert orjson.loads(raw) == session("x2", tutor_id="ghost")
    rating = sqlite_db.scalar(
        select(TABLES["sessions"].c.student_rating).where(TABLES["sessions"].c.session_id == "x1")
    )
    assert rating == 2.0
