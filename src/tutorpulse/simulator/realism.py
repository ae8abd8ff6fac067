"""Realism targets: what the PRD says the data looks like, measured on generated files.

Each check states its target, the measured value, the tolerance and whether it passes.
Tolerances combine a fixed floor with sampling error (a few standard errors), so that they are
honest on small runs and still fail when the pattern is absent. Interpretations of PRD numbers
that need one are written next to the check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tutorpulse.simulator import catalog
from tutorpulse.simulator.churn_labels import label_churn
from tutorpulse.simulator.dataset import Dataset

ARCHETYPE_TARGETS = dict(zip(catalog.ARCHETYPES, (0.30, 0.20, 0.25, 0.20, 0.05), strict=True))
FAMILY_CHURN_90D = (0.08, 0.12, 0.15)  # PRD decisions §1, per 90 days
TRAJECTORY_TARGETS = {"churn_trajectory": 0.05, "early_warning": 0.15, "healthy": 0.80}
TRAJECTORY_HORIZON = 30  # days; see _trajectories
TUTOR_RESCHEDULE_SHARE = 0.982
FIRST_SESSION_FAILURE = 0.24


@dataclass
class Check:
    name: str
    description: str
    target: str
    measured: str
    tolerance: str
    passed: bool | None  # None: not measurable on this data (too short, no such field)
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "N/A" if self.passed is None else ("PASS" if self.passed else "FAIL")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "target": self.target,
            "measured": self.measured,
            "tolerance": self.tolerance,
            "verdict": self.verdict,
            "value": self.value,
            "details": self.details,
        }


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-9) / max(n, 1))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


@dataclass
class Prepared:
    """Derived frames every check shares (computed once)."""

    data: Dataset
    tutors: pd.DataFrame  # + family, churn_day, churn_reason, onboarding_day
    sessions: pd.DataFrame  # held or missed only, + day, hour, weekday, tutor family
    held: pd.DataFrame
    reschedules: pd.DataFrame  # reschedule_request events + day
    first_rated: pd.DataFrame  # rated first sessions + tenure
    last_day: int


def prepare(data: Dataset) -> Prepared:
    origin = pd.Timestamp(data.start, tz="UTC")
    last_day = data.days - 1
    tutors = data.tutors.copy()
    tutors["family"] = [
        catalog.FAMILY_OF_SUBJECT.get(subjects[0], -1) if subjects else -1
        for subjects in tutors["subjects"]
    ]
    onboarding = pd.to_datetime(tutors["onboarding_date"].astype(str))
    tutors["onboarding_day"] = (onboarding - pd.Timestamp(data.start)).dt.days.to_numpy()
    labels = label_churn(
        tutors, data.sessions, data.events, observed_from=data.start, observed_until=data.end
    )
    churn_day = [
        (d - data.start).days if d is not None else np.nan for d in labels["churn_date"].tolist()
    ]
    tutors["churn_day"] = churn_day
    tutors["churn_reason"] = labels["churn_reason"].to_numpy()

    sessions = data.sessions[data.sessions["status"].isin(["completed", "no_show"])].copy()
    sessions["day"] = (sessions["scheduled_start"] - origin).dt.days
    sessions = sessions[(sessions["day"] >= 0) & (sessions["day"] <= last_day)]
    sessions["hour"] = sessions["scheduled_start"].dt.hour
    sessions["weekday"] = sessions["scheduled_start"].dt.day_of_week
    family_of = dict(zip(tutors["tutor_id"], tutors["family"], strict=True))
    sessions["family"] = sessions["tutor_id"].map(family_of)
    onboarding_of = dict(zip(tutors["tutor_id"], tutors["onboarding_day"], strict=True))
    sessions["tenure"] = sessions["day"] - sessions["tutor_id"].map(onboarding_of)
    held = sessions[sessions["status"] == "completed"]

    events = data.events
    reschedules = events[events["event_type"] == "reschedule_request"].copy()
    reschedules["day"] = (reschedules["event_timestamp"] - origin).dt.days
    first_rated = held[(held["session_number"] == 1) & held["student_rating"].notna()]
    return Prepared(data, tutors, sessions, held, reschedules, first_rated, last_day)


# ---------------------------------------------------------------------------------- checks


def check_archetype_mix(p: Prepared) -> Check:
    cohort = p.tutors[p.tutors["onboarding_day"] <= 0]
    if "behavioral_archetype" not in cohort or cohort["behavioral_archetype"].isna().all():
        return Check(
            "archetype_mix", "Archetype mix (initial tutors)", "30/20/25/20/5", "-", "-", None
        )
    n = len(cohort)
    shares = cohort["behavioral_archetype"].value_counts(normalize=True)
    worst = 0.0
    passed = True
    for name, target in ARCHETYPE_TARGETS.items():
        share = float(shares.get(name, 0.0))
        tolerance = max(0.03, 3 * _se(target, n))
        passed &= abs(share - target) <= tolerance
        worst = max(worst, abs(share - target))
    measured = "/".join(f"{100 * float(shares.get(a, 0.0)):.1f}" for a in ARCHETYPE_TARGETS)
    return Check(
        "archetype_mix",
        "Archetype mix of the tutors present at the start (HP/AR/New/Steady/Churner, %)",
        "30/20/25/20/5",
        measured,
        f"each ±{100 * max(0.03, 3 * _se(0.3, n)):.1f}pp",
        passed,
        worst,
    )


def check_sessions_per_day(p: Prepared) -> list[Check]:
    target = float(p.data.manifest.get("sessions_per_day", 3000))
    daily = p.sessions.groupby("day").size().reindex(range(p.last_day + 1), fill_value=0)
    mean = float(daily.mean())
    checks = [
        Check(
            "sessions_per_day",
            "Sessions per day (held or missed), mean over the run",
            f"{target:,.0f}",
            f"{mean:,.0f}",
            "±5%",
            abs(mean / target - 1) <= 0.05,
            mean,
        )
    ]
    full_weeks = len(daily) // 7
    if full_weeks >= 2:
        weekly = daily.to_numpy()[: full_weeks * 7].reshape(full_weeks, 7).mean(axis=1)
        worst = float(np.max(np.abs(weekly / target - 1)))
        checks.append(
            Check(
                "volume_stability",
                "Every week's mean sessions/day stays near the target despite churn",
                f"{target:,.0f}/day each week",
                f"{weekly.min():,.0f}-{weekly.max():,.0f}",
                "±10%",
                worst <= 0.10,
                worst,
            )
        )
    return checks


def check_time_profile(p: Prepared) -> list[Check]:
    daily = p.sessions.groupby("day").size().reindex(range(p.last_day + 1), fill_value=0)
    weekday_of_day = (pd.Timestamp(p.data.start).weekday() + np.arange(len(daily))) % 7
    weekend = daily.to_numpy()[weekday_of_day >= 5]
    weekdays = daily.to_numpy()[weekday_of_day < 5]
    checks = []
    expected = float(catalog.WEEKDAY_VOLUME[5:].mean() / catalog.WEEKDAY_VOLUME[:5].mean())
    if len(weekend) and len(weekdays):
        ratio = float(weekend.mean() / max(weekdays.mean(), 1e-9))
        checks.append(
            Check(
                "weekend_weekday_ratio",
                "Sessions per weekend day / per weekday",
                f"{expected:.2f}",
                f"{ratio:.2f}",
                "±0.07",
                abs(ratio - expected) <= 0.07,
                ratio,
            )
        )
    hours = catalog.SESSION_HOURS
    weights = catalog.WEEKDAY_HOUR_WEIGHTS
    peak = (hours >= 15) & (hours <= 20)
    expected_peak = float(weights[peak].sum() / weights.sum())
    on_weekdays = p.sessions[p.sessions["weekday"] < 5]
    share = float(on_weekdays["hour"].between(15, 20).mean()) if len(on_weekdays) else float("nan")
    checks.append(
        Check(
            "after_school_peak",
            "Share of weekday sessions starting 15:00-20:59 UTC (after school, evening)",
            _pct(expected_peak),
            _pct(share),
            "±5pp",
            abs(share - expected_peak) <= 0.05,
            share,
        )
    )
    on_weekends = p.sessions[p.sessions["weekday"] >= 5]
    if len(on_weekends):
        weekend_weights = catalog.WEEKEND_HOUR_WEIGHTS
        midday = (hours >= 9) & (hours <= 15)
        expected_midday = float(weekend_weights[midday].sum() / weekend_weights.sum())
        measured = float(on_weekends["hour"].between(9, 15).mean())
        checks.append(
            Check(
                "weekend_daytime_shape",
                "Share of weekend sessions starting 09:00-15:59 UTC (daytime weekend shape)",
                _pct(expected_midday),
                _pct(measured),
                "±5pp",
                abs(measured - expected_midday) <= 0.05,
                measured,
            )
        )
    return checks


def _cohort_churned(p: Prepared) -> pd.DataFrame:
    cohort = p.tutors[(p.tutors["onboarding_day"] <= 0)].copy()
    cohort["churned"] = cohort["churn_day"].notna()
    return cohort


def check_subject_churn(p: Prepared) -> list[Check]:
    """8/12/15% over 90 days by primary-subject family, scaled to the run's length."""
    cohort = _cohort_churned(p)
    scale = p.data.days / 90
    checks: list[Check] = []
    rates: dict[int, float] = {}
    for family, target90 in enumerate(FAMILY_CHURN_90D):
        group = cohort[cohort["family"] == family]
        n = len(group)
        target = 1 - (1 - target90) ** scale
        rate = float(group["churned"].mean()) if n else float("nan")
        rates[family] = rate
        tolerance = max(0.025 * math.sqrt(scale), 2.5 * _se(target, n))
        checks.append(
            Check(
                f"churn_{catalog.FAMILY_NAMES[family]}",
                f"Churn of {catalog.FAMILY_LABELS[family]} tutors (initial cohort, "
                f"{p.data.days} days, DESIGN §5 definition)",
                _pct(target),
                f"{_pct(rate)} (n={n})",
                f"±{100 * tolerance:.1f}pp",
                bool(n) and abs(rate - target) <= tolerance,
                rate,
            )
        )
    spread_target = (1 - (1 - FAMILY_CHURN_90D[2]) ** scale) - (
        1 - (1 - FAMILY_CHURN_90D[0]) ** scale
    )
    spread = rates[2] - rates[0]
    stem_n = int((cohort["family"] == catalog.STEM).sum())
    prep_n = int((cohort["family"] == catalog.TEST_PREP).sum())
    spread_se = math.sqrt(_se(rates[0], stem_n) ** 2 + _se(rates[2], prep_n) ** 2)
    z = spread / max(spread_se, 1e-9)
    checks.append(
        Check(
            "churn_family_spread",
            "Test Prep churns more than STEM (one-sided z-test on the difference, 95%)",
            f"+{100 * spread_target:.1f}pp",
            f"{100 * spread:+.1f}pp (z={z:.1f})",
            "z >= 1.64",
            z >= 1.64,
            spread,
        )
    )
    return checks


def check_resignation_rate(p: Prepared) -> Check:
    resignations = p.tutors["churn_reason"].eq("resignation").sum()
    # Tutor-days at risk: from max(onboarding, start) to churn or the end.
    start = np.maximum(p.tutors["onboarding_day"].to_numpy(), 0)
    end = np.where(p.tutors["churn_day"].notna(), p.tutors["churn_day"].fillna(0), p.last_day)
    exposure_days = float(np.clip(end - start + 1, 0, None).sum())
    monthly = float(resignations) / max(exposure_days / 30.44, 1e-9)
    return Check(
        "resignation_rate",
        "Voluntary resignations per tutor-month",
        "1-2% per month",
        _pct(monthly),
        "[1.0%, 2.0%]",
        0.01 <= monthly <= 0.02,
        monthly,
        {"resignations": int(resignations)},
    )


def _weekly_counts(
    frame: pd.DataFrame, day_column: str, weeks: int, first_monday: int, ids: dict[str, int]
) -> npt.NDArray[np.int64]:
    counts = np.zeros((len(ids), weeks), dtype=np.int64)
    if frame.empty or weeks <= 0:
        return counts
    week = (frame[day_column].to_numpy() - first_monday) // 7
    who = frame["tutor_id"].map(ids).to_numpy()
    ok = (week >= 0) & (week < weeks) & pd.notna(who)
    np.add.at(counts, (who[ok].astype(np.int64), week[ok].astype(np.int64)), 1)
    return counts


def check_reschedule_lift(p: Prepared) -> Check:
    """Tutor-weeks with > 3 tutor-initiated reschedules vs the rest: churn in the next 30 days."""
    first_monday = (7 - p.data.start.weekday()) % 7
    weeks = max(0, (p.last_day - 30 - first_monday + 1) // 7)
    name, description = (
        "reschedule_churn_lift",
        "30-day churn after a week with >3 tutor reschedules, vs other weeks",
    )
    if weeks < 1:
        return Check(name, description, "lift >= 2", "-", "needs >= 38 days", None)
    ids = {t: k for k, t in enumerate(p.tutors["tutor_id"])}
    by_tutor = p.reschedules[p.reschedules["meta_initiated_by"] == "tutor"]
    counts = _weekly_counts(by_tutor, "day", weeks, first_monday, ids)
    onboarding = p.tutors["onboarding_day"].to_numpy()
    churn = p.tutors["churn_day"].to_numpy(dtype=np.float64)
    high_churn = high_n = low_churn = low_n = 0
    for w in range(weeks):
        sunday = first_monday + 7 * w + 6
        active = (onboarding <= sunday - 6) & ~(churn <= sunday)
        soon = (churn > sunday) & (churn <= sunday + 30)
        high = active & (counts[:, w] > 3)
        low = active & (counts[:, w] <= 3)
        high_churn += int((high & soon).sum())
        high_n += int(high.sum())
        low_churn += int((low & soon).sum())
        low_n += int(low.sum())
    if high_n == 0 or low_churn == 0:
        return Check(
            name, description, "lift >= 2", f"n(>3)={high_n}", "-", False if high_n == 0 else None
        )
    rate_high, rate_low = high_churn / high_n, low_churn / low_n
    lift = rate_high / rate_low
    return Check(
        name,
        description,
        "lift >= 2 (PRD: >3/week predicts 30-day churn)",
        f"{lift:.1f}x ({_pct(rate_high)} vs {_pct(rate_low)}, n={high_n})",
        ">= 2.0",
        lift >= 2.0,
        lift,
    )


def check_no_show_pattern(p: Prepared) -> list[Check]:
    s = p.sessions
    missed = s["status"] == "no_show"
    morning = s["hour"] < 12
    monday = s["weekday"] == 0
    rate = float(missed.mean())

    def ratio(mask: pd.Series) -> float:
        return float(missed[mask].mean() / max(missed[~mask].mean(), 1e-9))

    morning_ratio, monday_ratio = ratio(morning), ratio(monday)
    return [
        Check(
            "no_show_rate",
            "Share of sessions that were no-shows",
            "2-5% (PRD flags > 5% per tutor)",
            _pct(rate),
            "[2%, 5%]",
            0.02 <= rate <= 0.05,
            rate,
        ),
        Check(
            "no_show_morning_ratio",
            "No-show rate before 12:00 / after (PRD: no-shows cluster in mornings)",
            "> 1.5x",
            f"{morning_ratio:.2f}x",
            ">= 1.5",
            morning_ratio >= 1.5,
            morning_ratio,
        ),
        Check(
            "no_show_monday_ratio",
            "No-show rate on Mondays / other days (PRD: no-shows cluster on Mondays)",
            "> 1.3x",
            f"{monday_ratio:.2f}x",
            ">= 1.3",
            monday_ratio >= 1.3,
            monday_ratio,
        ),
    ]


def check_first_sessions(p: Prepared) -> list[Check]:
    first = p.first_rated
    checks: list[Check] = []
    n = len(first)
    failure = float((first["student_rating"] < 3).mean()) if n else float("nan")
    tolerance = max(0.04, 3 * _se(FIRST_SESSION_FAILURE, n))
    checks.append(
        Check(
            "first_session_failure",
            "First sessions rated < 3 (PRD baseline first-session failure rate)",
            _pct(FIRST_SESSION_FAILURE),
            f"{_pct(failure)} (n={n})",
            f"±{100 * tolerance:.1f}pp",
            bool(n) and abs(failure - FIRST_SESSION_FAILURE) <= tolerance,
            failure,
        )
    )
    new = first[first["tenure"] < 30]["student_rating"]
    seasoned = first[first["tenure"] >= 90]["student_rating"]
    if len(new) >= 30 and len(seasoned) >= 30:
        gap = float(seasoned.mean() - new.mean())
        checks.append(
            Check(
                "first_rating_vs_tenure",
                "Mean first-session rating: tenure >= 90 days minus tenure < 30 days",
                "> 0 (newer tutors rate lower)",
                f"{gap:+.2f} ({new.mean():.2f} -> {seasoned.mean():.2f})",
                ">= +0.2",
                gap >= 0.2,
                gap,
            )
        )
    else:
        checks.append(
            Check("first_rating_vs_tenure", "First-session rating vs tenure", "> 0", "-", "-", None)
        )
    fail_by_family = {
        f: float((first[first["family"] == f]["student_rating"] < 3).mean()) for f in range(3)
    }
    language_gap = fail_by_family[1] - fail_by_family[0]
    highest = max(fail_by_family, key=lambda f: fail_by_family[f])
    checks.append(
        Check(
            "first_failure_by_family",
            "First-session failure: Language/Writing highest (STEM/Language/Test Prep)",
            "Language/Writing highest",
            "/".join(_pct(fail_by_family[f]) for f in range(3)),
            "Language - STEM >= 3pp",
            highest == catalog.LANGUAGE and language_gap >= 0.03,
            language_gap,
        )
    )
    share_first = float((p.sessions["session_number"] == 1).mean())
    checks.append(
        Check(
            "first_session_share",
            "Share of sessions that are a first session with that tutor",
            "8-15%",
            _pct(share_first),
            "[8%, 15%]",
            0.08 <= share_first <= 0.15,
            share_first,
        )
    )
    return checks


def check_reschedule_share(p: Prepared) -> list[Check]:
    r = p.reschedules
    n = len(r)
    share = float((r["meta_initiated_by"] == "tutor").mean()) if n else float("nan")
    checks = [
        Check(
            "tutor_initiated_share",
            "Share of reschedules initiated by the tutor",
            _pct(TUTOR_RESCHEDULE_SHARE),
            f"{_pct(share)} (n={n})",
            "±1.0pp",
            bool(n) and abs(share - TUTOR_RESCHEDULE_SHARE) <= 0.01,
            share,
        )
    ]
    s = p.sessions
    flagged = s["tutor_initiated_reschedule"].astype(bool)
    stem = float(flagged[s["family"] == catalog.STEM].mean())
    other = float(flagged[s["family"] != catalog.STEM].mean())
    ratio = stem / max(other, 1e-9)
    checks.append(
        Check(
            "stem_reschedule_ratio",
            "Tutor reschedule rate: STEM / other subjects (PRD: STEM reschedules more)",
            "> 1.2x",
            f"{ratio:.2f}x ({_pct(stem)} vs {_pct(other)})",
            ">= 1.2",
            ratio >= 1.2,
            ratio,
        )
    )
    return checks


def check_test_prep_variance(p: Prepared) -> Check:
    rated = p.held[p.held["student_rating"].notna()]
    per_tutor = rated.groupby("tutor_id")["student_rating"].agg(["mean", "size"])
    per_tutor = per_tutor[per_tutor["size"] >= 10]
    family_of = dict(zip(p.tutors["tutor_id"], p.tutors["family"], strict=True))
    per_tutor["family"] = per_tutor.index.map(family_of)
    sd = per_tutor.groupby("family")["mean"].std()
    ratio = float(sd.get(catalog.TEST_PREP, np.nan) / max(sd.get(catalog.STEM, np.nan), 1e-9))
    return Check(
        "test_prep_variance",
        "Spread (sd) of tutors' mean rating: Test Prep / STEM (PRD: high performance variance)",
        "> 1.3x",
        f"{ratio:.2f}x",
        ">= 1.3",
        ratio >= 1.3,
        ratio,
    )


def _trajectories(p: Prepared) -> dict[str, float] | None:
    """Shares of active tutors by trajectory, averaged over weekly snapshots.

    churn trajectory: churns (DESIGN §5) within the next 30 days, the PRD's standard
    prediction window (PRD §3.2). early warning: otherwise, but crossing a PRD
    threshold now: held sessions of the last 14 days < 60% of the baseline pace (reduced
    activity), > 3 tutor reschedules in the last 7 days (pattern 2), no-show rate > 5% or
    tutor reschedule rate > 15% over the last 28 days (§2.1 "concerning" / "high"; with at
    least 2 no-shows / 3 reschedules, so that one event does not flag a low-volume tutor).
    healthy: the rest.
    """
    lookback = 28
    snapshots = [
        d
        for d in range(lookback, p.last_day - TRAJECTORY_HORIZON + 1)
        if (p.data.start + timedelta(days=d)).weekday() == 0
    ]
    if not snapshots:
        return None
    ids = {t: k for k, t in enumerate(p.tutors["tutor_id"])}
    n, days = len(ids), p.last_day + 1
    held, missed, booked, moved = (np.zeros((n, days), dtype=np.int64) for _ in range(4))
    grids = (
        (p.held, held),
        (p.sessions[p.sessions["status"] == "no_show"], missed),
        (p.sessions, booked),
        (p.reschedules[p.reschedules["meta_initiated_by"] == "tutor"], moved),
    )
    for frame, grid in grids:
        frame = frame[frame["day"].between(0, days - 1)]
        who = frame["tutor_id"].map(ids).to_numpy(dtype=np.int64)
        np.add.at(grid, (who, frame["day"].to_numpy(dtype=np.int64)), 1)
    onboarding = p.tutors["onboarding_day"].to_numpy()
    churn = p.tutors["churn_day"].to_numpy(dtype=np.float64)
    baseline = p.tutors["baseline_sessions_per_week"].to_numpy(dtype=np.float64)
    totals = {"churn_trajectory": 0, "early_warning": 0, "healthy": 0}
    active_total = 0
    for d in snapshots:
        active = (onboarding <= d) & ~(churn <= d)
        trajectory = active & (churn > d) & (churn <= d + TRAJECTORY_HORIZON)
        window = slice(d - lookback, d)
        sessions = np.maximum(booked[:, window].sum(axis=1), 1)
        slow = (onboarding <= d - 14) & (held[:, d - 14 : d].sum(axis=1) < 0.6 * 2 * baseline)
        busy_moving = moved[:, d - 7 : d].sum(axis=1) > 3
        # Rates need at least a few events to mean anything for a low-volume tutor.
        missed_n, moved_n = missed[:, window].sum(axis=1), moved[:, window].sum(axis=1)
        missing = (missed_n >= 2) & (missed_n / sessions > 0.05)
        moving = (moved_n >= 3) & (moved_n / sessions > 0.15)
        warning = active & ~trajectory & (slow | busy_moving | missing | moving)
        totals["churn_trajectory"] += int(trajectory.sum())
        totals["early_warning"] += int(warning.sum())
        totals["healthy"] += int((active & ~trajectory & ~warning).sum())
        active_total += int(active.sum())
    shares = {k: v / max(active_total, 1) for k, v in totals.items()}
    return shares | {"snapshots": float(len(snapshots))}


def check_trajectories(p: Prepared) -> list[Check]:
    shares = _trajectories(p)
    if shares is None:
        return [
            Check(
                f"trajectory_{k}",
                f"Active tutors: {k.replace('_', ' ')}",
                _pct(v),
                "-",
                f"needs >= {TRAJECTORY_HORIZON + 29} days",
                None,
            )
            for k, v in TRAJECTORY_TARGETS.items()
        ]
    tolerances = {"churn_trajectory": 0.015, "early_warning": 0.04, "healthy": 0.04}
    labels = {
        "churn_trajectory": "Active tutors in a churn trajectory (churn within 30 days)",
        "early_warning": "Active tutors showing early warning signs (not churning soon)",
        "healthy": "Active tutors with healthy patterns",
    }
    return [
        Check(
            f"trajectory_{k}",
            labels[k],
            _pct(target),
            _pct(shares[k]),
            f"±{100 * tolerances[k]:.1f}pp",
            abs(shares[k] - target) <= tolerances[k],
            shares[k],
            {"snapshots": int(shares["snapshots"])},
        )
        for k, target in TRAJECTORY_TARGETS.items()
    ]


def check_baseline(p: Prepared) -> Check:
    b = p.tutors["baseline_sessions_per_week"].astype(float)
    mean, low, high = float(b.mean()), float(b.min()), float(b.max())
    return Check(
        "baseline_sessions",
        "Tutors' baseline sessions per week: mean and range",
        "mean 15, range 5-30",
        f"mean {mean:.1f}, range {low:g}-{high:g}",
        "mean ±1, within 5-30",
        abs(mean - 15) <= 1 and low >= 5 and high <= 30,
        mean,
    )


def check_feedback(p: Prepared) -> list[Check]:
    feedback = p.data.feedback
    share = len(feedback) / max(len(p.held), 1)
    texts = feedback["free_text_feedback"].dropna()
    top = float(texts.value_counts(normalize=True).iloc[0]) if len(texts) else 0.0
    return [
        Check(
            "feedback_share",
            "Held sessions with student feedback (a realistic share, not all)",
            "30-60%",
            _pct(share),
            "[30%, 60%]",
            0.3 <= share <= 0.6,
            share,
        ),
        Check(
            "free_text_variety",
            "Most frequent free-text feedback, share of all texts",
            "<= 3%",
            f"{100 * top:.2f}% ({texts.nunique():,} distinct)",
            "<= 3%",
            top <= 0.03,
            top,
        ),
    ]


def run_checks(p: Prepared) -> list[Check]:
    checks: list[Check] = [check_archetype_mix(p), check_baseline(p)]
    checks += check_sessions_per_day(p)
    checks += check_time_profile(p)
    checks += check_subject_churn(p)
    checks.append(check_resignation_rate(p))
    checks.append(check_reschedule_lift(p))
    checks += check_reschedule_share(p)
    checks += check_no_show_pattern(p)
    checks += check_first_sessions(p)
    checks.append(check_test_prep_variance(p))
    checks += check_trajectories(p)
    checks += check_feedback(p)
    return checks
