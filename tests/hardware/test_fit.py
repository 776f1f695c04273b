"""The NNLS fit recovers known coefficients from synthetic timings (no clock)."""

from __future__ import annotations

import numpy as np
import pytest

from deepmad.errors import DeepmadError
from deepmad.hardware.calibration import Calibration
from deepmad.hardware.features import FEATURE_NAMES, network_features
from deepmad.hardware.fit import accuracy, design_matrix, fit_cv, fit_nnls
from deepmad.hardware.sample import SampleConfig, preset_networks, random_networks


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    cfg = SampleConfig("all", (64, 96, 128), batch=1, max_macs=5e8)
    nets = random_networks(cfg, 220, seed=3) + preset_networks(
        SampleConfig("all", (64,), max_macs=1e12)
    )
    return design_matrix([network_features(n, 1) for n in nets], FEATURE_NAMES)


def _true_weights(x: np.ndarray, seed: int) -> np.ndarray:
    """Non-negative weights, about 40 % of them zero, each live feature worth ~ms per network."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 2.0, x.shape[1]) * (rng.random(x.shape[1]) < 0.6)
    return w / np.maximum(x.mean(axis=0), 1e-12)


def test_fit_recovers_known_coefficients(matrix: np.ndarray) -> None:
    w = _true_weights(matrix, 0)
    t = matrix @ w
    got = fit_nnls(matrix, t, ridge=0.0)
    scale = matrix.mean(axis=0)  # compare in ms per network, so every feature weighs alike
    assert np.all(got >= 0)
    np.testing.assert_allclose(got * scale, w * scale, atol=1e-6 * (w * scale).max())


def test_fit_cv_picks_no_ridge_on_exact_data_and_predicts_exactly(matrix: np.ndarray) -> None:
    w = _true_weights(matrix, 1)
    t = matrix @ w
    res = fit_cv(matrix, t, FEATURE_NAMES)
    pred = matrix @ np.array([res.coefficients[n] for n in FEATURE_NAMES])
    np.testing.assert_allclose(pred, t, rtol=1e-6)
    assert res.cv is not None and res.cv.within10 == 100.0


def test_noisy_timings_give_held_out_error_near_the_noise(matrix: np.ndarray) -> None:
    w = _true_weights(matrix, 2)
    rng = np.random.default_rng(5)
    t = (matrix @ w) * rng.lognormal(0.0, 0.02, len(matrix))
    train, test = slice(0, 170), slice(170, None)
    res = fit_cv(matrix[train], t[train], FEATURE_NAMES)
    cal = Calibration({"batch": 1, "mode": "inference"}, res.coefficients, res.ridge)
    pred = np.array([cal.evaluate(dict(zip(FEATURE_NAMES, row))) for row in matrix[test]])
    acc = accuracy(pred, t[test])
    assert acc.mape < 4.0 and acc.within10 >= 95.0 and acc.spearman > 0.99


def test_relative_weighting_lets_small_networks_matter() -> None:
    # two regimes: a fixed overhead dominates small networks; ordinary LS on ms would ignore it
    x = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 1000.0], [1.0, 2000.0]])
    t = x @ np.array([0.5, 0.01])
    got = fit_nnls(x, t)
    np.testing.assert_allclose(got, [0.5, 0.01], rtol=1e-9)


def test_coefficients_stay_non_negative_when_truth_is_negative() -> None:
    x = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    got = fit_nnls(x, x @ np.array([3.0, -0.5]))
    assert np.all(got >= 0)


def test_accuracy_figures() -> None:
    acc = accuracy(np.array([1.0, 2.2, 2.7, 4.0]), np.array([1.0, 2.0, 3.0, 5.0]))
    assert acc.n == 4
    assert acc.mape == pytest.approx(100 * (0 + 0.1 + 0.1 + 0.2) / 4)
    assert acc.within10 == pytest.approx(75.0)  # 0, 10 % and 10 % are within; 20 % is not
    assert acc.spearman == pytest.approx(1.0)


def test_fit_rejects_bad_times() -> None:
    with pytest.raises(DeepmadError, match="positive"):
        fit_nnls(np.ones((2, 2)), np.array([1.0, 0.0]))
    with pytest.raises(DeepmadError, match="not in the model"):
        design_matrix([{"bogus": 1.0}], FEATURE_NAMES)
