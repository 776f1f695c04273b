"""Pareto sweeps: one design problem per value of one budget, solved in increasing order.

The problems of a sweep differ only in one upper bound, which grows along the sweep, so their
feasible sets are nested: every design feasible at budget ``B_i`` is feasible at ``B_j > B_i``.
Two consequences are used:

* **warm start**: the previous point's design is feasible for the next problem and is handed to
  the solver as a first incumbent (``start``; :class:`~deepmad.solvers.ExactConfig` and the
  evolution solver accept one), so the designed objective never falls along the sweep;
* **bounds**: the optimum is non-decreasing in the budget, so ``OPT_i <= OPT_j <= dual_j`` for
  ``j >= i``, and ``min_{j >= i} dual_j`` is a valid (tighter) bound on ``OPT_i``
  (:attr:`SweepPoint.sweep_dual`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deepmad.errors import DeepmadError
from deepmad.solvers.base import get_solver
from deepmad.solvers.problem import DesignProblem, DesignResult
from deepmad.solvers.status import relative_gap

__all__ = ["WARM_START_SOLVERS", "SweepPoint", "geometric_values", "sweep"]

WARM_START_SOLVERS = ("exact", "evolution")  # solvers that take a ``start`` design


@dataclass(frozen=True)
class SweepPoint:
    """One budget of a sweep and its design result."""

    budget: float  # value of the swept budget
    result: DesignResult
    warm_start: float | None  # objective of the previous point's design here (None: no start)
    sweep_dual: float  # min of this and every later point's dual bound (valid: nested problems)

    @property
    def sweep_gap(self) -> float:
        """Relative gap against :attr:`sweep_dual` (inf without a design or a finite bound)."""
        return relative_gap(self.result.objective, self.sweep_dual)


def geometric_values(lo: float, hi: float, n: int, integer: bool = False) -> tuple[float, ...]:
    """``n`` values from ``lo`` to ``hi`` in geometric steps: ``lo * (hi / lo)^(i / (n - 1))``.

    With ``integer`` the values are rounded and duplicates dropped.
    """
    if not (0 < lo < hi) or not math.isfinite(hi):
        raise DeepmadError(f"sweep range {lo:g}:{hi:g} is invalid; expected 0 < low < high")
    if n < 2:
        raise DeepmadError(f"sweep steps {n} is invalid; expected an integer >= 2")
    vals = [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
    if integer:
        vals = [float(v) for v in dict.fromkeys(round(v) for v in vals)]
    return tuple(vals)


def sweep(problem_at: Callable[[float], DesignProblem], values: Sequence[float], solver: str = "exact",
          options: dict[str, Any] | None = None, warm_start: bool = True,
          on_point: Callable[[SweepPoint], None] | None = None) -> list[SweepPoint]:
    """Solve ``problem_at(v)`` for each ``v`` of ``values`` (sorted increasing).

    Args:
        problem_at: the problem at one budget value; the problems must be nested (one upper
            bound growing with ``v``), which :attr:`SweepPoint.sweep_dual` relies on.
        values: budget values.
        solver: solver name.
        options: solver options (``start`` is set by the sweep).
        warm_start: hand the previous design to solvers of :data:`WARM_START_SOLVERS`.
        on_point: called after each solve (e.g. to print a row); ``sweep_dual`` is then the
            point's own bound, the later points are not known yet.
    """
    values = sorted(values)
    problems = [problem_at(v) for v in values]  # every problem is built (and checked) before any solve
    raw: list[tuple[float, DesignResult, float | None]] = []
    prev = None
    for v, problem in zip(values, problems):
        opts = dict(options or {})
        start_obj = None
        if warm_start and prev is not None and solver in WARM_START_SOLVERS:
            opts["start"] = prev
            ev = problem.evaluate(prev)
            start_obj = ev.objective if ev.feasible else None
        result = get_solver(solver, **opts).solve(problem)
        prev = result.design or prev
        raw.append((v, result, start_obj))
        if on_point is not None:
            on_point(SweepPoint(v, result, start_obj, result.dual_bound))
    points, best = [], math.inf
    for v, result, start_obj in reversed(raw):
        best = min(best, result.dual_bound)
        points.append(SweepPoint(v, result, start_obj, best))
    return points[::-1]
