"""PNG charts of the realism report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from tutorpulse.simulator import catalog
from tutorpulse.simulator.realism import Prepared

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TENURE_BUCKETS = (
    (0, 7),
    (8, 14),
    (15, 30),
    (31, 60),
    (61, 90),
    (91, 180),
    (181, 365),
    (366, 10**6),
)


def weekday_hour_heatmap(p: Prepared, path: Path) -> Path:
    grid = np.zeros((7, 24))
    np.add.at(
        grid,
        (
            p.sessions["weekday"].to_numpy(dtype=np.int64),
            p.sessions["hour"].to_numpy(dtype=np.int64),
        ),
        1,
    )
    days_per_weekday = np.bincount(
        (p.data.start.weekday() + np.arange(p.data.days)) % 7, minlength=7
    )
    grid = grid / np.maximum(days_per_weekday, 1)[:, None]
    fig, ax = plt.subplots(figsize=(11, 3.6))
    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlabel("start hour (UTC)")
    ax.set_title("Sessions per day by weekday and start hour")
    fig.colorbar(image, ax=ax, label="sessions / day")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def churn_curves(p: Prepared, path: Path) -> Path:
    cohort = p.tutors[p.tutors["onboarding_day"] <= 0]
    days = np.arange(p.data.days)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for family, label in enumerate(catalog.FAMILY_LABELS):
        group = cohort[cohort["family"] == family]
        if group.empty:
            continue
        churn_day = group["churn_day"].to_numpy(dtype=np.float64)
        cumulative = [(churn_day <= d).mean() * 100 for d in days]
        target = 100 * (1 - (1 - (0.08, 0.12, 0.15)[family]) ** (days / 90))
        (line,) = ax.plot(days, cumulative, label=f"{label} (n={len(group)})")
        ax.plot(days, target, linestyle=":", color=line.get_color())
    ax.set_xlabel("days since start")
    ax.set_ylabel("churned (%)")
    ax.set_title("Cumulative churn by subject family (dotted: PRD target)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rating_vs_tenure(p: Prepared, path: Path) -> Path:
    labels, first_means, all_means = [], [], []
    rated = p.held[p.held["student_rating"].notna()]
    for low, high in TENURE_BUCKETS:
        labels.append(f"{low}-{high}" if high < 10**6 else f"{low}+")
        first = p.first_rated[p.first_rated["tenure"].between(low, high)]["student_rating"]
        every = rated[rated["tenure"].between(low, high)]["student_rating"]
        first_means.append(first.mean() if len(first) >= 20 else np.nan)
        all_means.append(every.mean() if len(every) >= 20 else np.nan)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot(x, first_means, marker="o", label="first sessions")
    ax.plot(x, all_means, marker="s", label="all rated sessions")
    ax.set_xticks(x, labels)
    ax.set_xlabel("tutor tenure at the session (days)")
    ax.set_ylabel("mean rating")
    ax.set_ylim(1, 5)
    ax.set_title("Student rating vs tutor tenure")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_charts(p: Prepared, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [
        weekday_hour_heatmap(p, directory / "sessions_weekday_hour.png"),
        churn_curves(p, directory / "churn_by_subject_family.png"),
        rating_vs_tenure(p, directory / "rating_vs_tenure.png"),
    ]
