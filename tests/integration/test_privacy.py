"""Privacy: pseudonyms, small cohorts, retention on a simulated clock, subject requests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.auth.models import AuditEntry, User
from tutorpulse.config import Settings
from tutorpulse.marketplace.models import Student, StudentFeedback, Tutor, TutoringSession
from tutorpulse.privacy.pseudonyms import pseudonym, pseudonymise_feedback, suppress_small_groups
from tutorpulse.privacy.retention import run_retention
from tutorpulse.privacy.subjects import erase_subject, export_subject

from ..conftest import NOW
from .test_auth_fixtures import make_user, seed_people

KEY = b"k" * 32
SYSTEM = audit.MachineActor("test")


def add_session(db: Session, session_id: str, *, student: str, days_ago: int) -> None:
    start = NOW - timedelta(days=days_ago)
    db.add(
        TutoringSession(
            session_id=session_id,
            tutor_id="t1",
            student_id=student,
            session_number=1,
            scheduled_start=start,
            actual_start=start,
            duration_minutes=60,
            subject="Mathematics",
            session_type="1-on-1",
            status="completed",
            no_show=False,
            student_rating=4.0,
            student_feedback_text="My name is Alex and I live at 1 Main St",
            source="synthetic",
            content_hash="x" * 32,
        )
    )
    db.flush()  # no ORM relationship orders these inserts
    db.add(
        StudentFeedback(
            feedback_id=f"f-{session_id}",
            session_id=session_id,
            student_id=student,
            tutor_id="t1",
            overall_rating=4,
            is_first_session=True,
            subject_knowledge_rating=4,
            communication_rating=4,
            patience_rating=4,
            engagement_rating=4,
            helpfulness_rating=4,
            would_recommend=True,
            free_text_feedback="Call me on 555-0100",
            submitted_at=start + timedelta(hours=1),
            source="synthetic",
            content_hash="x" * 32,
        )
    )
    db.flush()


def test_pseudonyms_are_stable_keyed_and_hide_the_student() -> None:
    assert pseudonym("s1", key=KEY) == pseudonym("s1", key=KEY)
    assert pseudonym("s1", key=KEY) != pseudonym("s2", key=KEY)
    assert pseudonym("s1", key=KEY) != pseudonym("s1", key=b"other" * 8)
    assert "s1" not in pseudonym("s1", key=KEY)
    names = {pseudonym(f"s{i}", key=KEY) for i in range(500)}
    assert len(names) > 490  # collisions are rare
    rows = pseudonymise_feedback(
        [{"student_id": "s1", "student_name": "Alex Doe", "age": 12, "rating": 5}], key=KEY
    )
    assert rows == [{"rating": 5, "student": pseudonym("s1", key=KEY)}]


def test_small_cohorts_are_suppressed() -> None:
    groups = {"Math": {"count": 12, "avg": 4.1}, "Latin": {"count": 2, "avg": 2.0}}
    assert suppress_small_groups(groups, min_size=5) == {
        "Math": {"count": 12, "avg": 4.1},
        "Latin": {"suppressed": True},
    }


def test_retention_on_a_simulated_clock(db: Session) -> None:
    seed_people(db)
    add_session(db, "old", student="s1", days_ago=7 * 365 + 10)
    add_session(db, "new", student="s1", days_ago=30)
    for days_ago in (3 * 365 + 5, 10):
        audit.record(db, actor=SYSTEM, action="tutor.read", now=NOW - timedelta(days=days_ago))
    db.flush()
    report = run_retention(db, now=NOW, settings=Settings(env="test"))
    assert (report.audit_purged, report.sessions_affected, report.feedback_affected) == (1, 1, 1)
    old = db.get(TutoringSession, "old")
    assert old is not None and old.student_feedback_text is None
    old_feedback = db.get(StudentFeedback, "f-old")
    assert old_feedback is not None and old_feedback.free_text_feedback is None
    assert old_feedback.overall_rating == 4  # aggregates keep their numbers
    new_feedback = db.get(StudentFeedback, "f-new")
    assert new_feedback is not None and new_feedback.free_text_feedback
    actions = db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert list(actions)[-3:] == ["tutor.read", "audit.purge", "retention.run"]
    purge = db.scalar(select(AuditEntry).where(AuditEntry.action == "audit.purge"))
    assert purge is not None and purge.details["purged"] == 1

    # Time passes: the next run finds the newer records old enough too.
    settings = Settings(env="test", records_retention_mode="delete")
    later = run_retention(db, now=NOW + timedelta(days=7 * 365), settings=settings)
    assert later.sessions_affected == 2
    assert db.scalar(select(func.count()).select_from(TutoringSession)) == 0
    assert db.scalar(select(func.count()).select_from(StudentFeedback)) == 0


def test_under_13_students_keep_only_what_is_needed(db: Session) -> None:
    seed_people(db)
    child = db.get(Student, "s2")
    assert child is not None
    child.age = 11
    add_session(db, "kid", student="s2", days_ago=3)
    add_session(db, "teen", student="s1", days_ago=3)
    settings = Settings(env="test", pii_hmac_key="h" * 40)
    report = run_retention(db, now=NOW, settings=settings)
    assert report.under_13_minimized == 1
    db.expire_all()
    child = db.get(Student, "s2")
    assert child is not None and child.name == pseudonym("s2", key=settings.effective_pii_hmac_key)
    assert child.grade_level and child.age == 11
    kid = db.get(StudentFeedback, "f-kid")
    teen = db.get(StudentFeedback, "f-teen")
    assert kid is not None and kid.free_text_feedback is None
    assert teen is not None and teen.free_text_feedback is not None
    teen_student = db.get(Student, "s1")
    assert teen_student is not None and teen_student.name == "Student s1"


def test_purge_is_the_only_way_to_delete_audit_rows(db: Session) -> None:
    """The purge lifts the append-only trigger for its own transaction only; it does not leak.

    PostgreSQL: a transaction-local flag the trigger checks. SQLite: the DELETE trigger is
    dropped and re-created around the purge's delete, inside the same transaction.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    old = audit.record(db, actor=SYSTEM, action="old", now=NOW - timedelta(days=5000))
    audit.record(db, actor=SYSTEM, action="recent", now=NOW - timedelta(days=5))
    db.flush()
    old_id = old.id
    savepoint = db.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("DELETE FROM audit_log WHERE action = 'old'"))
    savepoint.rollback()

    report = run_retention(db, now=NOW, settings=Settings(env="test"))
    assert report.audit_purged == 1
    assert db.scalar(select(func.count()).where(AuditEntry.id == old_id)) == 0
    assert {"recent", "audit.purge"} <= set(db.scalars(select(AuditEntry.action)))
    if db.get_bind().dialect.name == "postgresql":
        flag = db.scalar(text("SELECT current_setting('tutorpulse.audit_purge', true)"))
        assert flag == "off"
    else:
        triggers = db.scalars(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")
        ).all()
        assert sorted(triggers) == ["audit_log_no_delete", "audit_log_no_update"]
    # Afterwards, the log is append-only again: update and delete are both refused.
    for statement in ("DELETE FROM audit_log", "UPDATE audit_log SET action = 'x'"):
        savepoint = db.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement))
        savepoint.rollback()


# The SQLite purge mechanism only (PostgreSQL lifts its trigger with a session setting).
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_failed_sqlite_purge_leaves_the_trigger_in_place(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from tutorpulse.privacy import retention

    audit.record(db, actor=SYSTEM, action="old", now=NOW - timedelta(days=5000))
    db.flush()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(retention.audit, "record", broken)
    savepoint = db.begin_nested()
    with pytest.raises(RuntimeError, match="disk on fire"):
        retention.purge_audit(db, now=NOW, retention_days=1095)
    savepoint.rollback()
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == 1  # rolled back
    savepoint = db.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("DELETE FROM audit_log"))
    savepoint.rollback()


def test_export_and_erase_a_student(db: Session) -> None:
    seed_people(db)
    add_session(db, "a", student="s1", days_ago=3)
    add_session(db, "b", student="s2", days_ago=3)
    account = make_user(db, "student", email="kid@example.org", student_id="s1")
    audit.record(
        db, actor=SYSTEM, action="student.read", target_type="student", target_id="s1", now=NOW
    )
    exported = export_subject(db, kind="student", subject_id="s1", actor=SYSTEM, now=NOW)
    records = exported["records"]
    assert records["students"][0]["name"] == "Student s1"
    assert [s["session_id"] for s in records["sessions"]] == ["a"]
    assert [f["feedback_id"] for f in records["student_feedback"]] == ["f-a"]
    assert records["users"][0]["email"] == "kid@example.org"
    assert "password_hash" not in records["users"][0]
    assert records["access_log"][0]["action"] == "student.read"

    counts = erase_subject(db, kind="student", subject_id="s1", actor=SYSTEM, now=NOW)
    assert counts["students"] == 1 and counts["users (disabled)"] == 1
    db.expire_all()
    assert db.get(Student, "s1") is None and db.get(TutoringSession, "a") is None
    assert db.get(TutoringSession, "b") is not None  # other students untouched
    user = db.get(User, account.id)
    assert user is not None and not user.is_active and user.email.startswith("erased-")
    assert user.student_id is None and user.password_hash is None
    actions = set(db.scalars(select(AuditEntry.action)))
    assert {"subject.export", "subject.erase"} <= actions


def test_erase_a_tutor(db: Session) -> None:
    seed_people(db)
    add_session(db, "a", student="s1", days_ago=3)
    counts = erase_subject(db, kind="tutor", subject_id="t1", actor=SYSTEM, now=NOW)
    assert counts["tutors"] == 1
    db.expire_all()
    assert db.get(Tutor, "t1") is None and db.get(TutoringSession, "a") is None
    assert db.get(Tutor, "t2") is not None
