"""Exact MILP for the additive MathNAS objective, with HiGHS (no torch, no licence).

MathNAS (arXiv 2311.04943), Eq. 6 with the released code's additive predictor: maximise
``Acc(N~) + sum delta^A_{i,j} x_{i,j}`` over the multiple-choice program of
:mod:`deepmad.mathnas.linear`. The released code uses Gurobi with a 5 s time limit; HiGHS via
:func:`scipy.optimize.milp` solves the 25-binary MobileNetV3 program to proven optimality in
milliseconds.
"""

from __future__ import annotations

import time

import numpy as np

from deepmad.mathnas.linear import LinearForm, solve_binary
from deepmad.mathnas.problem import MathNASProblem, Optimizer, SolveResult, build_result

__all__ = ["milp_optimiser", "solve_additive"]


def milp_optimiser(form: LinearForm, time_limit: float | None = None) -> Optimizer:
    """An :data:`Optimizer` (best value of one metric under some bounds) backed by HiGHS."""

    def optimise(metric: str, sense: str, bounds: list[tuple[str, str, float]]) -> float | None:
        base, delta = form.vector(metric)
        sign = 1.0 if sense == "<=" else -1.0  # minimise for an upper bound, maximise for a lower
        out = solve_binary(sign * delta, form.constraints(bounds), time_limit=time_limit)
        if out.x is None:
            return None
        return float(base + delta @ form.one_hot_of(form.choice(out.x)))

    return optimise


def _gap(result: object) -> float | None:
    gap = getattr(result, "mip_gap", None)
    return None if gap is None else float(gap)


def solve_additive(problem: MathNASProblem, *, time_limit: float | None = None) -> SolveResult:
    """Maximise the additive predicted accuracy under the budgets (one MILP).

    Args:
        problem: Table, budgets; ``problem.predictor`` must be ``"additive"``.
        time_limit: Optional HiGHS time limit in seconds (status ``"time_limit"`` when hit).

    Returns:
        The optimal network, or an ``"infeasible"`` result naming the bound that cannot be met.
    """
    if problem.predictor != "additive":
        raise ValueError("solve_additive needs predictor='additive'; use solve_fractional for 'flops'")
    start = time.perf_counter()
    form = LinearForm(problem.table)
    _, acc = form.vector("accuracy")
    out = solve_binary(-acc, form.constraints(problem.bound_list()), time_limit=time_limit)
    arch = None if out.x is None else form.choice(out.x)
    elapsed = time.perf_counter() - start
    return build_result(problem, arch, solver="milp", status=out.status, message=str(out.result.message),
                        gap=_gap(out.result), time_s=elapsed,
                        optimise=milp_optimiser(form, time_limit))


def objective_vector(form: LinearForm) -> np.ndarray:
    """Flat b^A (accuracy drops) of the table, the numerator of Eq. 6."""
    return -form.vector("accuracy")[1]
