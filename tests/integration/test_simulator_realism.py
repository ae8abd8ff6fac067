"""Realism targets and integrity on generated runs, and that each target fails without its pattern.

Three runs: a normal one (every target and integrity check must pass), one with the PRD
patterns switched off (flat weekday/hour shapes, no subject differences, no morning/Monday
no-show clustering, ...) and one where nobody leaves. A check that passes on the flat runs
would not be measuring its pattern.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tutorpulse.simulator import catalog, engine, realism
from tutorpulse.simulator.config import SimulationConfig
from tutorpulse.simulator.export import generate_dataset
from tutorpulse.simulator.report import RealismReport, build_report

pytestmark = pytest.mark.slow

ALL_TARGETS = (
    "archetype_mix",
    "baseline_sessions",
    "sessions_per_day",
    "volume_stability",
    "weekend_weekday_ratio",
    "after_school_peak",
    "weekend_daytime_shape",
    "churn_stem",
    "churn_language_writing",
    "churn_test_prep",
    "churn_family_spread",
    "resignation_rate",
    "reschedule_churn_lift",
    "tutor_initiated_share",
    "stem_reschedule_ratio",
    "no_show_rate",
    "no_show_morning_ratio",
    "no_show_monday_ratio",
    "first_session_failure",
    "first_rating_vs_tenure",
    "first_failure_by_family",
    "first_session_share",
    "test_prep_variance",
    "trajectory_churn_trajectory",
    "trajectory_early_warning",
    "trajectory_healthy",
    "feedback_share",
    "free_text_variety",
)
FAILS_WITHOUT_PATTERNS = (
    "archetype_mix",
    "weekend_weekday_ratio",
    "after_school_peak",
    "weekend_daytime_shape",
    "churn_family_spread",
    "reschedule_churn_lift",
    "tutor_initiated_share",
    "stem_reschedule_ratio",
    "no_show_morning_ratio",
    "no_show_monday_ratio",
    "first_session_failure",
    "first_rating_vs_tenure",
    "first_failure_by_family",
    "test_prep_variance",
    "feedback_share",
    "free_text_variety",
)
FAILS_WITHOUT_DEPARTURES = (
    "baseline_sessions",
    "churn_stem",
    "churn_language_writing",
    "churn_test_prep",
    "resignation_rate",
    "no_show_rate",
    "trajectory_churn_trajectory",
    "trajectory_early_warning",
    "trajectory_healthy",
)


def _verdicts(report: RealismReport) -> dict[str, str]:
    return {check.name: check.verdict for check in report.targets}


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory) -> RealismReport:
    out = tmp_path_factory.mktemp("normal")
    generate_dataset(SimulationConfig.build(seed=0, sessions_per_day=1500), days=90, out=out)
    return build_report(out)


@pytest.fixture(scope="module")
def without_patterns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealismReport]:
    out = tmp_path_factory.mktemp("flat")
    config = SimulationConfig.build(seed=0, sessions_per_day=1000).with_behaviour(
        archetype_mix=(0.2, 0.2, 0.2, 0.2, 0.2),
        family_hazard=(1.0, 1.0, 1.0),
        family_reschedule=(1.0, 1.0, 1.0),
        reschedule_engagement=0.0,
        student_reschedule_share=0.3,
        no_show_morning=1.0,
        no_show_monday=1.0,
        first_session_penalty=0.0,
        tenure_first_bonus=0.0,
        family_first_penalty=(0.0, 0.0, 0.0),
        family_quality_sd=(0.45, 0.45, 0.45),
        feedback_rate_first=1.0,
        feedback_rate_other=1.0,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "WEEKDAY_VOLUME", np.ones(7))
        patch.setattr(catalog, "WEEKDAY_HOUR_WEIGHTS", np.ones(15))
        patch.setattr(catalog, "WEEKEND_HOUR_WEIGHTS", np.ones(15))
        patch.setattr(engine, "compose", lambda rng, **_: "Good session.")
        generate_dataset(config, days=63, out=out)
    yield build_report(out)


@pytest.fixture(scope="module")
def without_departures(tmp_path_factory: pytest.TempPathFactory) -> RealismReport:
    out = tmp_path_factory.mktemp("stay")
    # Both given: the tutors' mean baseline is raised to carry the volume (off the PRD's 15).
    config = SimulationConfig.build(seed=0, tutors=300, sessions_per_day=1000).with_behaviour(
        leave_base=0.0,
        life_event_rate=0.0,
        no_show_base=0.0005,
        no_show_engagement=0.0,
        reschedule_engagement=0.0,
        dip_rate=0.0,
        holiday_rate=0.0,
    )
    generate_dataset(config, days=63, out=out)
    return build_report(out)


@pytest.mark.parametrize("name", ALL_TARGETS)
def test_target_passes_on_a_normal_run(normal: RealismReport, name: str) -> None:
    check = next(c for c in normal.targets if c.name == name)
    assert check.passed, (
        f"{check.description}: {check.measured} vs {check.target} ({check.tolerance})"
    )


def test_every_target_is_covered(normal: RealismReport) -> None:
    assert set(_verdicts(normal)) == set(ALL_TARGETS)


def test_integrity_holds_on_a_normal_run(normal: RealismReport) -> None:
    failed = {c.name: c.examples for c in normal.integrity if not c.passed}
    assert failed == {}
    assert len(normal.integrity) >= 30


@pytest.mark.parametrize("name", FAILS_WITHOUT_PATTERNS)
def test_target_fails_without_its_pattern(without_patterns: RealismReport, name: str) -> None:
    assert _verdicts(without_patterns)[name] == "FAIL"


@pytest.mark.parametrize("name", FAILS_WITHOUT_DEPARTURES)
def test_target_fails_without_departures(without_departures: RealismReport, name: str) -> None:
    assert _verdicts(without_departures)[name] == "FAIL"


def test_volume_targets_fail_against_another_target(normal: RealismReport) -> None:
    prepared = normal.prepared
    original = dict(prepared.data.manifest)
    try:
        prepared.data.manifest["sessions_per_day"] = 2 * original["sessions_per_day"]
        checks = {c.name: c.passed for c in realism.check_sessions_per_day(prepared)}
    finally:
        prepared.data.manifest.clear()
        prepared.data.manifest.update(original)
    assert checks == {"sessions_per_day": False, "volume_stability": False}


def test_integrity_catches_a_broken_file(tmp_path: Path) -> None:
    out = tmp_path / "broken"
    generate_dataset(SimulationConfig.build(seed=2, sessions_per_day=100), days=14, out=out)
    sessions = (out / "sessions.jsonl").read_text().splitlines()
    sessions.append(sessions[0])  # a duplicate id
    (out / "sessions.jsonl").write_text("\n".join(sessions) + "\n")
    failed = {c.name for c in build_report(out).integrity if not c.passed}
    assert "unique_sessions" in failed
