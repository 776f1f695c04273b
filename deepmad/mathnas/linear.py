"""The multiple-choice 0-1 program behind every MathNAS solver (no torch).

MathNAS (arXiv 2311.04943), Eq. 6 and Eq. 9: one binary x_{i,j} per (node, option),

* one-hot rows ``sum_j x_{i,j} = 1`` for every node;
* budget rows ``lower - base <= sum delta_{i,j} x_{i,j} <= upper - base`` per metric;
* variable depth (Eq. 9): along a depth group, absence is monotone,
  ``x_{a,skip_a} <= x_{b,skip_b}`` for consecutive nodes a -> b. With per-node absence values
  this is equivalent to the paper's end-marker form ``sum_{k<=i} x_{k,0} + sum_{j>=1} x_{i,j} = 1``.

The program is solved with HiGHS through :func:`scipy.optimize.milp`, with ``mip_rel_gap = 0``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, OptimizeResult, milp

from deepmad.mathnas.space import Arch
from deepmad.mathnas.tables import BlockTable

__all__ = ["LinearForm", "MilpOutcome", "solve_binary"]

_STATUS = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "failed", 4: "failed"}


@dataclass(frozen=True)
class MilpOutcome:
    """One HiGHS call: mapped status, the binary vector (or None) and HiGHS's own record."""

    status: str
    x: np.ndarray | None
    result: OptimizeResult
    time_s: float


class LinearForm:
    """Flattened variables and the structural rows of a table; budget rows on demand."""

    def __init__(self, table: BlockTable) -> None:
        self.table = table
        self.sizes = table.sizes
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.n = int(self.offsets[-1])
        one_hot = np.zeros((len(self.sizes), self.n))
        for i in range(len(self.sizes)):
            one_hot[i, self.offsets[i]:self.offsets[i + 1]] = 1.0
        self.one_hot = LinearConstraint(one_hot, 1.0, 1.0)
        self.depth = self._depth_rows()

    def index(self, node: int, option: int) -> int:
        """Flat index of x_{node, option}."""
        return int(self.offsets[node]) + option

    def vector(self, metric: str) -> tuple[float, np.ndarray]:
        """(base, flat delta) of ``metric``: value(x) = base + delta @ x."""
        m = self.table.metric(metric)
        return m.base, np.concatenate([np.asarray(r, dtype=float) for r in m.delta])

    def _depth_rows(self) -> LinearConstraint | None:
        t = self.table
        rows = []
        for group in t.depth_groups:
            for a, b in zip(group, group[1:]):
                row = np.zeros(self.n)
                row[self.index(a, t.skip_options[a])] = 1.0  # type: ignore[index]
                row[self.index(b, t.skip_options[b])] = -1.0  # type: ignore[index]
                rows.append(row)
        return LinearConstraint(np.array(rows), -np.inf, 0.0) if rows else None

    def budget_rows(self, bounds: list[tuple[str, str, float]]) -> LinearConstraint | None:
        """Rows ``lb <= delta @ x <= ub`` for (metric, sense, value) bounds, scaled to unit size."""
        if not bounds:
            return None
        rows, lbs, ubs = [], [], []
        for metric, sense, value in bounds:
            base, delta = self.vector(metric)
            scale = max(float(np.abs(delta).max()), 1e-12)
            rows.append(delta / scale)
            rhs = (value - base) / scale
            lbs.append(rhs if sense == ">=" else -np.inf)
            ubs.append(rhs if sense == "<=" else np.inf)
        return LinearConstraint(np.array(rows), np.array(lbs), np.array(ubs))

    def constraints(self, bounds: list[tuple[str, str, float]]) -> list[LinearConstraint]:
        """One-hot, depth and budget rows."""
        extra = [c for c in (self.depth, self.budget_rows(bounds)) if c is not None]
        return [self.one_hot, *extra]

    def choice(self, x: np.ndarray) -> Arch:
        """The option picked at every node (arg-max of each one-hot segment)."""
        return tuple(int(np.argmax(x[self.offsets[i]:self.offsets[i + 1]])) for i in range(len(self.sizes)))

    def one_hot_of(self, arch: Arch) -> np.ndarray:
        """The binary vector of ``arch``."""
        x = np.zeros(self.n)
        for i, j in enumerate(arch):
            x[self.index(i, j)] = 1.0
        return x


_LIBC: list[ctypes.CDLL] = []


def _flush_c_stdout() -> None:
    with contextlib.suppress(OSError, AttributeError, TypeError):
        if not _LIBC:
            _LIBC.append(ctypes.CDLL(None))
        _LIBC[0].fflush(None)


@contextlib.contextmanager
def _silenced_fd1() -> Iterator[None]:
    """Send C-level stdout to /dev/null: the HiGHS build in SciPy 1.17 sometimes prints a debug
    line (``HighsMipSolverData::transformNewIntegerFeasibleSolution``) during a MIP solve,
    which would corrupt JSON written to stdout."""
    sys.stdout.flush()
    _flush_c_stdout()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        _flush_c_stdout()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def solve_binary(c: np.ndarray, constraints: list[LinearConstraint], *,
                 integrality: np.ndarray | None = None, bounds: Bounds | None = None,
                 time_limit: float | None = None) -> MilpOutcome:
    """Minimise ``c @ x`` over binaries (by default) with HiGHS; exact (``mip_rel_gap = 0``)."""
    options: dict[str, float] = {"mip_rel_gap": 0.0}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    start = time.perf_counter()
    with _silenced_fd1():
        res = milp(c, integrality=np.ones_like(c) if integrality is None else integrality,
                   bounds=Bounds(0.0, 1.0) if bounds is None else bounds,
                   constraints=constraints, options=options)
    elapsed = time.perf_counter() - start
    status = _STATUS.get(int(res.status), "failed")
    x = None if res.x is None else np.asarray(res.x)
    return MilpOutcome(status, x, res, elapsed)
