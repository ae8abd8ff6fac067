"""The churn model on a small synthetic market: split, censoring, coherence, report."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tutorpulse.metrics.data import MarketData
from tutorpulse.risk.hazard import HORIZONS, ChurnModel
from tutorpulse.risk.training import (
    Dataset,
    NotEnoughData,
    build_dataset,
    temporal_split,
    train_churn_model,
)

from .market_builder import AS_OF, MarketBuilder, at

DAYS = 80
START = AS_OF - timedelta(days=DAYS - 1)


def synthetic_market(tutors: int = 160, seed: int = 11) -> MarketData:
    """Tutors whose commitment drifts; a falling commitment means fewer sessions and logins,
    worse ratings, then inactivity. Noisy on purpose: churn is predictable, not certain."""
    rng = np.random.default_rng(seed)
    b = MarketBuilder()
    for k in range(tutors):
        tutor_id = f"t{k:03d}"
        b.tutor(tutor_id, onboarded_days_before=int(rng.integers(100, 600)), baseline=10)
        level = rng.normal(1.0, 0.3)
        drift = rng.normal(-0.02, 0.01) if rng.random() < 0.35 else rng.normal(0, 0.002)
        quit_day = int(rng.integers(10, 150)) if drift < -0.01 else 10_000
        for n in range(DAYS):
            back = DAYS - 1 - n
            level += drift + rng.normal(0, 0.03)
            if n > quit_day:
                break
            rate = max(0.0, min(2.5, 1.6 * level))
            for _ in range(rng.poisson(rate)):
                b.session(
                    tutor_id,
                    at(back + rng.random() * 0.5),
                    rating=float(np.clip(round(3.2 + level + rng.normal(0, 0.8)), 1, 5)),
                    rescheduled=bool(rng.random() < 0.1 / max(level, 0.2)),
                    number=1 if rng.random() < 0.15 else 2,
                )
            for _ in range(rng.poisson(max(0.1, 1.5 * level))):
                b.event(tutor_id, at(back + rng.random() * 0.5), "login")
    return b.build()


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return build_dataset(synthetic_market(), observed_from=START, observed_until=AS_OF)


def test_split_is_temporal_and_leaves_room_for_the_outcome(dataset: Dataset) -> None:
    split = temporal_split(list(dataset.rows["day"]), observed_until=AS_OF)
    assert split.train[1] < split.validation[0] <= split.validation[1] < split.test[0]
    assert split.test[1] <= AS_OF - timedelta(days=split.eval_horizon)


def test_short_data_falls_back_then_refuses() -> None:
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(20)]
    split = temporal_split(days, observed_until=date(2025, 1, 25))
    assert split.eval_horizon == 7
    with pytest.raises(NotEnoughData):
        temporal_split(days[:5], observed_until=date(2025, 1, 6))


def test_training_is_coherent_calibrated_and_reported(dataset: Dataset, tmp_path: object) -> None:
    result = train_churn_model(dataset, seed=0, max_configs=2)
    report = result.report
    assert report["coherence_violations"] == 0
    assert report["search"]["configs_tried"] == 2
    h30 = report["horizons"]["30"] if report["horizons"]["30"].get("rows") else None
    h7 = report["horizons"]["7"]
    assert h7["positives"] > 0 and h7["negatives"] > 0
    assert h7["auc"] > 0.7
    assert h7["rule_score"]["auc"] is not None
    assert h7["naive_days_since_last_session"]["auc"] is not None
    top = h7["precision_at_10pct"]
    assert top["ceiling"] == pytest.approx(min(1, h7["prevalence"] / 0.10), abs=1e-3)
    low, high = top["precision_ci95"]
    assert low <= top["precision"] <= high
    if h30 is not None:
        targets = report["targets"]
        # The figure is the plain precision; its unreachability is stated.
        assert targets["precision_at_10pct_above_0.70"] == (
            h30["precision_at_10pct"]["precision"] > 0.70
        )
        assert targets["precision_at_10pct_ceiling"] == h30["precision_at_10pct"]["ceiling"]
        assert "recall_in_top_10pct_above_0.70" in targets
    assert report["horizons"]["90"]["rows"] == 0  # never labelled negative
    if h30 is not None:
        assert [band["band"] for band in report["alert_bands"]["model"]] == [
            "Critical",
            "High",
            "Medium",
        ]
    # Coherence over every tutor-day, not only the test rows.
    p = result.model.predict(dataset.rows).to_numpy()
    assert (np.diff(p, axis=1) >= 0).all()
    assert ((p >= 0) & (p <= 1)).all()
    # The stored model predicts the same numbers.
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    result.model.save(tmp_path / "m")
    again = ChurnModel.load(tmp_path / "m").predict(dataset.rows)
    np.testing.assert_allclose(again.to_numpy(), p, rtol=1e-6)
    assert list(again.columns) == [f"p{h}" for h in HORIZONS]


def test_training_is_deterministic(dataset: Dataset) -> None:
    first = train_churn_model(dataset, seed=3, max_configs=1).model.predict(dataset.rows)
    second = train_churn_model(dataset, seed=3, max_configs=1).model.predict(dataset.rows)
    pd.testing.assert_frame_equal(first, second)


def test_explanations_name_components_and_say_it_in_words(dataset: Dataset) -> None:
    from tutorpulse.risk.explain import COMPONENTS, explain

    model = train_churn_model(dataset, seed=0, max_configs=1).model
    rows = dataset.rows[dataset.rows["day"] == dataset.rows["day"].max()].set_index("tutor_id")
    factors = explain(model, rows)
    assert set(factors) == set(rows.index)
    some = [f for f in factors.values() if f["top_features"]]
    assert some
    for item in some:
        assert set(item["components"]) == set(COMPONENTS)
        assert len(item["top"]) <= 3 and set(item["top"]) <= set(COMPONENTS)
        for feature in item["top_features"]:
            assert feature["contribution"] > 0 and feature["text"]
            assert feature["component"] in COMPONENTS


def test_a_market_without_churn_cannot_be_trained() -> None:
    b = MarketBuilder()
    for k in range(5):
        b.tutor(f"t{k}", baseline=1)
        for n in range(DAYS):
            b.session(f"t{k}", at(n))
    dataset = build_dataset(b.build(), observed_from=START, observed_until=AS_OF)
    with pytest.raises(NotEnoughData, match="no churn"):
        train_churn_model(dataset, max_configs=1)


def test_top_decile_figures_are_plain_precision_with_ceiling_recall_and_interval() -> None:
    from tutorpulse.risk.evaluation import probability_report, top_share, top_share_interval

    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(200), 10)  # 200 tutors, 10 snapshots each
    churner = rng.random(200) < 0.05
    labels = churner[groups].astype(float)
    perfect = labels + rng.random(len(labels)) * 0.01
    top = top_share(labels, perfect)
    prevalence = labels.mean()
    # A perfect ranking fills the top 10% with every churner: precision = the ceiling.
    assert top["precision"] == pytest.approx(prevalence / 0.10, abs=1e-3)
    assert top["ceiling"] == pytest.approx(prevalence / 0.10, abs=1e-3) and top["recall"] == 1.0
    noise = rng.random(len(labels))
    random_top = top_share(labels, noise)
    assert random_top["precision"] < top["precision"]
    interval = top_share_interval(labels, noise, groups)
    low, high = interval["precision_ci95"]
    assert low is not None and high is not None
    assert low <= random_top["precision"] <= high and high - low > 0
    assert top_share_interval(labels, noise, groups) == interval  # seeded
    report = probability_report(labels, perfect, groups=groups)
    # Resamples with more than 10% churners cannot hold them all in their top 10%.
    recall_low, recall_high = report["precision_at_10pct"]["recall_ci95"]
    assert 0.8 < recall_low <= recall_high == 1.0
    assert "precision_ci95" not in probability_report(labels, perfect)["precision_at_10pct"]
    assert top_share_interval(np.zeros(20), noise[:20], groups[:20]) == {
        "precision_ci95": [None, None],
        "recall_ci95": [None, None],
    }


def test_interventions_that_work_lower_the_score_of_those_who_received_them() -> None:
    """Declining tutors level off at a low activity, from which the untreated ones quit at
    a random moment; half of them (the treated) got a coaching session when they levelled
    off, and it works (the simulated effect): they stay. Nothing but the coaching tells the
    two apart, so a model that learnt from the intervention history must score a tutor in
    that state lower once they have received coaching."""
    rng = np.random.default_rng(21)
    b = MarketBuilder()
    received = []
    for k in range(160):
        tutor_id = f"t{k:03d}"
        b.tutor(tutor_id, onboarded_days_before=int(rng.integers(100, 600)), baseline=10)
        level = rng.normal(1.1, 0.1)
        declining = rng.random() < 0.5
        drift = rng.normal(-0.03, 0.005) if declining else 0.0
        treated = declining and k % 2 == 1
        for n in range(DAYS):
            back = DAYS - 1 - n
            if drift < 0 and level < 0.8:
                drift = 0.0  # levelled off
                if treated:
                    received.append((tutor_id, "H1", at(back + 0.9)))
            elif declining and drift == 0 and not treated and rng.random() < 0.08:
                break  # quits abruptly
            level += drift + rng.normal(0, 0.01)
            for _ in range(rng.poisson(max(0.0, min(2.5, 1.6 * level)))):
                b.session(tutor_id, at(back + rng.random() * 0.5), rating=4.0)
            for _ in range(rng.poisson(max(0.1, 1.5 * level))):
                b.event(tutor_id, at(back + rng.random() * 0.5), "login")
    history = pd.DataFrame(received, columns=["tutor_id", "intervention_type", "reached_at"])
    history["reached_at"] = pd.to_datetime(history["reached_at"], utc=True)
    dataset = build_dataset(
        b.build(), observed_from=START, observed_until=AS_OF, interventions=history
    )
    assert dataset.rows["received_coaching_30d"].sum() > 0
    model = train_churn_model(dataset, seed=0, max_configs=1).model
    assert "received_coaching_14d" in model.features
    rows = dataset.rows[dataset.rows["received_coaching_30d"] == 0]
    coached = rows.assign(
        received_coaching_14d=1.0,
        received_coaching_30d=1.0,
        interventions_received_30d=rows["interventions_received_30d"] + 1,
        days_since_last_intervention=3.0,
    )
    # The trees' own 30-day probabilities (before the calibration's steps), for the tutors
    # the model thinks at risk: coaching received must pull them down.
    before = model.raw_probabilities(rows)[:, 2]
    after = model.raw_probabilities(coached)[:, 2]
    at_risk = before > np.quantile(before, 0.8)
    assert after[at_risk].mean() < 0.8 * before[at_risk].mean()
