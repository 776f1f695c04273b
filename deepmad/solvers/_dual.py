"""Minimising the Lagrangian dual function: a trust-region cutting-plane (Kelley) method.

The dual function ``U(y) = max_x L(x, y)`` over the box is convex and piecewise linear in the
multipliers ``y >= 0``; each evaluation (one dynamic program) returns its value and a
subgradient. Every evaluated ``U(y)`` is a valid upper bound, so the method only has to find a
good ``y`` -- it never affects validity. The linear programs are solved with HiGHS through its
own Python API (``highspy``): one solver object per thread, reloaded per LP, which costs a fifth
of ``scipy.optimize.linprog``'s per-call overhead on these tiny programs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np

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
    n, m = len(center), len(grads)
    # variables (y_1..y_n, t): minimise t s.t. t >= v_k + g_k (y - y_k)  <=>  g_k y - t <= g_k y_k - v_k
    g = np.asarray(grads, float).reshape(m, n)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n + 1, m
    lp.col_cost_ = np.append(np.zeros(n), 1.0)
    lp.col_lower_ = np.append(np.maximum(center - rad * scale, 0.0), -highspy.kHighsInf)
    lp.col_upper_ = np.append(center + rad * scale, highspy.kHighsInf)
    lp.row_lower_ = np.full(m, -highspy.kHighsInf)
    lp.row_upper_ = np.einsum("ij,ij->i", g, np.asarray(ys, float).reshape(m, n)) - np.asarray(vals, float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.arange(0, m * (n + 1) + 1, n + 1, dtype=np.int32)
    lp.a_matrix_.index_ = np.tile(np.arange(n + 1, dtype=np.int32), m)
    lp.a_matrix_.value_ = np.hstack([g, -np.ones((m, 1))]).ravel()
    h = _solver()
    if h.passModel(lp) != highspy.HighsStatus.kOk or h.run() != highspy.HighsStatus.kOk \
            or h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return center, None
    x = np.array(h.getSolution().col_value)
    return x[:n], float(x[-1])


_LOCAL = threading.local()


def _solver() -> highspy.Highs:
    """This thread's HiGHS object, silent, presolve off (the LPs have a handful of columns)."""
    h = getattr(_LOCAL, "highs", None)
    if h is None:
        with _quiet_stdout():  # the first Highs() of a process prints a banner from C++
            h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")
        _LOCAL.highs = h
    return h


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Point file descriptor 1 at /dev/null for the block (a no-op where it cannot be duplicated)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
