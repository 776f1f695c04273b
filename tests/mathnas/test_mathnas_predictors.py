"""Additive and FLOPs-scaled predictors (Eq. 5 / Eq. 6) and rank validation."""

from __future__ import annotations

import numpy as np
import pytest

from deepmad.errors import DeepmadError
from deepmad.mathnas import (
    BlockTable,
    MetricTable,
    load_table,
    predict,
    predict_accuracy,
    predict_space,
    rank_correlations,
    validate,
)

from ._helpers import random_table


def test_additive_predictor_matches_released_code_example() -> None:
    t = load_table("mbv3-gpu")
    pred = predict(t, (3, 4, 4, 4, 3))
    assert pred["accuracy"] == pytest.approx(79.2964, abs=1e-4)
    assert pred["latency"] == pytest.approx(68.8636, abs=1e-4)


def test_flops_predictor_is_eq6() -> None:
    t = load_table("mbv3-cpu")
    arch = (0, 1, 2, 3, 4)
    drops = sum(t.metric("accuracy").drop[i][j] for i, j in enumerate(arch))
    f = t.metric("flops").value(arch)
    want = 79.23 - t.flops_mean() * drops / f
    assert predict_accuracy(t, [arch], "flops")[0] == pytest.approx(want, rel=1e-12)
    assert t.flops_mean() == pytest.approx(t.metric("flops").mean())
    # the reference network (zero drops) predicts the base accuracy in both predictors
    assert predict_accuracy(t, [(4,) * 5], "flops")[0] == pytest.approx(79.23)
    assert predict_accuracy(t, [(4,) * 5], "additive")[0] == pytest.approx(79.23)


def test_flops_reference_scales_the_drops() -> None:
    t = random_table(np.random.default_rng(1), (3, 4))
    arch = (2, 3)
    t2 = BlockTable(**{**t.__dict__, "flops_reference": 2 * t.flops_mean()})
    base = t.metric("accuracy").base
    d1 = base - predict_accuracy(t, [arch], "flops")[0]
    d2 = base - predict_accuracy(t2, [arch], "flops")[0]
    assert d2 == pytest.approx(2 * d1)


def test_vectorised_equals_scalar() -> None:
    t = random_table(np.random.default_rng(2), (3, 2, 4))
    archs, preds = predict_space(t, "flops")
    assert len(archs) == 24
    for a, p in zip(archs, preds):
        assert predict(t, tuple(a), "flops")["accuracy"] == pytest.approx(p)


def test_predictor_errors() -> None:
    t = BlockTable("t", ("a",), (("x", "y"),), {"accuracy": MetricTable(1.0, ((0.0, 1.0),))})
    with pytest.raises(DeepmadError, match="no FLOPs"):
        predict_accuracy(t, [(0,)], "flops")
    with pytest.raises(DeepmadError, match="allowed: additive, flops"):
        predict_accuracy(t, [(0,)], "ratio")
    with pytest.raises(DeepmadError, match="out of range"):
        predict_accuracy(t, [(2,)])


def test_rank_correlations_and_validate() -> None:
    rho, tau = rank_correlations([1, 2, 3, 4], [10, 20, 30, 40])
    assert rho == pytest.approx(1.0) and tau == pytest.approx(1.0)
    rho, tau = rank_correlations([1, 2, 3, 4], [4, 3, 2, 1])
    assert rho == pytest.approx(-1.0) and tau == pytest.approx(-1.0)
    t = load_table("mbv3-gpu")
    truth = {(j,) * 5: 70.0 + j for j in range(5)}
    v = validate(t, truth)
    assert v.count == 5 and -1 <= v.spearman <= 1
    assert v.mae > 0 and v.rmse >= v.mae
    with pytest.raises(DeepmadError, match="equal length"):
        rank_correlations([1, 2], [1, 2])
