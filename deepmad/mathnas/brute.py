"""Brute-force reference solver: evaluate every network of the space (no torch).

MathNAS (arXiv 2311.04943), App. B.6 / reference notes: the MobileNetV3 (5^5 = 3,125) and
NAS-Bench-201 (5^6 = 15,625) spaces are small enough to enumerate, which makes brute force
the ground truth for the MILP and fractional solvers. Metrics are computed for all networks at
once by broadcasting per-node vectors over the grid of shape (n_1, ..., n_m); ties go to the
first network in lexicographic order.
"""

from __future__ import annotations

import time

import numpy as np

from deepmad.errors import DeepmadError
from deepmad.mathnas.problem import MathNASProblem, Optimizer, SolveResult, build_result
from deepmad.mathnas.tables import BlockTable

__all__ = ["BRUTE_FORCE_LIMIT", "Enumeration", "solve_brute"]

BRUTE_FORCE_LIMIT = 2_000_000


class Enumeration:
    """Every metric of every network of a table, as flat arrays (lexicographic order)."""

    def __init__(self, table: BlockTable, limit: int = BRUTE_FORCE_LIMIT) -> None:
        size = int(np.prod(table.sizes, dtype=np.float64))
        if size > limit:
            raise DeepmadError(f"table {table.name!r} has {size} networks; brute force is limited to {limit} (use the milp solver)")
        self.table = table
        self.shape = table.sizes
        self.values = {name: self._grid(m.base, m.delta) for name, m in table.metrics.items()}
        self.valid = self._depth_mask()

    def _broadcast(self, i: int, row: np.ndarray) -> np.ndarray:
        shape = [1] * len(self.shape)
        shape[i] = len(row)
        return row.reshape(shape)

    def _grid(self, base: float, delta: tuple[tuple[float, ...], ...]) -> np.ndarray:
        total = np.full(self.shape, base, dtype=np.float64)
        for i, row in enumerate(delta):
            total += self._broadcast(i, np.asarray(row, dtype=np.float64))
        return total.reshape(-1)

    def _depth_mask(self) -> np.ndarray:
        valid = np.ones(self.shape, dtype=bool)
        t = self.table
        for group in t.depth_groups:
            for a, b in zip(group, group[1:]):
                absent_a = self._broadcast(a, np.arange(self.shape[a]) == t.skip_options[a])
                present_b = self._broadcast(b, np.arange(self.shape[b]) != t.skip_options[b])
                valid &= ~(absent_a & present_b)
        return valid.reshape(-1)

    def accuracy(self, predictor: str) -> np.ndarray:
        """Predicted accuracy of every network (Eq. 5 additive or Eq. 6 FLOPs-scaled)."""
        acc = self.values["accuracy"]
        if predictor == "additive":
            return acc
        base = self.table.metric("accuracy").base
        return base - self.table.flops_mean() * (base - acc) / self.values["flops"]

    def mask(self, bounds: list[tuple[str, str, float]]) -> np.ndarray:
        """Networks that satisfy the depth rules and every (metric, sense, value) bound."""
        keep = self.valid.copy()
        for metric, sense, value in bounds:
            v = self.values[metric]
            keep &= (v <= value) if sense == "<=" else (v >= value)
        return keep

    def arch(self, flat: int) -> tuple[int, ...]:
        """Option indices of the network at flat position ``flat``."""
        return tuple(int(j) for j in np.unravel_index(flat, self.shape))

    def optimiser(self) -> Optimizer:
        """Best value of one metric under some bounds, by enumeration."""

        def optimise(metric: str, sense: str, bounds: list[tuple[str, str, float]]) -> float | None:
            keep = self.mask(bounds)
            if not keep.any():
                return None
            v = self.values[metric][keep]
            return float(v.min() if sense == "<=" else v.max())

        return optimise


def solve_brute(problem: MathNASProblem, *, limit: int = BRUTE_FORCE_LIMIT) -> SolveResult:
    """Evaluate every network and return the most accurate one within the budgets.

    Args:
        problem: Table, predictor and budgets.
        limit: Refuse spaces with more networks than this.
    """
    start = time.perf_counter()
    enum = Enumeration(problem.table, limit)
    keep = enum.mask(problem.bound_list())
    if not keep.any():
        return build_result(problem, None, solver="brute", status="infeasible",
                            message="no network satisfies the budgets", gap=0.0,
                            time_s=time.perf_counter() - start, optimise=enum.optimiser())
    acc = np.where(keep, enum.accuracy(problem.predictor), -np.inf)
    arch = enum.arch(int(np.argmax(acc)))
    elapsed = time.perf_counter() - start
    return build_result(problem, arch, solver="brute", status="optimal",
                        message=f"enumerated {keep.size} networks ({int(keep.sum())} within the budgets)",
                        gap=0.0, time_s=elapsed, iterations=1)
