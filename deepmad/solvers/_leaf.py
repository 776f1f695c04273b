"""Exact solution of a box whose depths and widths are fixed: a multiple-choice MILP (HiGHS).

With every depth and width fixed, what is left is one (kernel, bottleneck) pair per stage, and
the program separates over them:

* objective ``sum_s alpha_s m_s S_s - Q(L)`` (DeepMAD Eq. 7 with the depth penalty): ``m_s``
  depends on widths only, ``S_s`` is a sum of per-block terms of its stages, ``Q`` on the depths;
* every budget is a sum of per-stage costs;
* ``rho_s <= r0`` iff ``LW_s >= D_s ln(D_s / r0)`` with ``LW_s`` a prefix sum of per-stage log
  layer widths and ``D_s`` fixed.

So choosing the pairs is a multiple-choice knapsack with a few rows; one binary per (stage, pair),
solved exactly by ``scipy.optimize.milp`` (HiGHS) in milliseconds. This closes the nodes where a
Lagrangian bound stays loose however long its multipliers are tuned (the integrality gap of a
handful of discrete choices against two or three tight budgets).

The coefficients are differences of the problem's own evaluation (``DesignProblem.evaluate``),
so nothing is re-derived. Integer costs are rounded sums of exact ones, so each budget row is
loosened by ``J + 2`` units and each rho row by a relative 1e-9: the MILP is a relaxation, and its
proven dual bound is a valid upper bound of the box; its point is re-evaluated before use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint

from deepmad.solvers._highs import quiet_milp
from deepmad.solvers.fasteval import log_width_prefixes
from deepmad.solvers.problem import DesignProblem
from deepmad.solvers.space import Design
from deepmad.solvers.terms import rounding_slack

__all__ = ["LeafResult", "solve_pairs"]


@dataclass(frozen=True)
class LeafResult:
    """HiGHS's answer for one box: status, proven bound, and the design at its point."""

    status: str  # "optimal", "infeasible" or "unsolved" (limit or error: the caller must branch on)
    bound: float  # upper bound of the objective over the box (-inf when infeasible)
    design: Design | None


def _with_pair(d: Design, j: int, kb: tuple[int, int]) -> Design:
    """``d`` with stage j's (kernel, bottleneck) set to ``kb``."""
    stages = list(d.stages)
    stages[j] = stages[j]._replace(bottleneck=kb[1], kernel=kb[0])
    return Design(d.resolution, d.stem, tuple(stages), d.final)


def solve_pairs(problem: DesignProblem, base: Design, pairs: list[list[tuple[int, int]]],
                time_limit: float = 1.0) -> LeafResult:
    """Maximise the objective over one (kernel, bottleneck) pair per stage of ``base``.

    Args:
        problem: the design problem (its budgets and objective).
        base: a design giving the resolution, stem, widths, depths and final width.
        pairs: per stage, the allowed (kernel, bottleneck) pairs (non-empty lists).
        time_limit: HiGHS's time limit in seconds.
    """
    J = len(problem.space.stages)
    first = base
    for j in range(J):
        first = _with_pair(first, j, pairs[j][0])
    ev0 = problem.evaluate(first)
    a, lo, hi, obj = _knapsack(problem, first, ev0, pairs)
    res = quiet_milp(-np.array(obj), constraints=LinearConstraint(a, lo, hi), integrality=np.ones(len(obj)),
                     bounds=(0, 1), options={"time_limit": time_limit, "mip_rel_gap": 1e-7, "presolve": True})
    if res.status == 2:
        return LeafResult("infeasible", -math.inf, None)
    if res.status != 0 or res.x is None:
        return LeafResult("unsolved", math.inf, None)
    tol = 1e-9 * max(1.0, abs(ev0.objective))
    bound = ev0.objective - float(getattr(res, "mip_dual_bound", res.fun)) + tol
    x = np.asarray(res.x)
    design = first
    k = 0
    for j in range(J):
        m = len(pairs[j])
        design = _with_pair(design, j, pairs[j][int(np.argmax(x[k:k + m]))])
        k += m
    return LeafResult("optimal", max(bound, ev0.objective - float(res.fun) + tol), design)


def _knapsack(problem: DesignProblem, first: Design, ev0, pairs: list[list[tuple[int, int]]]):
    """Rows (matrix, lower, upper) and objective of the multiple-choice knapsack around ``first``."""
    space, cfg = problem.space, problem.objective
    _, layout = problem.layout(first.resolution)
    J = len(space.stages)
    # rows the MILP does not take from the evaluation: rho (its own rows) and resolution (fixed)
    skip = {b.name for b in problem.budgets if b.quantity in ("rho", "resolution")}
    rows0 = [cv for cv in ev0.constraints if cv.name not in skip]
    lw0 = log_width_prefixes(space, first, cfg, layout)
    r0 = min((b.upper for b in problem.budgets if b.quantity == "rho" and b.upper is not None), default=None)
    obj, cost, lws, owner = [], [], [], []
    for j in range(J):
        for kb in pairs[j]:
            d = _with_pair(first, j, kb)
            ev = problem.evaluate(d)
            obj.append(ev.objective - ev0.objective)
            cost.append([cv.value - c0.value for cv, c0 in zip(
                (cv for cv in ev.constraints if cv.name not in skip), rows0)])
            lws.append([w - w0 for (_, w), (_, w0) in zip(log_width_prefixes(space, d, cfg, layout), lw0)])
            owner.append(j)
    n = len(obj)
    pick = np.zeros((J, n))
    pick[owner, np.arange(n)] = 1.0
    a_rows, lo, hi = [pick], [1.0] * J, [1.0] * J
    slack = J + 2.0  # integer costs round (or truncate) exact sums: < 1 per stage difference, 2 for the totals
    cost_m = np.array(cost, float).reshape(n, len(rows0))
    for i, c0 in enumerate(rows0):
        a_rows.append(cost_m[:, i][None])
        tol = rounding_slack(c0.name, c0.limit, slack)
        if c0.sense == "<=":
            lo.append(-np.inf)
            hi.append(c0.limit - c0.value + tol)
        else:
            lo.append(c0.limit - c0.value - tol)
            hi.append(np.inf)
    if r0 is not None:
        lw_m = np.array(lws, float).reshape(n, len(lw0))
        for s, (ds, w0) in enumerate(lw0):
            need = ds * (math.log(ds) - math.log(r0))
            a_rows.append(lw_m[:, s][None])
            lo.append(need - w0 - 1e-9 * max(1.0, abs(need)))
            hi.append(np.inf)
    return np.vstack(a_rows), lo, hi, obj
