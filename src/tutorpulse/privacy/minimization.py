"""Data minimization for students under 13 (COPPA: only what the service needs).

What is kept about an under-13 student, and why:

=====================  =======================================================
field                  kept?
=====================  =======================================================
``student_id``         yes: joins sessions and feedback (an opaque id)
``age``                yes, in years: needed to apply this very rule
``grade_level``        yes: used to match tutors and for cohort analytics
``subjects_interested``yes: used to match tutors
``name``               no: replaced by the stable pseudonym (``pseudonyms.pseudonym``)
feedback free text     no: what a child writes is removed; ratings stay
session feedback text  no: removed; the rating and the flags stay
=====================  =======================================================

``minimize_under_13`` applies the table to every under-13 student on record; the retention
job runs it, so data that arrives by import is minimized at the next run.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tutorpulse.marketplace.models import Student, StudentFeedback, TutoringSession
from tutorpulse.privacy.pseudonyms import pseudonym

COPPA_AGE = 13
_SLICE = 5_000


def minimize_under_13(db: Session, *, key: bytes) -> int:
    """Apply the table above; returns how many students were changed."""
    changed = 0
    # Ages are encrypted: SQL cannot compare them, so they are decrypted and compared here.
    ages = db.execute(select(Student.student_id, Student.age)).all()
    young = sorted(student_id for student_id, age in ages if age < COPPA_AGE)
    if not young:
        return 0
    # In slices: a list parameter binds one value per id, and drivers cap bound parameters.
    for start in range(0, len(young), _SLICE):
        part = young[start : start + _SLICE]
        for student in db.scalars(select(Student).where(Student.student_id.in_(part))):
            alias = pseudonym(student.student_id, key=key)
            if student.name != alias:
                student.name = alias
                changed += 1
        db.execute(
            update(StudentFeedback)
            .where(
                StudentFeedback.student_id.in_(part),
                StudentFeedback.free_text_feedback.is_not(None),
            )
            .values(free_text_feedback=None),
            execution_options={"synchronize_session": False},
        )
        db.execute(
            update(TutoringSession)
            .where(
                TutoringSession.student_id.in_(part),
                TutoringSession.student_feedback_text.is_not(None),
            )
            .values(student_feedback_text=None),
            execution_options={"synchronize_session": False},
        )
    db.flush()
    return changed
