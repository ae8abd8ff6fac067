"""Issue 11: the shared-walk TreeSHAP gives bit for bit the values of the plain TreeSHAP."""

from __future__ import annotations

import pandas as pd
import pytest

from tutorpulse.risk import treeshap
from tutorpulse.risk.explain import explain
from tutorpulse.risk.features import FEATURES
from tutorpulse.risk.hazard import INTERVALS, ChurnModel
from tutorpulse.risk.training import (
    DEFAULT_PARAMS,
    build_dataset,
    fit_hazard,
    temporal_split,
    train_churn_model,
)

from .market_builder import AS_OF
from .test_training import START, synthetic_market


@pytest.fixture(scope="module")
def setting() -> tuple[pd.DataFrame, dict[str, ChurnModel]]:
    dataset = build_dataset(synthetic_market(), observed_from=START, observed_until=AS_OF)
    rows = dataset.rows
    split = temporal_split(list(rows["day"]), observed_until=AS_OF)
    train = rows[(rows["day"] >= split.train[0]) & (rows["day"] <= split.train[1])]
    val = rows[(rows["day"] >= split.validation[0]) & (rows["day"] <= split.validation[1])]
    deep = fit_hazard(
        train,
        val,
        split=split,
        features=list(FEATURES),
        params=DEFAULT_PARAMS | {"max_depth": 6, "learning_rate": 0.3},
        seed=0,
    )
    models = {
        "default": train_churn_model(dataset, seed=0, max_configs=1).model,
        "deep": deep,
    }
    # The last three weeks of tutor-days, keyed like the live scoring (one row per tutor-day).
    recent = rows[rows["day"] > rows["day"].max() - pd.Timedelta(days=21)]
    recent = recent.set_index(recent["tutor_id"] + "@" + recent["day"].astype(str))
    return recent, models


@pytest.mark.parametrize("name", ["default", "deep"])
@pytest.mark.parametrize("horizon", [30, 7, 90])
def test_contributions_are_bit_for_bit_those_of_the_model(
    setting: tuple[pd.DataFrame, dict[str, ChurnModel]], name: str, horizon: int
) -> None:
    rows, models = setting
    model = models[name]
    fast = treeshap.contributions(model, rows, horizon=horizon, min_rows=0)
    pd.testing.assert_frame_equal(
        fast, model.contributions(rows, horizon=horizon), check_exact=True
    )
    # The check has teeth: walks were shared, and (30 and 90 days) some trees told
    # intervals apart.
    starts = tuple(a for a, _ in INTERVALS if a < horizon)
    steps = treeshap.plan(model, starts)
    assert steps is not None
    groups = [len(step.groups) for step in steps]
    assert sum(groups) < len(steps) * len(starts)
    assert horizon == 7 or max(groups) > 1


def test_explanations_match_the_plain_path_row_for_row(
    setting: tuple[pd.DataFrame, dict[str, ChurnModel]],
) -> None:
    rows, models = setting
    assert len(rows) >= treeshap.MIN_ROWS  # the whole frame takes the shared-walk path
    assert len(rows) > treeshap.BLOCK_ROWS  # in several row blocks
    for model in models.values():
        whole = explain(model, rows)
        # Chunks below MIN_ROWS take ChurnModel.contributions as it is.
        by_chunk: dict[object, dict[str, object]] = {}
        for first in range(0, len(rows), 100):
            by_chunk |= explain(model, rows.iloc[first : first + 100])
        assert whole == by_chunk
        assert any(item["top_features"] for item in whole.values())


def test_small_frames_and_one_interval_take_the_plain_path(
    setting: tuple[pd.DataFrame, dict[str, ChurnModel]],
) -> None:
    rows, models = setting
    model = models["default"]
    empty = treeshap.contributions(model, rows.iloc[:0], min_rows=0)
    assert empty.empty and list(empty.columns) == model.features
    pd.testing.assert_frame_equal(
        treeshap.contributions(model, rows, horizon=1, min_rows=0),
        model.contributions(rows, horizon=1),
        check_exact=True,
    )
