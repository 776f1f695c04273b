"""Minimising the Lagrangian dual function: a trust-region cutting-plane (Kelley) method.

The dual function ``U(y) = max_x L(x, y)`` over the box is convex and piecewise linear in the
multipliers ``y >= 0``; each evaluation (one dynamic program) returns its value and a
subgradient. Every evaluated ``U(y)`` is a valid upper bound, so the method only has to find a
good ``y`` -- it never affects validity. Linear programs are solved with HiGHS
(``scipy.optimize.linprog``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog

__all__ = ["DualResult", "minimise_dual"]


@dataclass
class DualResult:
    """Best multipliers found, their bound, and the payload of that evaluation."""

    y: np.ndarray
    value: float
    payload: Any
    evaluations: int
    payloads: list[Any]
    converged: bool = False  # the cutting-plane model proved ``value`` within ``rel_tol``
    state: tuple | None = None  # the bundle, to continue with ``minimise_dual(..., state=)``


def minimise_dual(oracle: Callable[[np.ndarray], tuple[float, np.ndarray, Any]], y0: np.ndarray,
                  scale: np.ndarray, iters: int = 25, rel_tol: float = 1e-4,
                  stop_below: float = -np.inf, radius: float = 1.0, state: tuple | None = None) -> DualResult:
    """Minimise a convex piecewise-linear function of ``y >= 0`` given a subgradient oracle.

    Args:
        oracle: ``y -> (value, subgradient, payload)``.
        y0: start point.
        scale: typical magnitude of each coordinate (trust-region units).
        iters: maximum number of oracle calls.
        rel_tol: stop when the cutting-plane model proves the value within this relative gap.
        stop_below: stop as soon as a value below this is found (the node can be pruned).
        radius: initial trust-region radius in units of ``scale``.
        state: a previous result's ``state``: continue that run (same oracle) for ``iters`` more calls.
    """
    n = len(y0)
    if state is None:
        ys, vals, grads, payloads = [], [], [], []
        y = np.maximum(np.asarray(y0, float), 0.0)
        best, center, rad = None, y.copy(), radius
    else:
        ys, vals, grads, payloads, best, center, rad, y = state
    converged = False
    for _ in range(iters):
        v, g, p = oracle(y)
        ys.append(y.copy()), vals.append(v), grads.append(np.asarray(g, float)), payloads.append(p)
        if best is None or v < vals[best]:
            serious = best is not None
            best = len(vals) - 1
            center = y.copy()
            rad = rad * 2.0 if serious else rad
        else:
            rad *= 0.5
        if vals[best] < stop_below or n == 0:
            converged = n == 0
            break
        y, model = _next_point(ys, vals, grads, center, rad, scale)
        if model is None or vals[best] - model <= rel_tol * max(1.0, abs(vals[best])):
            converged = True
            break
    return DualResult(ys[best], vals[best], payloads[best], len(vals), payloads, converged,
                      (ys, vals, grads, payloads, best, center, rad, y))


def _next_point(ys, vals, grads, center, rad, scale):
    """Minimiser of the cutting-plane model inside the trust region (None if the LP fails)."""
    n = len(center)
    # variables (y_1..y_n, t): minimise t s.t. t >= v_k + g_k (y - y_k)  <=>  g_k y - t <= g_k y_k - v_k
    a_ub = np.array([np.append(g, -1.0) for g in grads])
    b_ub = np.array([float(g @ yk) - v for g, yk, v in zip(grads, ys, vals)])
    lo = np.maximum(center - rad * scale, 0.0)
    hi = center + rad * scale
    bounds = [(float(a), float(b)) for a, b in zip(lo, hi)] + [(None, None)]
    c = np.zeros(n + 1)
    c[-1] = 1.0
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", options={"presolve": False})
    if res.status != 0:
        return center, None
    return res.x[:n], float(res.x[-1])
