"""Tutor and student profiles: demographics (Faker, seeded per entity) and latent traits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from faker import Faker

from tutorpulse.simulator import catalog
from tutorpulse.simulator.config import MAX_BASELINE, MIN_BASELINE, SimulationConfig
from tutorpulse.simulator.randomness import (
    STREAM_NAMES,
    STREAM_TUTOR_PROFILE,
    entity_rng,
    entity_seed,
)
from tutorpulse.simulator.records import iso_dates, many_ids, tutor_id
from tutorpulse.simulator.tables import NEVER, TutorTable

# Teaching-quality offset by archetype (ratings); overlaps heavily with the family spread.
ARCHETYPE_QUALITY = (0.35, -0.1, -0.05, 0.05, -0.15)
_GOLDEN = 0.6180339887498949
LOCATIONS = 1500
_NOT_EMAIL_SAFE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class TutorProfile:
    traits: dict[str, Any]  # one row of TutorTable
    subjects: list[int]
    record: dict[str, Any]


def tutor_table(profiles: list[TutorProfile]) -> TutorTable:
    """Rows of many profiles as one table (one allocation per column, not per tutor)."""
    if not profiles:
        return TutorTable()
    names = profiles[0].traits.keys()
    return TutorTable.from_columns(**{n: np.array([p.traits[n] for p in profiles]) for n in names})


class ProfileFactory:
    """Builds tutor ``index`` identically whatever else exists (its own seeded stream)."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self._faker = Faker("en_US")
        self._mix_offset = entity_rng(config.seed, STREAM_TUTOR_PROFILE, 10**9).random()
        # Places come from a pool drawn once (Faker's city() is slow); names stay per tutor.
        places = Faker("en_US")
        places.seed_instance(entity_seed(config.seed, STREAM_NAMES, 1))
        self._locations = sorted(
            {
                f"{places.city()}, {places.state_abbr(include_territories=False)}"
                for _ in range(LOCATIONS)
            }
        )

    def tutor(self, index: int, *, onboarding_day: int | None, start_seconds: int) -> TutorProfile:
        """A tutor; ``onboarding_day`` None means a member of the initial population."""
        cfg, params = self.config, self.config.behaviour
        rng = entity_rng(cfg.seed, STREAM_TUTOR_PROFILE, index)
        # Draw every variable in a fixed order, whether used or not, so that the stream stays
        # aligned between initial tutors and hires.
        _, u_new_tenure, z_tenure = rng.random(), rng.random(), rng.standard_normal()
        family = int(rng.choice(3, p=[0.5, 0.3, 0.2]))
        primary = int(rng.choice(len(catalog.SUBJECTS_BY_FAMILY[family])))
        extra_count = int(rng.choice(3, p=[0.35, 0.45, 0.2]))
        extra_family = rng.random(2) < 0.2
        extra_pick = rng.random(2)
        baseline_z, quality_z, first_z = rng.standard_normal(3)
        tech = rng.beta(2.0, 38.0)
        level_z, drift_z, start_z = rng.standard_normal(3)
        habits = rng.lognormal(0.0, [0.35, 0.25, 0.3, 0.35])
        education = int(rng.choice(len(catalog.EDUCATION_LEVELS), p=catalog.EDUCATION_WEIGHTS))
        age = int(rng.integers(22, 65))
        place = self._locations[int(rng.integers(len(self._locations)))]

        if onboarding_day is None:
            # A low-discrepancy sequence over tutor indices keeps the mix close to the prior
            # even for small populations, and stays stable when tutors are added.
            spread = (_GOLDEN * (index + 1) + self._mix_offset) % 1.0
            cumulative = np.cumsum(params.archetype_mix)
            archetype = int(np.searchsorted(cumulative, spread * cumulative[-1], "right"))
            archetype = min(archetype, len(catalog.ARCHETYPES) - 1)
            if archetype == catalog.NEW_TUTOR:
                onboarding_day = -1 - int(u_new_tenure * 29)  # tenure 1..29 days at the start
            else:
                tenure = 30 + int(np.exp(5.4 + 0.9 * z_tenure))
                onboarding_day = -min(tenure, 3000)
        else:
            archetype = catalog.NEW_TUTOR

        subjects = _subjects(family, primary, extra_count, extra_family, extra_pick)
        baseline = float(
            np.clip(round(cfg.mean_baseline + 5.5 * baseline_z), MIN_BASELINE, MAX_BASELINE)
        )
        quality = ARCHETYPE_QUALITY[archetype] + params.family_quality_sd[family] * quality_z
        level = params.level_mean[archetype] + params.level_sd[archetype] * level_z
        drift = params.drift_mean[archetype] + params.drift_sd[archetype] * drift_z
        commitment = level + 0.35 * start_z

        self._faker.seed_instance(entity_seed(cfg.seed, STREAM_TUTOR_PROFILE, index))
        first, last = self._faker.first_name(), self._faker.last_name()
        local = _NOT_EMAIL_SAFE.sub(".", f"{first}.{last}".lower()).strip(".")
        onboarding_date = iso_dates(np.array([start_seconds + onboarding_day * 86400]))[0]

        traits = dict(
            onboarding_day=onboarding_day,
            baseline=baseline,
            family=family,
            archetype=archetype,
            quality=quality,
            first_skill=quality + 0.3 * first_z,
            tech_rate=tech,
            level0=level,
            drift=drift,
            reschedule_trait=habits[0],
            login_trait=habits[1],
            prep_trait=habits[2],
            response_trait=habits[3],
            commitment=commitment,
            dip_depth=0.0,
            dip_left=0,
            holiday_start=NEVER,
            holiday_end=NEVER,
            availability=1.0,
            leave_mode=0,
            leave_start=NEVER,
            fade_tau=1.0,
            fade_floor=1.0,
            resign_day=NEVER,
            engagement=0.8,
            desired_load=0.0,
            training_done=0 if onboarding_day >= -14 else catalog.ONBOARDING_MODULES,
            churned=False,
            churn_day=NEVER,
            churn_reason=0,
            days_without_held=0,
            week_held=0,
            weeks_below=0,
        )
        record = {
            "tutor_id": tutor_id(index),
            "name": f"{first} {last}",
            "email": f"{local}.{index + 1}@example.com",
            "onboarding_date": onboarding_date,
            "subjects": [catalog.SUBJECTS[s] for s in subjects],
            "education_level": catalog.EDUCATION_LEVELS[education],
            "location": place,
            "baseline_sessions_per_week": baseline,
            "age": age,
            "status": "active",
            "behavioral_archetype": catalog.ARCHETYPES[archetype],
        }
        return TutorProfile(traits=traits, subjects=subjects, record=record)


def _subjects(
    family: int,
    primary: int,
    extra_count: int,
    extra_family: npt.NDArray[np.bool_],
    extra_pick: npt.NDArray[np.float64],
) -> list[int]:
    offsets = np.cumsum([0] + [len(f) for f in catalog.SUBJECTS_BY_FAMILY])
    subjects = [int(offsets[family] + primary)]
    for k in range(extra_count):
        fam = (family + 1 + int(extra_pick[k] * 2)) % 3 if extra_family[k] else family
        size = len(catalog.SUBJECTS_BY_FAMILY[fam])
        candidate = int(offsets[fam] + int(extra_pick[k] * 997) % size)
        if candidate not in subjects:
            subjects.append(candidate)
    return subjects


class NamePool:
    """Student names: drawn from pools built once per run (Faker is too slow per student)."""

    def __init__(self, seed: int, size: int = 800) -> None:
        faker = Faker("en_US")
        faker.seed_instance(entity_seed(seed, STREAM_NAMES, 0))
        self.first = sorted({faker.first_name() for _ in range(size)})
        self.last = sorted({faker.last_name() for _ in range(size)})

    def names(self, rng: np.random.Generator, count: int) -> list[str]:
        firsts = rng.integers(0, len(self.first), count)
        lasts = rng.integers(0, len(self.last), count)
        return [f"{self.first[a]} {self.last[b]}" for a, b in zip(firsts, lasts, strict=True)]


def student_ages(
    rng: np.random.Generator, subjects: npt.NDArray[np.int16]
) -> npt.NDArray[np.int64]:
    """Pupils for school subjects, teenagers for SAT/ACT/AP, adults for graduate tests."""
    n = len(subjects)
    school = rng.integers(8, 18, n)
    teen = rng.integers(15, 18, n)
    adult = rng.integers(21, 36, n)
    language_adult = rng.random(n) < 0.12
    names = np.array(catalog.SUBJECTS, dtype=object)[subjects.astype(np.int64)]
    is_adult = np.array([s in catalog.ADULT_SUBJECTS for s in names], dtype=bool)
    family = catalog.SUBJECT_FAMILY[subjects.astype(np.int64)]
    ages = np.where(family == catalog.TEST_PREP, teen, school)
    ages = np.where(is_adult, adult, ages)
    return np.where((family == catalog.LANGUAGE) & language_adult, rng.integers(19, 55, n), ages)


def student_records(
    rng: np.random.Generator,
    names: NamePool,
    first_index: int,
    subjects: npt.NDArray[np.int16],
) -> list[dict[str, Any]]:
    n = len(subjects)
    ages = student_ages(rng, subjects)
    second = rng.random(n) < 0.3
    second_pick = rng.random(n)
    people = names.names(rng, n)
    ids = many_ids("student", np.arange(first_index, first_index + n))
    offsets = np.cumsum([0] + [len(f) for f in catalog.SUBJECTS_BY_FAMILY])
    records = []
    for k in range(n):
        subject = int(subjects[k])
        interested = [catalog.SUBJECTS[subject]]
        if second[k]:
            fam = int(catalog.SUBJECT_FAMILY[subject])
            size = len(catalog.SUBJECTS_BY_FAMILY[fam])
            other = int(offsets[fam] + int(second_pick[k] * size))
            if other != subject:
                interested.append(catalog.SUBJECTS[other])
        age = int(ages[k])
        records.append(
            {
                "student_id": ids[k],
                "name": people[k],
                "age": age,
                "grade_level": catalog.grade_level(age),
                "subjects_interested": interested,
            }
        )
    return records
