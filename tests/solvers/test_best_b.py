"""The bottleneck maximiser of the bound DP (deepmad.solvers._dp.best_b) against enumeration."""

from __future__ import annotations

import numpy as np
import pytest

from deepmad.solvers._bmax import best_b
from deepmad.solvers._bound import NEG
from deepmad.solvers.terms import se_of


def _brute(w, q0, q1, q2, lo, hi, cap, step, extras, se_terms):
    """Max over every grid point of [lo, hi] and every extra <= cap, cell by cell."""
    shape = np.broadcast(w, q0, q1, q2, lo, hi, cap).shape
    args = [np.broadcast_to(x, shape) for x in (w, q0, q1, q2, lo, hi, cap)]
    n, beta, gamma = (np.broadcast_to(x, shape) for x in se_terms) if se_terms else (None,) * 3
    best = np.full(shape, NEG)
    for i in np.ndindex(shape):
        wi, a0, a1, a2, low, high, c = (x[i] for x in args)
        cands = [float(b) for b in range(step, int(high) + 1, step) if b >= low] + [float(e) for e in extras if e <= c]
        for b in cands:
            v = wi * np.log(b) + a0 + a1 * b + a2 * b * b
            if se_terms:
                v += n[i] * se_of(b) * (beta[i] * b + gamma[i])
            best[i] = max(best[i], v)
    return best


@pytest.mark.parametrize("se", [True, False])
@pytest.mark.parametrize("convex", [False, True])
def test_best_b_equals_enumeration(se: bool, convex: bool) -> None:
    """Cells with intervals below, across and above b = 64 (where se(b) leaves its floor of 8),
    empty intervals, extras, concave and convex quadratics: the value is the exact maximum and the
    argmax attains it."""
    rng = np.random.default_rng(7 + se + 2 * convex)
    for step in (8, 4, 12):
        k, d, n_cells = 2, 2, 40
        lo = rng.integers(1, 60, n_cells) * step // 4 * 4 + step
        hi = lo + rng.integers(-step, 120, n_cells)  # some empty
        lo, hi = lo.astype(float), hi.astype(float)
        cap = rng.choice([100.0, 1e9], n_cells)
        w = rng.uniform(0.0, 400.0, (k, d, 1)) * np.ones((1, 1, n_cells))
        q0 = rng.normal(0, 10, (k, d, n_cells))
        q2 = rng.uniform(0.0, 0.01, (k, d, n_cells)) * (1 if convex else -1)
        target = rng.uniform(lo - 20, hi + 20, (k, d, n_cells))  # stationary point near the interval
        q1 = -w / np.maximum(target, 1.0) - 2 * q2 * target
        ds = np.array([1.0, 3.0])[None, :, None]
        se_terms = (ds, -rng.uniform(0, 0.05), -rng.uniform(0, 0.5)) if se else None
        extras = (72.0, 150.0)
        val, arg = best_b(w, q0, q1, q2, lo, hi, cap, step, extras, se_terms)
        want = _brute(w, q0, q1, q2, lo, hi, cap, step, extras, se_terms)
        ok = want > NEG / 2
        assert np.array_equal(val > NEG / 2, ok)
        np.testing.assert_allclose(val[ok], want[ok], rtol=1e-12, atol=1e-9)
        at = w * np.log(np.maximum(arg, 1.0)) + q0 + q1 * arg + q2 * arg * arg
        if se:
            at = at + ds * se_of(arg) * (se_terms[1] * arg + se_terms[2])
        np.testing.assert_allclose(np.broadcast_to(at, val.shape)[ok], val[ok], rtol=1e-12, atol=1e-9)
