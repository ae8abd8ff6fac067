"""Import through the real database on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.events.models import DirtyTutor, OutboxMessage
from tutorpulse.ingest.models import RejectedRecord
from tutorpulse.ingest.schemas import JSON_FIELDS
from tutorpulse.marketplace.models import StudentFeedback, Tutor, TutoringSession

from ..conftest import SAMPLE_DIR
from .helpers import (
    event,
    feedback,
    run_import,
    session,
    student,
    table_checksums,
    tutor,
    write_jsonl,
)


def _line_count(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


def test_sample_imports_completely(db: Session) -> None:
    report = run_import(db, SAMPLE_DIR)
    assert report.total_rejected == 0
    for kind, counts in report.counts.items():
        assert counts.inserted == _line_count(SAMPLE_DIR / f"{kind}.jsonl"), kind
    assert report.source == "synthetic"  # declared by the sample's manifest.json
    assert db.scalar(select(func.count()).select_from(Tutor)) == 8
    assert db.scalar(select(func.count()).select_from(DirtyTutor)) == 8
    topics = db.scalars(select(OutboxMessage.topic)).all()
    assert topics == ["ingest.batch_completed"]


def test_import_twice_is_identical(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    first = table_checksums(db)
    report = run_import(db, SAMPLE_DIR)
    assert table_checksums(db) == first
    assert all(c.inserted == 0 and c.updated == 0 for c in report.counts.values())
    assert report.total_accepted == sum(c[0] for c in first.values())


def test_sessions_file_listed_before_tutors_still_imports(db: Session, tmp_path: Path) -> None:
    # Files are read kind by kind in dependency order, whatever their names sort to.
    write_jsonl(tmp_path / "sessions-a.jsonl", [session("x1"), session("x2", session_number=2)])
    write_jsonl(tmp_path / "feedback.jsonl", [feedback()])
    write_jsonl(tmp_path / "students.jsonl", [student()])
    write_jsonl(tmp_path / "tutors.jsonl", [tutor()])
    report = run_import(db, tmp_path)
    assert report.total_rejected == 0
    assert report.counts["sessions"].inserted == 2
    assert report.counts["feedback"].inserted == 1


def test_dangling_references_are_rejected_with_reason(db: Session, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor()])
    write_jsonl(tmp_path / "students.jsonl", [student()])
    write_jsonl(
        tmp_path / "sessions.jsonl",
        [session("x1"), session("x2", tutor_id="ghost"), session("x3", student_id="nobody")],
    )
    write_jsonl(
        tmp_path / "feedback.jsonl",
        [feedback("f1"), feedback("f2", session_id="missing"), feedback("f3", tutor_id="t9")],
    )
    write_jsonl(tmp_path / "tutor_events.jsonl", [event("e1"), event("e2", tutor_id="ghost")])
    report = run_import(db, tmp_path)
    reasons = {(r.record_id, r.field): r.reason for r in report.rejections}
    assert "unknown tutor 'ghost'" in reasons[("x2", "tutor_id")]
    assert "unknown student 'nobody'" in reasons[("x3", "student_id")]
    assert "unknown session 'missing'" in reasons[("f2", "session_id")]
    assert "does not match the session's tutor" in reasons[("f3", "tutor_id")]
    assert ("e2", "tutor_id") in reasons
    assert report.counts["sessions"].inserted == 1
    assert report.counts["feedback"].inserted == 1
    assert report.counts["tutor_events"].inserted == 1
    stored = db.scalar(select(func.count()).where(RejectedRecord.batch_id == report.batch_id))
    assert stored == 5
    line = db.scalar(select(RejectedRecord.line).where(RejectedRecord.record_id == "x2"))
    assert line == 2


def test_scheduled_booking_then_outcome_is_an_update(db: Session, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor()])
    write_jsonl(tmp_path / "students.jsonl", [student()])
    booking = session(
        "x1",
        status="scheduled",
        actual_start=None,
        no_show=None,
        late_start_minutes=None,
        engagement_score=None,
        student_rating=None,
        student_feedback_text=None,
        learning_objectives_met=None,
        technical_issues=None,
        tutor_initiated_reschedule=None,
    )
    write_jsonl(tmp_path / "sessions.jsonl", [booking])
    run_import(db, tmp_path)
    write_jsonl(tmp_path / "sessions.jsonl", [session("x1")])
    report = run_import(db, tmp_path)
    assert report.counts["sessions"].updated == 1
    stored = db.get(TutoringSession, "x1")
    assert stored is not None and stored.status == "completed" and stored.student_rating == 4.5
    # Going back to "scheduled" is refused.
    write_jsonl(tmp_path / "sessions.jsonl", [booking])
    report = run_import(db, tmp_path)
    assert report.counts["sessions"].rejected == 1
    assert report.rejections[0].field == "status"


def test_same_id_with_different_immutable_content_is_rejected(db: Session, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor()])
    write_jsonl(tmp_path / "students.jsonl", [student(), student("s2")])
    write_jsonl(tmp_path / "sessions.jsonl", [session("x1")])
    run_import(db, tmp_path)
    write_jsonl(tmp_path / "sessions.jsonl", [session("x1", student_id="s2")])
    write_jsonl(tmp_path / "tutors.jsonl", [tutor(location="Paris, FR")])
    report = run_import(db, tmp_path)
    assert report.counts["sessions"].rejected == 1
    rejection = report.rejections[0]
    assert (
        rejection.field == "student_id" and "conflicts with the stored record" in rejection.reason
    )
    assert report.counts["tutors"].updated == 1  # location is mutable
    stored = db.get(Tutor, "t1")
    assert stored is not None and stored.location == "Paris, FR"


def test_duplicate_within_one_file(db: Session, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor(), tutor(), tutor(onboarding_date="2020-01-01")])
    report = run_import(db, tmp_path)
    counts = report.counts["tutors"]
    assert (counts.inserted, counts.unchanged, counts.rejected) == (1, 1, 1)
    assert report.rejections[0].field == "onboarding_date"


def test_second_feedback_for_a_session_is_refused(db: Session, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor()])
    write_jsonl(tmp_path / "students.jsonl", [student()])
    write_jsonl(tmp_path / "sessions.jsonl", [session()])
    write_jsonl(tmp_path / "feedback.jsonl", [feedback("f1"), feedback("f2")])
    report = run_import(db, tmp_path)
    assert report.counts["feedback"].inserted == 1
    assert "already has feedback 'f1'" in report.rejections[0].reason
    assert db.scalar(select(func.count()).select_from(StudentFeedback)) == 1


def test_real_import_cannot_overwrite_synthetic_record(db: Session, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "tutors.jsonl", [tutor()])
    run_import(db, tmp_path, source="synthetic")
    write_jsonl(tmp_path / "tutors.jsonl", [tutor(location="Elsewhere")])
    report = run_import(db, tmp_path, source="real")
    assert report.counts["tutors"].rejected == 1
    assert "belongs to a synthetic record" in report.rejections[0].reason


def test_csv_import_matches_jsonl_import(db: Session, tmp_path: Path) -> None:
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for path in SAMPLE_DIR.glob("*.jsonl"):
        kind = path.stem
        records = [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
        columns = sorted({key for record in records for key in record})
        with (csv_dir / f"{kind}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for record in records:
                writer.writerow(
                    {
                        k: orjson.dumps(v).decode() if k in JSON_FIELDS[kind] else _csv_value(v)
                        for k, v in record.items()
                    }
                )
    shutil.copy(SAMPLE_DIR / "manifest.json", csv_dir / "manifest.json")
    report = run_import(db, csv_dir)
    assert report.total_rejected == 0, [r.describe() for r in report.rejections]
    from_csv = table_checksums(db)
    report = run_import(db, SAMPLE_DIR)
    assert report.total_rejected == 0
    assert all(c.inserted == 0 and c.updated == 0 for c in report.counts.values())
    assert table_checksums(db) == from_csv


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
