"""The simulation engine: one day-step, one tick loop, for files, backfill and live mode.

``advance_to(t)`` simulates every day that has begun by ``t`` and releases the records whose
moment has come. Whether a month is run in one call, in days or in 15-minute ticks, the same
records come out in the same order (the emission buffer sees to that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from tutorpulse.simulator import activity, catalog, latent, market, outcomes
from tutorpulse.simulator.buffer import EmissionBuffer
from tutorpulse.simulator.config import EXPECTED_ACTIVITY, SimulationConfig
from tutorpulse.simulator.feedback_text import compose
from tutorpulse.simulator.profiles import NamePool, ProfileFactory, student_records, tutor_table
from tutorpulse.simulator.randomness import STREAM_INITIAL_MARKET, day_rng, entity_rng
from tutorpulse.simulator.records import (
    epoch_seconds,
    feedback_id,
    iso_times,
    session_id,
    to_datetime,
    tutor_id,
    tutor_index,
)
from tutorpulse.simulator.render import event_records, session_records
from tutorpulse.simulator.tables import NEVER, BookingTable, PairTable, TutorTable

DAY = 86_400
STATE_VERSION = 1
INACTIVITY_DAYS = 15  # DESIGN.md §5: the 15th consecutive day without a held session
REDUCED_WEEKS = 3
RESIGNATION, INACTIVITY, REDUCED_ACTIVITY = 1, 2, 3
CHURN_REASONS = {
    RESIGNATION: "resignation",
    INACTIVITY: "inactivity",
    REDUCED_ACTIVITY: "reduced_activity",
}
SEEKING_DAYS = 14  # a student looking for a new tutor gives up after two weeks
SEEKER_MATCH = 0.85

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class InterventionRecord:
    """What the simulator needs to know of one intervention (see ``live``)."""

    tutor_id: str
    intervention_type: str
    status: str
    reached_at: datetime  # when it was sent or acted on (else its recommended date)
    holdout: bool = False


InterventionSource = Callable[[datetime], Sequence[InterventionRecord]]


class MarketplaceSimulator:
    def __init__(self, config: SimulationConfig, *, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.params = config.behaviour
        self.start_seconds = epoch_seconds(config.start)
        self.start_weekday = config.start.weekday()
        self.profiles = ProfileFactory(config)
        self.names = NamePool(config.seed)
        self.buffer = EmissionBuffer()
        self.tutors = TutorTable()
        self.tutor_subjects: list[list[int]] = []
        self.tutor_records: list[dict[str, Any]] = []
        self.pairs = PairTable()
        self.pair_of: dict[tuple[int, int], int] = {}
        self.bookings = BookingTable()
        self.seeking: dict[int, list[list[int]]] = {}
        self.student_count = 0
        self.next_session = 1
        self.next_feedback = 1
        self.next_event = 1
        self.next_day = 0
        self.cursor = self.start_seconds - 1
        self.hires_tomorrow = 0
        self._held_today = np.zeros(0, dtype=np.int64)
        self._resigned_at: dict[int, int] = {}
        if state is None:
            self._initialise()
        else:
            self._restore(state)

    # ------------------------------------------------------------------ public
    @property
    def now(self) -> datetime:
        """The simulated moment up to which records have been released."""
        return to_datetime(self.cursor + 1)

    @property
    def days_simulated(self) -> int:
        return self.next_day

    def day_start(self, day: int) -> int:
        return self.start_seconds + day * DAY

    def advance_to(
        self, until: datetime | int, *, interventions: InterventionSource | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Simulate up to ``until`` (inclusive, epoch seconds or datetime); return new records.

        The result maps buffer streams to records: ``session_bookings`` are sessions announced
        as ``scheduled``; ``session_ratings`` are sessions updated when their rating arrives.
        """
        limit = until if isinstance(until, int) else int(until.timestamp())
        if limit < self.cursor:
            raise ValueError("the simulated clock cannot go backwards")
        while self.day_start(self.next_day) <= limit:
            self._simulate_day(self.next_day, interventions)
            self.next_day += 1
        self.cursor = limit
        return self.buffer.pop_until(limit)

    def churn_log(self) -> list[dict[str, Any]]:
        """The churn the simulator enacted (for tests; the report re-derives it from files)."""
        index = np.flatnonzero(self.tutors.churned)
        return [
            {
                "tutor_id": tutor_id(int(i)),
                "churn_day": int(self.tutors.churn_day[i]),
                "reason": CHURN_REASONS[int(self.tutors.churn_reason[i])],
            }
            for i in index
        ]

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "config": self.config.describe(),
            "behaviour": self.config.behaviour_dict(),
            "next_day": self.next_day,
            "cursor": self.cursor,
            "counters": [
                self.student_count,
                self.next_session,
                self.next_feedback,
                self.next_event,
            ],
            "hires_tomorrow": self.hires_tomorrow,
            "tutors": self.tutors.to_state(),
            "tutor_subjects": self.tutor_subjects,
            "tutor_records": self.tutor_records,
            "pairs": self.pairs.to_state(),
            "bookings": self.bookings.to_state(),
            "seeking": {str(k): v for k, v in sorted(self.seeking.items())},
            "buffer": self.buffer.to_state(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError("simulator state was written by an incompatible version")
        # Compared in their JSON form: a saved state has lists where the config has tuples.
        expected = orjson.loads(
            orjson.dumps(
                {"config": self.config.describe(), "behaviour": self.config.behaviour_dict()}
            )
        )
        if {"config": state.get("config"), "behaviour": state.get("behaviour")} != expected:
            raise ValueError("simulator state belongs to a different configuration")
        self.next_day = int(state["next_day"])
        self.cursor = int(state["cursor"])
        self.student_count, self.next_session, self.next_feedback, self.next_event = (
            int(v) for v in state["counters"]
        )
        self.hires_tomorrow = int(state["hires_tomorrow"])
        self.tutors = TutorTable.from_state(state["tutors"])
        self.tutor_subjects = [list(s) for s in state["tutor_subjects"]]
        self.tutor_records = list(state["tutor_records"])
        self.pairs = PairTable.from_state(state["pairs"])
        self.pair_of = {
            (int(s), int(t)): k
            for k, (s, t) in enumerate(
                zip(self.pairs.student.tolist(), self.pairs.tutor.tolist(), strict=True)
            )
        }
        self.bookings = BookingTable.from_state(state["bookings"])
        self.seeking = {int(k): [list(x) for x in v] for k, v in state["seeking"].items()}
        self.buffer = EmissionBuffer.from_state(state["buffer"])

    # ------------------------------------------------------------- initialise
    def _initialise(self) -> None:
        self._add_tutors(self.config.initial_tutors, onboarding_day=None, at=self.start_seconds)
        tutors = self.tutors
        latent.seed_departures(
            tutors, params=self.params, rng=entity_rng(self.config.seed, STREAM_INITIAL_MARKET, 1)
        )
        latent.refresh(tutors, day=0, alive=np.ones(len(tutors), dtype=bool), params=self.params)
        self._held_today = np.zeros(len(tutors), dtype=np.int64)
        self._initial_pairs()
        # Bookings made before the start for the first days of the run.
        for target in range(self.params.booking_horizon_days):
            rng = day_rng(self.config.seed, target - self.params.booking_horizon_days)
            alive = (tutors.onboarding_day <= 0) & ~tutors.churned
            self._book(
                target_day=target,
                booking_day=target - self.params.booking_horizon_days,
                booking_time=self.start_seconds,
                alive=alive,
                rng=rng,
            )

    def _initial_pairs(self) -> None:
        rng = entity_rng(self.config.seed, STREAM_INITIAL_MARKET, 0)
        tutors = self.tutors
        n = len(tutors)
        counts = np.maximum(np.round(tutors.desired_load / market.MEAN_CADENCE), 1).astype(np.int64)
        tutor = np.repeat(np.arange(n, dtype=np.int64), counts)
        pairs = market.pair_attributes(
            tutor, family=tutors.family, subjects=self.tutor_subjects, rng=rng
        )
        m = len(tutor)
        # Pairs already under way: their earlier sessions happened before the data starts.
        tenure = -tutors.onboarding_day[tutor].astype(np.int64)
        done = rng.geometric(1 / 7, m) - 1
        done = np.minimum(done, (tenure * pairs.cadence / 7).astype(np.int64))
        students = np.arange(self.student_count, self.student_count + m, dtype=np.int64)
        self._emit_new_students(students, pairs.subject, at=self.start_seconds, rng=rng)
        self._append_pairs(
            tutor,
            students,
            pairs.subject,
            pairs.cadence,
            pairs.duration,
            pairs.group,
            next_number=1 + done,
            rng=rng,
        )

    # ------------------------------------------------------------------ a day
    def _simulate_day(self, day: int, interventions: InterventionSource | None) -> None:
        rng = day_rng(self.config.seed, day)
        t0 = self.day_start(day)
        weekday = (self.start_weekday + day) % 7
        self._onboard_hires(day, t0)
        tutors = self.tutors
        alive = (tutors.onboarding_day <= day) & ~tutors.churned
        reduction = self.hazard_reduction(day, interventions)
        changes = latent.advance(
            tutors, day=day, alive=alive, rng=rng, params=self.params, hazard_reduction=reduction
        )
        self._emit_availability(changes, t0, rng)
        horizon = self.params.booking_horizon_days
        self._book(target_day=day + horizon, booking_day=day, booking_time=t0, alive=alive, rng=rng)
        self._resign(day, t0, alive, rng)
        self._hold_sessions(day, t0, weekday, rng)
        self._daily_activity(day, t0, alive, rng)
        self._end_of_day(day, t0, weekday)
        self._plan_hiring(day)

    def _onboard_hires(self, day: int, t0: int) -> None:
        self._add_tutors(self.hires_tomorrow, onboarding_day=day, at=t0)
        self.hires_tomorrow = 0
        grown = len(self.tutors) - len(self._held_today)
        if grown:
            self._held_today = np.concatenate([self._held_today, np.zeros(grown, dtype=np.int64)])

    def _add_tutors(self, count: int, *, onboarding_day: int | None, at: int) -> None:
        first = len(self.tutors)
        profiles = [
            self.profiles.tutor(
                index, onboarding_day=onboarding_day, start_seconds=self.start_seconds
            )
            for index in range(first, first + count)
        ]
        if not profiles:
            return
        self.tutors.append(tutor_table(profiles))
        for profile in profiles:
            self.tutor_subjects.append(profile.subjects)
            self.tutor_records.append(profile.record)
        self.buffer.add(
            "tutors",
            emit=at,
            order=np.arange(first, first + count),
            tutor=np.arange(first, first + count),
            records=[dict(p.record) for p in profiles],
        )

    def hazard_reduction(
        self, day: int, source: InterventionSource | None
    ) -> npt.NDArray[np.float64]:
        """Per tutor, the share of the departure hazard that interventions remove on ``day``."""
        n = len(self.tutors)
        factor = np.ones(n)
        if source is None:
            return np.zeros(n)
        effects = self.config.interventions
        for item in source(to_datetime(self.day_start(day))):
            reached = effects.reaches_tutor(item.status, holdout=item.holdout)
            if not reached or not item.tutor_id.startswith("syn_t"):
                continue
            index = tutor_index(item.tutor_id)
            if not 0 <= index < n:
                continue
            reached_day = (int(item.reached_at.timestamp()) - self.start_seconds) // DAY
            begins = reached_day + effects.delay_days
            if begins <= day < begins + effects.duration_days:
                factor[index] *= 1.0 - effects.reduction_for(item.intervention_type)
        reduction: npt.NDArray[np.float64] = np.minimum(1.0 - factor, effects.max_total_reduction)
        return reduction

    # --------------------------------------------------------------- bookings
    def _book(
        self,
        *,
        target_day: int,
        booking_day: int,
        booking_time: int,
        alive: npt.NDArray[np.bool_],
        rng: np.random.Generator,
    ) -> None:
        tutors, params = self.tutors, self.params
        n = len(tutors)
        on_holiday = latent.on_holiday(tutors, target_day)
        bookable = alive & (tutors.resign_day > target_day) & ~on_holiday
        desired = tutors.desired_load
        load = market.pair_load(self.pairs, n)
        trimmed = market.trim(
            self.pairs, load=load, desired=desired, tolerance=params.trim_tolerance, rng=rng
        )
        self._end_pairs(trimmed, rng.random(len(trimmed)) < 0.8, booking_day)

        load = market.pair_load(self.pairs, n)
        holiday_soon = (tutors.holiday_start <= target_day) & (tutors.holiday_end >= booking_day)
        eligible = bookable & (tutors.leave_mode == latent.NO_LEAVE) & ~holiday_soon
        # The platform pushes students to new tutors so that they get going.
        newcomer = booking_day - tutors.onboarding_day.astype(np.int64) < 21
        requests = market.request_pairs(
            desired=desired,
            load=load,
            eligible=eligible,
            family=tutors.family,
            subjects=self.tutor_subjects,
            fill_rate=params.fill_rate * np.where(newcomer, 2.0, 1.0),
            rng=rng,
        )
        self._form_pairs(requests, booking_day, booking_time, rng)

        load = market.pair_load(self.pairs, n)
        accept = np.where(bookable, np.minimum(1.0, desired / np.maximum(load, 1e-9)), 0.0)
        weekday = (self.start_weekday + target_day) % 7
        chosen = market.choose_bookings(self.pairs, accept=accept, weekday=weekday, rng=rng)
        hours, fits = market.assign_hours(
            self.pairs.tutor[chosen].astype(np.int64), weekend=weekday >= 5, rng=rng
        )
        chosen, hours = chosen[fits], hours[fits]
        m = len(chosen)
        half_past = rng.random(m) < 0.25
        start = self.day_start(target_day) + hours * 3600 + np.where(half_past, 1800, 0)
        order = np.lexsort((self.pairs.tutor[chosen], start))
        chosen, start = chosen[order], start[order]
        tutor = self.pairs.tutor[chosen].astype(np.int64)
        number = self.pairs.next_number[chosen].copy()
        self.pairs.next_number[chosen] += 1

        u = rng.random((5, m))
        e = tutors.engagement[tutor]
        family = tutors.family[tutor].astype(np.int64)
        tutor_chance = (
            params.reschedule_base
            * np.asarray(params.family_reschedule)[family]
            * tutors.reschedule_trait[tutor]
            * np.exp(params.reschedule_engagement * (1 - e))
        )
        tutor_chance = np.minimum(tutor_chance, 0.6)
        by_tutor = u[0] < tutor_chance
        share = params.student_reschedule_share
        student_chance = share / (1 - share) * (float(tutor_chance.mean()) if m else 0.0)
        by_student = ~by_tutor & (u[1] < student_chance)
        short = u[2] < 0.25 + 0.5 * (1 - e)
        notice_hours = np.where(
            short,
            0.5 + 11.5 * u[3],
            np.select([u[4] < 0.5, u[4] < 0.8], [12 + 12 * u[3], 24 + 24 * u[3]], 48 + 24 * u[3]),
        )
        notice_seconds = (notice_hours * 3600).astype(np.int64)
        latest_notice = start - booking_time - 60
        notice_seconds = np.clip(notice_seconds, 900, np.maximum(latest_notice, 900))
        rescheduled = by_tutor | by_student
        request_at = np.where(rescheduled, np.maximum(start - notice_seconds, booking_time), 0)

        sessions = np.arange(self.next_session, self.next_session + m, dtype=np.int64)
        self.next_session += m
        pairs = self.pairs
        new = BookingTable.from_columns(
            session=sessions,
            pair=chosen,
            tutor=tutor,
            student=pairs.student[chosen],
            number=number,
            day=target_day,
            start=start,
            duration=pairs.duration[chosen],
            subject=pairs.subject[chosen],
            group=pairs.group[chosen],
            tutor_reschedule=by_tutor,
            reschedule_at=request_at,
        )
        self.bookings.append(new)
        self.buffer.add(
            "session_bookings",
            emit=booking_time,
            order=sessions,
            tutor=tutor,
            records=session_records(new, status="scheduled"),
        )
        index = np.flatnonzero(rescheduled)
        reasons_t = rng.integers(0, len(catalog.TUTOR_RESCHEDULE_REASONS), m)
        reasons_s = rng.integers(0, len(catalog.STUDENT_RESCHEDULE_REASONS), m)
        metadata = [
            {
                "session_id": session_id(int(sessions[k])),
                "hours_notice": round(float((start[k] - request_at[k]) / 3600), 1),
                "reason": catalog.TUTOR_RESCHEDULE_REASONS[reasons_t[k]]
                if by_tutor[k]
                else catalog.STUDENT_RESCHEDULE_REASONS[reasons_s[k]],
                "initiated_by": "tutor" if by_tutor[k] else "student",
            }
            for k in index.tolist()
        ]
        self._emit_events("reschedule_request", tutor[index], request_at[index], metadata)

    def _form_pairs(
        self, requests: market.PairRequests, day: int, at: int, rng: np.random.Generator
    ) -> None:
        m = len(requests.tutor)
        if m == 0:
            return
        u = rng.random(m)
        students = np.empty(m, dtype=np.int64)
        fresh: list[int] = []
        # A student may be listed twice (two pairs ended); one student, one pair per tutor.
        claimed: set[tuple[int, int]] = set()
        for k in range(m):
            subject = int(requests.subject[k])
            tutor = int(requests.tutor[k])
            pool = self.seeking.get(subject)
            while pool and pool[0][1] < day - SEEKING_DAYS:
                pool.pop(0)
            match = -1
            if pool and u[k] < SEEKER_MATCH:
                for position, (student, _) in enumerate(pool[:5]):
                    previous = self.pair_of.get((student, tutor))
                    busy = previous is not None and bool(self.pairs.active[previous])
                    if not busy and (student, tutor) not in claimed:
                        match = student
                        claimed.add((student, tutor))
                        pool.pop(position)
                        break
            if match < 0:
                match = self.student_count + len(fresh)
                fresh.append(k)
            students[k] = match
        if fresh:
            index = np.asarray(fresh, dtype=np.int64)
            self._emit_new_students(students[index], requests.subject[index], at=at, rng=rng)
        # A student who comes back to an earlier tutor continues that pair's numbering.
        returning = [
            k for k in range(m) if (int(students[k]), int(requests.tutor[k])) in self.pair_of
        ]
        for k in returning:
            pair = self.pair_of[(int(students[k]), int(requests.tutor[k]))]
            self.pairs.active[pair] = True
            self.pairs.cadence[pair] = requests.cadence[k]
            self.pairs.weekdays[pair] = market.weekday_masks(requests.cadence[k : k + 1], rng)[0]
        new = np.setdiff1d(np.arange(m), np.asarray(returning, dtype=np.int64))
        self._append_pairs(
            requests.tutor[new],
            students[new],
            requests.subject[new],
            requests.cadence[new],
            requests.duration[new],
            requests.group[new],
            np.ones(len(new), dtype=np.int64),
            rng,
        )

    def _append_pairs(
        self,
        tutor: IntArray,
        student: IntArray,
        subject: npt.NDArray[Any],
        cadence: npt.NDArray[np.float64],
        duration: npt.NDArray[Any],
        group: npt.NDArray[np.bool_],
        next_number: IntArray,
        rng: np.random.Generator,
    ) -> None:
        index = self.pairs.append(
            PairTable.from_columns(
                tutor=tutor,
                student=student,
                subject=subject,
                cadence=cadence,
                weekdays=market.weekday_masks(cadence, rng),
                next_number=next_number,
                duration=duration,
                group=group,
                active=True,
            )
        )
        for k, s, t in zip(index.tolist(), student.tolist(), tutor.tolist(), strict=True):
            self.pair_of[(s, t)] = k

    def _emit_new_students(
        self, students: IntArray, subjects: npt.NDArray[Any], *, at: int, rng: np.random.Generator
    ) -> None:
        first = self.student_count
        count = len(students)
        records = student_records(rng, self.names, first, np.asarray(subjects, dtype=np.int16))
        self.student_count += count
        self.buffer.add(
            "students", emit=at, order=np.arange(first, first + count), tutor=-1, records=records
        )

    def _end_pairs(self, pairs: IntArray, moves_on: npt.NDArray[np.bool_], day: int) -> None:
        if len(pairs) == 0:
            return
        self.pairs.active[pairs] = False
        for pair in pairs[moves_on].tolist():
            subject = int(self.pairs.subject[pair])
            self.seeking.setdefault(subject, []).append([int(self.pairs.student[pair]), day])

    # ------------------------------------------------------------- churning
    def _resign(
        self, day: int, t0: int, alive: npt.NDArray[np.bool_], rng: np.random.Generator
    ) -> None:
        quitting = np.flatnonzero(alive & (self.tutors.resign_day == day))
        self._resigned_at = {}
        if len(quitting) == 0:
            return
        at = t0 + rng.integers(8 * 3600, 20 * 3600, len(quitting))
        self._emit_events("resignation", quitting, at, None)
        self._resigned_at = dict(zip(quitting.tolist(), at.tolist(), strict=True))
        self._churn(
            quitting,
            day=day,
            reason=RESIGNATION,
            last_moment=at,
            announce_at=at,
            cancel_from_day=day,
        )

    def _churn(
        self,
        index: IntArray,
        *,
        day: int,
        reason: int,
        last_moment: IntArray,
        announce_at: IntArray,
        cancel_from_day: int,
    ) -> None:
        """The tutor is gone after ``last_moment``: nothing of theirs may follow it."""
        tutors = self.tutors
        tutors.churned[index] = True
        tutors.churn_day[index] = day
        tutors.churn_reason[index] = reason
        limit = np.full(len(tutors), np.iinfo(np.int64).max, dtype=np.int64)
        limit[index] = last_moment
        self.buffer.purge("tutor_events", limit)
        announce = np.zeros(len(tutors), dtype=np.int64)
        announce[index] = announce_at

        gone = np.isin(self.bookings.tutor, index) & (self.bookings.day >= cancel_from_day)
        cancelled = self.bookings.take(gone)
        self.bookings.keep(~gone)
        if len(cancelled):
            # A request to move the session counts only if it was made before the tutor left.
            flagged = cancelled.tutor_reschedule & (
                cancelled.reschedule_at <= limit[cancelled.tutor]
            )
            records = session_records(
                cancelled,
                status="cancelled",
                tutor_reschedule=flagged,
                no_show=np.zeros(len(cancelled), dtype=bool),
            )
            self.buffer.add(
                "sessions",
                emit=announce[cancelled.tutor],
                order=cancelled.session,
                tutor=cancelled.tutor,
                records=records,
            )

        leaving_pairs = np.flatnonzero(self.pairs.active & np.isin(self.pairs.tutor, index))
        self._end_pairs(leaving_pairs, np.ones(len(leaving_pairs), dtype=bool), day)
        for i, at in zip(index.tolist(), announce[index].tolist(), strict=True):
            self.tutor_records[i]["status"] = "churned"
            self.buffer.add(
                "tutors", emit=at, order=i, tutor=i, records=[dict(self.tutor_records[i])]
            )

    # --------------------------------------------------------------- sessions
    def _hold_sessions(self, day: int, t0: int, weekday: int, rng: np.random.Generator) -> None:
        today = self.bookings.day == day
        sessions = self.bookings.take(today)
        self.bookings.keep(~today)
        self._held_today = np.zeros(len(self.tutors), dtype=np.int64)
        if len(sessions) == 0:
            return
        result = outcomes.simulate_sessions(
            sessions,
            self.tutors,
            day=day,
            day_start=t0,
            weekday=weekday,
            params=self.params,
            rng=rng,
        )
        held = ~result.no_show
        tutor = sessions.tutor.astype(np.int64)
        self._held_today = np.bincount(tutor[held], minlength=len(self.tutors)).astype(np.int64)

        actual = sessions.start + 60 * result.late_minutes
        actual_iso: list[str | None] = [
            None if ns else ts
            for ns, ts in zip(result.no_show.tolist(), iso_times(actual), strict=True)
        ]
        end = np.where(held, actual, sessions.start) + 60 * sessions.duration.astype(np.int64)
        finals = session_records(
            sessions,
            status="completed",
            actual_start=actual_iso,
            tutor_reschedule=sessions.tutor_reschedule,
            no_show=result.no_show,
            late_minutes=result.late_minutes,
            engagement_score=np.where(held, result.engagement_score, np.nan),
            objectives_met=np.where(held, result.objectives_met, False),
            technical_issues=result.technical_issues,
        )
        for k in np.flatnonzero(result.no_show).tolist():
            record = finals[k]
            record["status"] = "no_show"
            record["engagement_score"] = None
            record["learning_objectives_met"] = None
        self.buffer.add("sessions", emit=end, order=sessions.session, tutor=tutor, records=finals)
        self._emit_feedback(sessions, result, finals, rng)

        prep = np.flatnonzero(result.prepped)
        prep_meta = [
            {"session_id": finals[k]["session_id"], "minutes": int(result.prep_minutes[k])}
            for k in prep.tolist()
        ]
        self._emit_events("session_prep", tutor[prep], result.prep_at[prep], prep_meta)

        ends = np.flatnonzero(result.pair_ends)
        self._end_pairs(sessions.pair[ends].astype(np.int64), result.student_moves_on[ends], day)
        first = np.flatnonzero((sessions.number == 1) & held)
        tenure = day - self.tutors.onboarding_day[tutor[first]].astype(np.int64)
        newness = np.where(tenure < 60, 1.0, 0.3)
        nudge = (
            self.params.first_session_feedback
            * newness
            * np.clip(result.rating_latent[first] - 3.6, -2.5, 1.5)
        )
        np.add.at(self.tutors.commitment, tutor[first], nudge)

    def _emit_feedback(
        self,
        sessions: BookingTable,
        result: outcomes.SessionOutcomes,
        finals: list[dict[str, Any]],
        rng: np.random.Generator,
    ) -> None:
        index = np.flatnonzero(result.has_feedback)
        m = len(index)
        numbers = np.arange(self.next_feedback, self.next_feedback + m, dtype=np.int64)
        self.next_feedback += m
        stamps = iso_times(result.feedback_at[index])
        area_draws = rng.random((m, 4))
        feedback: list[dict[str, Any]] = []
        rated: list[dict[str, Any]] = []
        for j, k in enumerate(index.tolist()):
            rating = int(result.rating[k])
            text = None
            if result.has_text[k]:
                text = compose(
                    rng,
                    rating=rating,
                    subject=int(sessions.subject[k]),
                    late_minutes=int(result.late_minutes[k]),
                    technical_issues=bool(result.technical_issues[k]),
                    objectives_met=bool(result.objectives_met[k]),
                )
            categories = result.categories[k]
            record: dict[str, Any] = {
                "feedback_id": feedback_id(int(numbers[j])),
                "session_id": finals[k]["session_id"],
                "student_id": finals[k]["student_id"],
                "tutor_id": finals[k]["tutor_id"],
                "overall_rating": rating,
                "first_session": bool(sessions.number[k] == 1),
                "ratings": dict(zip(outcomes.CATEGORY_NAMES, categories.tolist(), strict=True)),
                "would_recommend": bool(result.would_recommend[k]),
                "free_text_feedback": text,
                "timestamp": stamps[j],
            }
            if sessions.number[k] == 1:
                answer = int(result.would_work_again[k])
                record["would_work_again"] = outcomes.WOULD_WORK_AGAIN[answer]
                negative = answer >= 2 or rating <= 2
                record["improvement_areas"] = (
                    outcomes.improvement_areas(result, k, area_draws[j]) if negative else None
                )
            feedback.append(record)
            updated = dict(finals[k])
            updated["student_rating"] = rating
            updated["student_feedback_text"] = text
            rated.append(updated)
        self.buffer.add(
            "feedback",
            emit=result.feedback_at[index],
            order=numbers,
            tutor=sessions.tutor[index],
            records=feedback,
        )
        self.buffer.add(
            "session_ratings",
            emit=result.feedback_at[index],
            order=sessions.session[index],
            tutor=sessions.tutor[index],
            records=rated,
        )

    # --------------------------------------------------------------- activity
    def _daily_activity(
        self, day: int, t0: int, alive: npt.NDArray[np.bool_], rng: np.random.Generator
    ) -> None:
        tutors = self.tutors
        load = market.pair_load(self.pairs, len(tutors))
        daily = activity.simulate_activity(
            tutors,
            present=alive,
            on_holiday=latent.on_holiday(tutors, day),
            fade=latent.fade_factor(tutors, day),
            load=load,
            day=day,
            day_start=t0,
            rng=rng,
        )
        logins = self._before_resignation(daily.login_tutor, daily.login_at)
        self._emit_events("login", daily.login_tutor[logins], daily.login_at[logins], None)
        kept = self._before_resignation(daily.message_tutor, daily.message_at)
        meta = [{"response_minutes": float(v)} for v in daily.response_minutes[kept].tolist()]
        self._emit_events(
            "message_response", daily.message_tutor[kept], daily.message_at[kept], meta
        )
        kept = self._before_resignation(daily.training_tutor, daily.training_at)
        modules = [{"module_id": daily.training_module[k]} for k in np.flatnonzero(kept).tolist()]
        self._emit_events(
            "training_completed", daily.training_tutor[kept], daily.training_at[kept], modules
        )

    def _before_resignation(self, tutor: IntArray, at: IntArray) -> npt.NDArray[np.bool_]:
        if not self._resigned_at:
            return np.ones(len(tutor), dtype=bool)
        limit = np.full(len(self.tutors), np.iinfo(np.int64).max, dtype=np.int64)
        for t, moment in self._resigned_at.items():
            limit[t] = moment
        return at < limit[tutor]

    def _emit_availability(
        self, changes: latent.AvailabilityChanges, t0: int, rng: np.random.Generator
    ) -> None:
        count = len(changes.tutor)
        at = t0 + rng.integers(6 * 3600, 22 * 3600, count)
        meta = [
            {"weekly_hours_before": float(b), "weekly_hours_after": float(a)}
            for b, a in zip(changes.before.tolist(), changes.after.tolist(), strict=True)
        ]
        self._emit_events("availability_change", changes.tutor, at.astype(np.int64), meta)

    def _emit_events(
        self, event_type: str, tutor: IntArray, at: IntArray, metadata: list[dict[str, Any]] | None
    ) -> None:
        m = len(tutor)
        if m == 0:
            return
        order = np.lexsort((tutor, at))
        tutor, at = np.asarray(tutor, dtype=np.int64)[order], np.asarray(at, dtype=np.int64)[order]
        if metadata is not None:
            metadata = [metadata[i] for i in order.tolist()]
        numbers = np.arange(self.next_event, self.next_event + m, dtype=np.int64)
        self.next_event += m
        records = event_records(numbers, tutor, event_type, at, metadata)
        self.buffer.add("tutor_events", emit=at, order=numbers, tutor=tutor, records=records)

    # -------------------------------------------------------------- end of day
    def _end_of_day(self, day: int, t0: int, weekday: int) -> None:
        tutors = self.tutors
        held = self._held_today
        alive = (tutors.onboarding_day <= day) & ~tutors.churned
        tutors.days_without_held = np.where(
            alive, np.where(held > 0, 0, tutors.days_without_held + 1), tutors.days_without_held
        ).astype(np.int32)
        if weekday == 0:
            tutors.week_held[:] = 0
        tutors.week_held += np.where(alive, held, 0).astype(np.int32)
        inactive = alive & (tutors.days_without_held >= INACTIVITY_DAYS)
        reduced = np.zeros(len(tutors), dtype=bool)
        if weekday == 6:
            monday = day - 6
            eligible = alive & (monday >= np.maximum(tutors.onboarding_day, 0))
            below = tutors.week_held < 0.5 * tutors.baseline
            tutors.weeks_below = np.where(eligible & below, tutors.weeks_below + 1, 0).astype(
                np.int32
            )
            reduced = eligible & (tutors.weeks_below >= REDUCED_WEEKS) & ~inactive
        next_midnight = t0 + DAY
        for mask, reason in ((inactive, INACTIVITY), (reduced, REDUCED_ACTIVITY)):
            index = np.flatnonzero(mask)
            if len(index):
                # Known as the day ends: cancellations and the status change come with it.
                self._churn(
                    index,
                    day=day,
                    reason=reason,
                    last_moment=np.full(len(index), next_midnight - 1, dtype=np.int64),
                    announce_at=np.full(len(index), next_midnight - 1, dtype=np.int64),
                    cancel_from_day=day + 1,
                )

    def _plan_hiring(self, day: int) -> None:
        tutors = self.tutors
        staying = (
            (tutors.onboarding_day <= day)
            & ~tutors.churned
            & (tutors.leave_mode == latent.NO_LEAVE)
            & (tutors.resign_day == NEVER)
        )
        capacity = float(
            np.sum(
                np.where(
                    staying,
                    tutors.baseline
                    * latent.activity_level(tutors.engagement)
                    * tutors.availability
                    * self.params.utilisation,
                    0.0,
                )
            )
        )
        target = 7 * self.config.sessions_per_day * (1 + self.params.hiring_slack)
        per_hire = self.config.mean_baseline * EXPECTED_ACTIVITY
        wanted = int(max(0.0, target - capacity) // per_hire)
        cap = max(2, int(np.ceil(0.01 * staying.sum())))
        self.hires_tomorrow = min(wanted, cap)
