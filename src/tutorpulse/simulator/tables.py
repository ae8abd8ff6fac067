"""Struct-of-arrays tables: the simulator's state, vectorised with numpy and serialisable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Self

import numpy as np
import numpy.typing as npt

NEVER = 2**31 - 1  # a day number that is never reached (int32)


def empty(dtype: npt.DTypeLike) -> Callable[[], npt.NDArray[Any]]:
    """Default factory of a column: an empty array of that type."""
    return lambda: np.empty(0, dtype=dtype)


@dataclass
class Table:
    """Equal-length numpy columns; subclasses declare them with ``column(dtype)``."""

    def __len__(self) -> int:
        first = fields(self)[0].name
        return len(getattr(self, first))

    def append(self, other: Self) -> npt.NDArray[np.int64]:
        """Append the rows of ``other``; return their new indices."""
        start = len(self)
        for f in fields(self):
            merged = np.concatenate([getattr(self, f.name), getattr(other, f.name)])
            setattr(self, f.name, merged.astype(getattr(self, f.name).dtype, copy=False))
        return np.arange(start, len(self), dtype=np.int64)

    def take(self, index: npt.NDArray[Any]) -> Self:
        return type(self)(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name)[mask])

    @classmethod
    def from_columns(cls, **columns: Any) -> Self:
        """Build rows from arrays or scalars (scalars are broadcast), casting to column types."""
        length = max((np.size(v) for v in columns.values() if np.ndim(v) > 0), default=1)
        types = cls()
        built: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in columns:
                raise KeyError(f"{cls.__name__}: column {f.name!r} missing")
            value = np.asarray(columns[f.name], dtype=getattr(types, f.name).dtype)
            built[f.name] = np.broadcast_to(value, (length,)).copy() if value.ndim == 0 else value
        return cls(**built)

    def to_state(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        types = cls()
        return cls(
            **{
                f.name: np.asarray(state[f.name], dtype=getattr(types, f.name).dtype)
                for f in fields(cls)
            }
        )


@dataclass
class TutorTable(Table):
    onboarding_day: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    baseline: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    family: npt.NDArray[np.int8] = field(default_factory=empty(np.int8))
    archetype: npt.NDArray[np.int8] = field(default_factory=empty(np.int8))
    quality: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    first_skill: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    tech_rate: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    level0: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    drift: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    reschedule_trait: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    login_trait: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    prep_trait: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    response_trait: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    # Latent, drifting state.
    commitment: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    dip_depth: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    dip_left: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    holiday_start: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    holiday_end: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    availability: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    leave_mode: npt.NDArray[np.int8] = field(default_factory=empty(np.int8))
    leave_start: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    fade_tau: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    fade_floor: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    resign_day: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    engagement: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    desired_load: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))
    training_done: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    # Churn bookkeeping: the DESIGN.md §5 rules, evaluated as the days pass.
    churned: npt.NDArray[np.bool_] = field(default_factory=empty(np.bool_))
    churn_day: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    churn_reason: npt.NDArray[np.int8] = field(default_factory=empty(np.int8))
    days_without_held: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    week_held: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    weeks_below: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))


@dataclass
class PairTable(Table):
    """A student working with a tutor on one subject; sessions are numbered per pair."""

    tutor: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    student: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    subject: npt.NDArray[np.int16] = field(default_factory=empty(np.int16))
    cadence: npt.NDArray[np.float64] = field(default_factory=empty(np.float64))  # a week
    # Bit k set: the pair meets on weekday k (Monday = 0).
    weekdays: npt.NDArray[np.int16] = field(default_factory=empty(np.int16))
    next_number: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    duration: npt.NDArray[np.int16] = field(default_factory=empty(np.int16))
    group: npt.NDArray[np.bool_] = field(default_factory=empty(np.bool_))
    active: npt.NDArray[np.bool_] = field(default_factory=empty(np.bool_))


@dataclass
class BookingTable(Table):
    """Booked sessions whose day has not come yet (the booking horizon)."""

    session: npt.NDArray[np.int64] = field(default_factory=empty(np.int64))
    pair: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    tutor: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    student: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    number: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    day: npt.NDArray[np.int32] = field(default_factory=empty(np.int32))
    start: npt.NDArray[np.int64] = field(default_factory=empty(np.int64))  # epoch seconds
    duration: npt.NDArray[np.int16] = field(default_factory=empty(np.int16))
    subject: npt.NDArray[np.int16] = field(default_factory=empty(np.int16))
    group: npt.NDArray[np.bool_] = field(default_factory=empty(np.bool_))
    tutor_reschedule: npt.NDArray[np.bool_] = field(default_factory=empty(np.bool_))
    reschedule_at: npt.NDArray[np.int64] = field(
        default_factory=empty(np.int64)
    )  # when it was moved (0: never)
