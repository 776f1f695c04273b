"""The MathNAS design problem and its result records (no torch).

MathNAS (arXiv 2311.04943), Eq. 1 and Eq. 6: maximise the predicted accuracy of a network,
one block per node, subject to budgets on latency, energy (and here FLOPs), each with an upper
and/or a lower bound. Constraint values follow optuna's sign convention: ``slack <= 0`` means
satisfied. Every solver re-checks its answer with exact arithmetic here (scipy/scipy#22812).

The vocabulary is DeepMAD design's (:mod:`deepmad.solvers.problem`, :mod:`deepmad.solvers.status`):
the same :class:`Budget` (``quantity``, ``upper``, ``lower``), :class:`ConstraintValue` (``name``,
sense ``"<="`` / ``">="``, ``value``, ``limit``, ``slack``), status set and ``success`` flag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deepmad.errors import DeepmadError, InfeasibleError
from deepmad.mathnas.predictors import check_predictor, predict
from deepmad.mathnas.space import Arch
from deepmad.mathnas.tables import BlockTable
from deepmad.solvers.problem import Budget, ConstraintValue
from deepmad.solvers.status import check_status

__all__ = [
    "BUDGET_METRICS",
    "Budget",
    "build_result",
    "ConstraintValue",
    "Infeasibility",
    "MathNASProblem",
    "SolveResult",
    "diagnose",
    "evaluate_arch",
]

BUDGET_METRICS: tuple[str, ...] = ("latency", "energy", "flops")
FEASIBILITY_TOL = 1e-7  # relative tolerance of the independent re-check


@dataclass(frozen=True)
class MathNASProblem:
    """A block table, the accuracy predictor and the budgets (Eq. 6)."""

    table: BlockTable
    budgets: tuple[Budget, ...] = ()
    predictor: str = "additive"  # "additive" (released code) or "flops" (paper, Eq. 6)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budgets", tuple(self.budgets))
        check_predictor(self.predictor)
        self.table.metric("accuracy")
        if self.predictor == "flops":
            self.table.metric("flops")
            if self.table.metric("flops").bounds()[0] <= 0:
                raise DeepmadError(f"table {self.table.name!r} allows F(N) <= 0; the FLOPs predictor needs F(N) > 0")
        for b in self.budgets:
            if b.quantity not in BUDGET_METRICS:
                raise DeepmadError(f"budget metric {b.quantity!r} is unknown; allowed: {', '.join(BUDGET_METRICS)}")
            self.table.metric(b.quantity)

    def bound_list(self) -> list[tuple[str, str, float]]:
        """Every bound as (metric, sense ``"<="`` / ``">="``, value)."""
        return [(b.quantity, sense, v) for b in self.budgets for sense, v in b.bounds()]


@dataclass(frozen=True)
class Infeasibility:
    """A bound no network meets: the best achievable value and the shortfall."""

    metric: str
    sense: str
    bound: float
    achievable: float | None  # min (upper) / max (lower) under the other budgets; None if those conflict
    shortfall: float | None  # how far the bound is from achievable (> 0)
    unit: str = ""

    @property
    def message(self) -> str:
        """One line naming the bound and by how much it misses."""
        op = self.sense
        word = "minimum" if self.sense == "<=" else "maximum"
        unit = f" {self.unit}" if self.unit else ""
        return (f"{self.metric} {op} {self.bound:g}{unit} is infeasible: the {word} achievable "
                f"{self.metric} is {self.achievable:.6g}{unit} (short by {self.shortfall:.4g}{unit})")


@dataclass(frozen=True)
class SolveResult:
    """A solver's answer: the choice per node, predicted metrics, constraint slacks, status."""

    status: str  # deepmad.solvers.status: "optimal", "infeasible", "time_limit" or "failed" here
    choices: Arch | None  # 0-based option index per node
    option_names: tuple[str, ...] | None  # chosen option name per node
    predicted: Mapping[str, float]  # accuracy (by the predictor), latency, energy, flops
    constraints: tuple[ConstraintValue, ...]
    solver: str  # "milp", "dinkelbach", "charnes_cooper", "brute"
    predictor: str
    message: str = ""  # the solver's own message
    gap: float | None = None  # relative MIP gap reported by the solver (0 for brute force)
    time_s: float = 0.0  # wall time of the solve
    iterations: int = 1  # MILPs solved (Dinkelbach iterations), or 1
    infeasibilities: tuple[Infeasibility, ...] = field(default=())

    def __post_init__(self) -> None:
        check_status(self.status)

    @property
    def feasible(self) -> bool:
        """True when a network was found and every bound holds."""
        return self.choices is not None and all(c.slack <= 0 for c in self.constraints)

    @property
    def success(self) -> bool:
        """A network was returned and passed the re-check (as ``DesignResult.success``)."""
        return self.feasible

    def raise_if_infeasible(self) -> SolveResult:
        """Raise :class:`InfeasibleError` (one line) unless a network was found."""
        if self.status == "infeasible":
            msg = "; ".join(i.message for i in self.infeasibilities if i.achievable is not None)
            raise InfeasibleError(msg or "the budgets cannot be met together")
        if self.choices is None:
            raise DeepmadError(f"solver {self.solver} found no network: {self.status} ({self.message})")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (``choices``, ``predicted``, ``solver`` {name, status, time_s}, ...)."""
        return {
            "choices": None if self.choices is None else list(self.choices),
            "options": None if self.option_names is None else list(self.option_names),
            "predicted": dict(self.predicted),
            "predictor": self.predictor,
            "constraints": [c.to_dict() for c in self.constraints],
            "solver": {"name": self.solver, "status": self.status, "success": self.success,
                       "message": self.message,
                       "gap": self.gap, "time_s": self.time_s, "iterations": self.iterations},
            "infeasibilities": [i.message for i in self.infeasibilities if i.achievable is not None],
        }


def evaluate_arch(problem: MathNASProblem, arch: Arch) -> tuple[dict[str, float], tuple[ConstraintValue, ...]]:
    """Predicted metrics and bound values of ``arch``, with exact arithmetic."""
    arch = problem.table.space.check_arch(arch)
    predicted = predict(problem.table, arch, problem.predictor)
    cons = []
    for metric, sense, bound in problem.bound_list():
        value = predicted[metric]
        cons.append(ConstraintValue.of(metric, sense, value, bound))
    return predicted, tuple(cons)


def is_within_tolerance(cons: tuple[ConstraintValue, ...]) -> bool:
    """True when every slack is <= FEASIBILITY_TOL relative to the bound's scale."""
    return all(c.slack <= FEASIBILITY_TOL * max(1.0, abs(c.limit)) for c in cons)


# optimise(metric, sense, bounds) -> best value of metric (min for "<=", max for ">=")
# over the networks that satisfy ``bounds`` (and the table's depth rules); None if none does.
Optimizer = Callable[[str, str, list[tuple[str, str, float]]], float | None]


def diagnose(problem: MathNASProblem, optimise: Optimizer) -> tuple[Infeasibility, ...]:
    """For each bound: the best value achievable under the other bounds, when it misses.

    Falls back to the best value with no other bound when the others already conflict.
    """
    bounds = problem.bound_list()
    found = []
    for k, (metric, sense, bound) in enumerate(bounds):
        others = bounds[:k] + bounds[k + 1:]
        best = optimise(metric, sense, others)
        if best is None:
            best = optimise(metric, sense, [])
        if best is None:
            continue
        shortfall = best - bound if sense == "<=" else bound - best
        if shortfall > FEASIBILITY_TOL * max(1.0, abs(bound)):
            unit = problem.table.metric(metric).unit
            found.append(Infeasibility(metric, sense, bound, best, shortfall, unit))
    return tuple(found)


def build_result(problem: MathNASProblem, arch: Arch | None, *, solver: str, status: str,
                 message: str = "", gap: float | None = None, time_s: float = 0.0,
                 iterations: int = 1, optimise: Optimizer | None = None) -> SolveResult:
    """Assemble a :class:`SolveResult`, re-checking ``arch`` independently of the solver.

    A solver answer that violates a bound beyond the tolerance is reported as ``"failed"``;
    an infeasible problem gets its :func:`diagnose` records when ``optimise`` is given.
    """
    if arch is None:
        infeasible = diagnose(problem, optimise) if (status == "infeasible" and optimise) else ()
        return SolveResult(status, None, None, {}, (), solver, problem.predictor, message, gap,
                           time_s, iterations, infeasible)
    predicted, cons = evaluate_arch(problem, arch)
    if not problem.table.is_valid_depth(arch) or not is_within_tolerance(cons):
        bad = ", ".join(c.name for c in cons if c.slack > 0) or "depth rule"
        status, message = "failed", f"solver answer violates {bad} on re-check ({message})"
    names = tuple(problem.table.options[i][j] for i, j in enumerate(arch))
    return SolveResult(status, arch, names, predicted, cons, solver, problem.predictor, message,
                       gap, time_s, iterations)
