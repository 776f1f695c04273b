"""One entry point for every MathNAS solver (no torch).

``solve(problem, solver="milp")`` picks the exact method that fits the predictor: one HiGHS MILP
for the additive objective, Dinkelbach (or Charnes-Cooper) over MILPs for the FLOPs-scaled
objective of Eq. 6 (MathNAS, arXiv 2311.04943); ``solver="brute"`` enumerates the space.
"""

from __future__ import annotations

from collections.abc import Callable

from deepmad.errors import DeepmadError
from deepmad.mathnas.brute import solve_brute
from deepmad.mathnas.fractional import FRACTIONAL_METHODS, solve_fractional
from deepmad.mathnas.milp import solve_additive
from deepmad.mathnas.problem import Budget, MathNASProblem, SolveResult
from deepmad.mathnas.tables import BlockTable

__all__ = ["SOLVERS", "make_budgets", "solve"]

SOLVERS: tuple[str, ...] = ("milp", "brute")


def _milp(problem: MathNASProblem, method: str, time_limit: float | None) -> SolveResult:
    if problem.predictor == "additive":
        return solve_additive(problem, time_limit=time_limit)
    return solve_fractional(problem, method=method, time_limit=time_limit)


_DISPATCH: dict[str, Callable[[MathNASProblem, str, float | None], SolveResult]] = {
    "milp": _milp,
    "brute": lambda problem, method, time_limit: solve_brute(problem),
}


def solve(problem: MathNASProblem, solver: str = "milp", *, fractional_method: str = "dinkelbach",
          time_limit: float | None = None) -> SolveResult:
    """Solve ``problem`` exactly.

    Args:
        problem: Block table, predictor (``"additive"`` or ``"flops"``) and budgets.
        solver: ``"milp"`` (HiGHS; Dinkelbach or Charnes-Cooper for the FLOPs predictor) or
            ``"brute"`` (enumeration, spaces up to 2e6 networks).
        fractional_method: ``"dinkelbach"`` or ``"charnes_cooper"`` (FLOPs predictor only).
        time_limit: HiGHS time limit per MILP in seconds (None: none).

    Returns:
        A :class:`SolveResult`; call ``raise_if_infeasible()`` to turn an infeasible budget
        into a one-line :class:`deepmad.errors.InfeasibleError`.
    """
    if solver not in _DISPATCH:
        raise DeepmadError(f"solver {solver!r} is unknown; allowed: {', '.join(SOLVERS)}")
    if fractional_method not in FRACTIONAL_METHODS:
        raise DeepmadError(f"fractional method {fractional_method!r} is unknown; allowed: {', '.join(FRACTIONAL_METHODS)}")
    return _DISPATCH[solver](problem, fractional_method, time_limit)


def make_budgets(table: BlockTable, **limits: float | None) -> tuple[Budget, ...]:
    """Budgets from keyword limits ``max_latency``, ``min_latency``, ``max_energy``, ... .

    A limit of None is skipped; ``table`` is only used to check that the metric exists.
    """
    budgets = []
    for metric in ("latency", "energy", "flops"):
        upper, lower = limits.pop(f"max_{metric}", None), limits.pop(f"min_{metric}", None)
        if upper is not None or lower is not None:
            table.metric(metric)
            budgets.append(Budget(metric, upper=upper, lower=lower))
    if limits:
        raise DeepmadError(f"unknown limits {sorted(limits)}; allowed: max_/min_ + latency, energy, flops")
    return tuple(budgets)
