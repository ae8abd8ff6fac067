"""Wire schemas of DESIGN.md §3: one pydantic model per record kind.

Validation is per record; unknown fields are kept (``extra``), never rejected. Timestamps must
be ISO-8601 strings with an offset and are normalised to UTC, so that the same instant written
with different offsets is the same record.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

RecordKind = Literal["tutors", "students", "sessions", "feedback", "tutor_events"]
# Import order: referenced records before the records that reference them.
KINDS: tuple[RecordKind, ...] = ("tutors", "students", "sessions", "feedback", "tutor_events")

FREE_TEXT_MAX = 500
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _require_string(value: Any) -> Any:
    # Numbers would otherwise be read as Unix times / ordinal days: refuse rather than guess.
    if not isinstance(value, (str, datetime, date)):
        raise ValueError("must be an ISO-8601 string")
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _check_email(value: str) -> str:
    if not EMAIL_PATTERN.match(value):
        raise ValueError("not a valid email address")
    return value


def _stringify(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
FreeText = Annotated[str, StringConstraints(max_length=FREE_TEXT_MAX)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_require_string), AfterValidator(_to_utc)]
IsoDate = Annotated[date, BeforeValidator(_require_string)]
Rating = Annotated[int, Field(ge=1, le=5)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320),
    AfterValidator(_check_email),
]
SubjectList = Annotated[list[Text200], Field(min_length=1)]

WouldWorkAgain = Literal["yes", "maybe", "probably_not", "no"]
ImprovementArea = Literal["late", "unprepared", "unclear", "not_patient", "technical_issues"]
EventType = Literal[
    "login",
    "reschedule_request",
    "availability_change",
    "training_completed",
    "message_response",
    "session_prep",
    "resignation",
]


def _may_hold_nul(value: Any) -> bool:
    """A quick look before ``_nul_path``'s walk, which would cost more than the validation.

    Serialised, every NUL in a string or key becomes the escape ``\\u0000``; its absence
    proves that the walk would find nothing. A false alarm (the text "\\u0000" itself) or a
    value orjson cannot serialise only means the walk runs.
    """
    try:
        return b"\\u0000" in orjson.dumps(value)
    except TypeError:
        return True


# Validation context of input the caller has proven free of NUL characters (see
# ``json_may_hold_nul``): the record-wide check is skipped, not weakened.
NUL_FREE: dict[str, bool] = {"nul_free": True}


def json_may_hold_nul(payload: bytes) -> bool:
    """False proves that no string or key of this JSON text holds a NUL character.

    JSON cannot carry a raw NUL inside a string (the parser rejects control characters), so
    a NUL can only be written as the escape ``\\u0000``.
    """
    return b"\\u0000" in payload


_WITHOUT_TEXT = frozenset({type(None), bool, int, float, date, datetime})


def _nul_field(record: BaseModel) -> str | None:
    """The first field (or path within one) of a validated record holding a NUL."""
    for name, value in record.__dict__.items():
        kind = type(value)
        if kind in _WITHOUT_TEXT:  # most fields: skipped without an isinstance() chain
            continue
        if isinstance(value, str):
            if "\x00" in value:
                return name
        elif isinstance(value, BaseModel):
            inner = _nul_field(value)
            if inner:
                return f"{name}.{inner}"
        elif isinstance(value, (dict, list)) and _may_hold_nul(value):
            found = _nul_path(value, name)
            if found:
                return found
    extra = record.__pydantic_extra__
    if extra and _may_hold_nul(extra):
        return _nul_path(extra, "")
    return None


def _nul_path(value: Any, path: str) -> str | None:
    """Where a NUL character hides in a value (PostgreSQL text and JSON cannot store it)."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return f"{path}.{key!r}" if path else repr(key)
            found = _nul_path(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


class WireRecord(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=False)

    # After validation, not before: a "before" model validator makes pydantic turn JSON
    # input into Python objects first, which doubles the cost of validating a record.
    # Every string that is kept (fields, nested values, unknown fields) is checked.
    @model_validator(mode="after")
    def _no_nul_characters(self, info: ValidationInfo) -> WireRecord:
        if info.context is NUL_FREE:
            return self
        where = _nul_field(self)
        if where:
            raise _FieldError(where, "contains a NUL character")
        return self

    def extra_fields(self) -> dict[str, Any] | None:
        return dict(self.__pydantic_extra__) if self.__pydantic_extra__ else None


class TutorIn(WireRecord):
    tutor_id: Identifier
    name: Text200
    email: Email
    onboarding_date: IsoDate
    subjects: SubjectList
    education_level: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
    location: Text200
    baseline_sessions_per_week: Annotated[float, Field(gt=0, le=100)]
    age: Annotated[int, Field(ge=16, le=100)] | None = None
    status: Literal["active", "inactive", "churned"] | None = None
    behavioral_archetype: Annotated[str, StringConstraints(max_length=32)] | None = None


class StudentIn(WireRecord):
    student_id: Identifier
    name: Text200
    age: Annotated[int, Field(ge=3, le=120)]
    grade_level: Annotated[
        str, BeforeValidator(_stringify), StringConstraints(min_length=1, max_length=32)
    ]
    subjects_interested: list[Text200]


SessionStatus = Literal["scheduled", "completed", "no_show", "cancelled"]
# Outcome fields a held or missed session must report; a future booking leaves them null.
OUTCOME_FIELDS = ("no_show", "tutor_initiated_reschedule", "late_start_minutes", "technical_issues")


class SessionIn(WireRecord):
    session_id: Identifier
    tutor_id: Identifier
    student_id: Identifier
    session_number: Annotated[int, Field(ge=1)]
    scheduled_start: Timestamp
    actual_start: Timestamp | None = None
    duration_minutes: Annotated[int, Field(ge=1, le=600)]
    subject: Text200
    session_type: Literal["1-on-1", "group"]
    tutor_initiated_reschedule: bool | None = None
    no_show: bool | None = None
    late_start_minutes: Annotated[int, Field(ge=0, le=600)] | None = None
    engagement_score: Annotated[float, Field(ge=0, le=1)] | None = None
    student_rating: Annotated[float, Field(ge=1, le=5)] | None = None
    student_feedback_text: FreeText | None = None
    learning_objectives_met: bool | None = None
    technical_issues: bool | None = None
    status: SessionStatus | None = None

    @model_validator(mode="after")
    def _consistent_outcome(self) -> SessionIn:
        if self.status is None:
            if self.no_show is None:
                raise ValueError("no_show is required when status is absent")
            # Straight into the instance: pydantic's __setattr__ costs ~10% of a session's
            # validation, and this model does not validate assignments anyway.
            self.__dict__["status"] = "no_show" if self.no_show else "completed"
            self.__pydantic_fields_set__.add("status")
        if self.status in ("completed", "no_show"):
            for name in OUTCOME_FIELDS:
                if getattr(self, name) is None:
                    raise _FieldError(name, f"required when status is {self.status}")
            if self.no_show != (self.status == "no_show"):
                raise _FieldError("no_show", f"contradicts status {self.status!r}")
            if self.no_show and self.actual_start is not None:
                raise _FieldError("actual_start", "must be null when no_show is true")
            if not self.no_show and self.actual_start is None:
                raise _FieldError("actual_start", "required when the session was held")
        elif self.status == "scheduled":
            if self.actual_start is not None:
                raise _FieldError("actual_start", "must be null for a scheduled session")
            if self.no_show:
                raise _FieldError("no_show", "cannot be true for a scheduled session")
            if self.student_rating is not None:
                raise _FieldError("student_rating", "a scheduled session cannot be rated yet")
        return self


class CategoryRatings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_knowledge: Rating
    communication: Rating
    patience: Rating
    engagement: Rating
    helpfulness: Rating


class FeedbackIn(WireRecord):
    feedback_id: Identifier
    session_id: Identifier
    student_id: Identifier
    tutor_id: Identifier
    overall_rating: Rating
    first_session: bool
    ratings: CategoryRatings
    would_recommend: bool
    free_text_feedback: FreeText | None = None
    timestamp: Timestamp
    would_work_again: WouldWorkAgain | None = None
    improvement_areas: list[ImprovementArea] | None = None


NonNegative = Annotated[float, Field(ge=0)]


class RescheduleMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    session_id: Identifier | None = None
    hours_notice: NonNegative
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
    initiated_by: Literal["tutor", "student"]


class AvailabilityMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    weekly_hours_before: Annotated[float, Field(ge=0, le=168)]
    weekly_hours_after: Annotated[float, Field(ge=0, le=168)]


class TrainingMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    module_id: Identifier


class ResponseMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    response_minutes: NonNegative


class PrepMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    minutes: NonNegative


METADATA_SCHEMAS: dict[str, type[BaseModel]] = {
    "reschedule_request": RescheduleMetadata,
    "availability_change": AvailabilityMetadata,
    "training_completed": TrainingMetadata,
    "message_response": ResponseMetadata,
    "session_prep": PrepMetadata,
}


class TutorEventIn(WireRecord):
    event_id: Identifier
    tutor_id: Identifier
    event_type: EventType
    event_timestamp: Timestamp
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _typed_metadata(self) -> TutorEventIn:
        schema = METADATA_SCHEMAS.get(self.event_type)
        if schema is not None:
            typed = schema.model_validate(self.metadata).model_dump(exclude_none=True)
            self.__dict__["metadata"] = typed  # see SessionIn: no pydantic __setattr__
        return self


class _FieldError(ValueError):
    """A cross-field rule that blames one named field (reported as that field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


SCHEMAS: dict[str, type[WireRecord]] = {
    "tutors": TutorIn,
    "students": StudentIn,
    "sessions": SessionIn,
    "feedback": FeedbackIn,
    "tutor_events": TutorEventIn,
}

ID_FIELDS: dict[str, str] = {
    "tutors": "tutor_id",
    "students": "student_id",
    "sessions": "session_id",
    "feedback": "feedback_id",
    "tutor_events": "event_id",
}

# Fields whose values are lists/objects: CSV carries them as JSON strings.
JSON_FIELDS: dict[str, frozenset[str]] = {
    "tutors": frozenset({"subjects"}),
    "students": frozenset({"subjects_interested"}),
    "sessions": frozenset(),
    "feedback": frozenset({"ratings", "improvement_areas"}),
    "tutor_events": frozenset({"metadata"}),
}
