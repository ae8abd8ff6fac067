"""One fixture directory per failure mode: clear reasons, no crash, good records still land."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.ingest.service import ImportReport
from tutorpulse.marketplace.models import Tutor

from ..conftest import FIXTURES
from .helpers import run_import

BAD = FIXTURES / "bad"


def _reasons(report: ImportReport) -> list[str]:
    return [r.describe() for r in report.rejections]


def _tutor_ids(db: Session) -> list[str]:
    return list(db.scalars(select(Tutor.tutor_id).order_by(Tutor.tutor_id)))


def test_truncated_file_keeps_complete_lines(db: Session) -> None:
    report = run_import(db, BAD / "truncated")
    assert _tutor_ids(db) == ["t1", "t2"]
    (reason,) = _reasons(report)
    assert reason.startswith("tutors.jsonl:3") and "truncated" in reason


def test_invalid_json_line_is_rejected_alone(db: Session) -> None:
    report = run_import(db, BAD / "invalid_json")
    assert _tutor_ids(db) == ["t1", "t2"]
    (reason,) = _reasons(report)
    assert reason.startswith("tutors.jsonl:2: invalid JSON")


def test_non_object_lines_are_rejected(db: Session) -> None:
    report = run_import(db, BAD / "not_object")
    assert _tutor_ids(db) == ["t1", "t2"]
    assert [r.line for r in report.rejections] == [2, 3]
    assert all("expected a JSON object" in r.reason for r in report.rejections)


def test_empty_file_is_a_note_not_an_error(db: Session) -> None:
    report = run_import(db, BAD / "empty")
    assert report.counts["students"].inserted == 1
    assert any("tutors.jsonl: file is empty" in note for note in report.notes)
    assert report.total_rejected == 0


def test_missing_file_leaves_dangling_references_rejected(db: Session) -> None:
    report = run_import(db, BAD / "missing")
    assert any("no tutors file" in note for note in report.notes)
    assert report.counts["sessions"].rejected == 2
    assert all(r.field == "tutor_id" for r in report.rejections)


def test_binary_file_is_skipped_with_a_message(db: Session) -> None:
    report = run_import(db, BAD / "binary")
    assert any("tutors.jsonl: looks like a binary file" in note for note in report.notes)
    assert report.counts["students"].inserted == 1


def test_invalid_utf8_line_is_rejected_alone(db: Session) -> None:
    report = run_import(db, BAD / "bad_utf8")
    assert _tutor_ids(db) == ["t1", "t3"]
    (rejection,) = report.rejections
    assert rejection.line == 2 and "invalid JSON" in rejection.reason


EXPECTED_FIELD_ERRORS: dict[str, tuple[str | None, Callable[[str], bool]]] = {
    "x1": ("student_rating", lambda r: "less than or equal to 5" in r),
    "x2": ("engagement_score", lambda r: "less than or equal to 1" in r),
    "x3": ("late_start_minutes", lambda r: "greater than or equal to 0" in r),
    "x4": ("duration_minutes", lambda r: "greater than or equal to 1" in r),
    "x5": ("duration_minutes", lambda r: "less than or equal to 600" in r),
    "x6": ("student_feedback_text", lambda r: "at most 500 characters" in r),
    "x7": ("actual_start", lambda r: "must be null when no_show is true" in r),
    "x8": ("actual_start", lambda r: "required when the session was held" in r),
    "x9": ("session_number", lambda r: "greater than or equal to 1" in r),
    "x10": ("scheduled_start", lambda r: "timezone" in r),
    "x11": ("scheduled_start", lambda r: "datetime" in r),
    "x12": ("session_type", lambda r: "'1-on-1' or 'group'" in r),
    "x13": ("tutor_id", lambda r: "valid string" in r),
    "x14": ("engagement_score", lambda r: "valid number" in r),
    "x15": ("scheduled_start", lambda r: "ISO-8601 string" in r),
    "x99": ("subject", lambda r: r == "required field is missing"),
}


def test_each_value_rule_names_field_and_reason(db: Session) -> None:
    report = run_import(db, BAD / "bad_values")
    by_id = {r.record_id: r for r in report.rejections}
    assert set(by_id) == set(EXPECTED_FIELD_ERRORS)
    for record_id, (field, check) in EXPECTED_FIELD_ERRORS.items():
        rejection = by_id[record_id]
        assert rejection.field == field, (record_id, rejection)
        assert check(rejection.reason), (record_id, rejection.reason)
        assert rejection.file == "sessions.jsonl" and rejection.line is not None
    assert report.counts["sessions"].inserted == 1  # x0, the good one


def test_bad_csv_rows_are_rejected_with_field(db: Session) -> None:
    report = run_import(db, BAD / "bad_csv")
    assert _tutor_ids(db) == ["t1"]
    by_id = {r.line: r for r in report.rejections}
    assert by_id[3].field == "subjects" and "JSON" in by_id[3].reason
    assert "more values than header columns" in by_id[4].reason
    assert by_id[5].field == "email"
    assert by_id[6].field == "onboarding_date"


@pytest.mark.parametrize("mode", sorted(p.name for p in BAD.iterdir()))
def test_every_mode_imports_twice_identically(db: Session, mode: str) -> None:
    first = run_import(db, BAD / mode)
    second = run_import(db, BAD / mode)
    assert second.total_rejected == first.total_rejected
    assert sum(c.inserted + c.updated for c in second.counts.values()) == 0
    assert db.scalar(select(func.count()).select_from(Tutor)) == first.counts["tutors"].inserted
