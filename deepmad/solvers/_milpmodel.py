"""A sparse MILP builder for the exact solver's bounds (:mod:`deepmad.solvers._depthleaf`), solved
by HiGHS: columns with bounds, objective and integrality, rows with ranges, exact McCormick
products with a binary, tangent under-estimates of a square and McCormick's under-estimators of
a product of two bounded linear expressions.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import LinearConstraint
from scipy.sparse import coo_array

from deepmad.solvers._highs import quiet_milp

__all__ = ["MilpModel", "SQUARE_ROWS"]

SQUARE_ROWS = 96  # most tangents of one square's under-estimate (MilpModel.square)


class MilpModel:
    """Sparse MILP builder: columns with bounds, objective and integrality; rows with ranges."""

    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.obj: list[float] = []
        self.integer: list[int] = []
        self.entries: list[tuple[int, int, float]] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def var(self, lb: float = -np.inf, ub: float = np.inf, obj: float = 0.0, integer: bool = False) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.obj.append(obj)
        self.integer.append(int(integer))
        return len(self.lb) - 1

    def row(self, terms: dict[int, float], lo: float = -np.inf, hi: float = np.inf) -> None:
        r = len(self.lo)
        self.entries.extend((r, v, c) for v, c in terms.items() if c != 0.0)
        self.lo.append(lo)
        self.hi.append(hi)

    def product(self, a: dict[int, float], a_lo: float, a_hi: float, y: int) -> int:
        """A column equal to ``(linear expression a) * y`` for a binary y (McCormick, exact)."""
        v = self.var(min(0.0, a_lo), max(0.0, a_hi))
        self.row({v: 1.0, y: -a_hi}, hi=0.0)  # v <= a_hi y
        self.row({v: 1.0, y: -a_lo}, lo=0.0)  # v >= a_lo y
        self.row({v: 1.0, **{k: -c for k, c in a.items()}, y: -a_lo}, hi=-a_lo)  # v <= a - a_lo (1 - y)
        self.row({v: 1.0, **{k: -c for k, c in a.items()}, y: -a_hi}, lo=-a_hi)  # v >= a - a_hi (1 - y)
        return v

    def square(self, v: int, y: int | None, lo: float, hi: float) -> int:
        """A column ``q <= v^2`` for ``v = b y`` (``y`` binary, ``b`` in ``[lo, hi]``; ``y`` None:
        ``v = b``), by the tangents of :meth:`tangents`."""
        q = self.var(0.0)
        self.tangents({q: 1.0}, v, y, lo, hi)
        return q

    def tangents(self, q: dict[int, float], v: int, y: int | None, lo: float, hi: float) -> None:
        """Rows ``q >= 2 t v - t^2 y`` (``y`` None: ``y = 1``) for ``t`` on a geometric grid of
        ``[lo, hi]``: a linear expression ``q`` bounded below by ``(b y)^2`` where ``v = b y``.

        Valid for every ``t``: ``b^2 y - (2 t b - t^2) y = (b - t)^2 y >= 0``. Between grid points
        ``t1 < t2`` the under-estimate is at most ``((t2 - t1) / 2)^2``, i.e. a relative
        ``((r - 1) / (r + 1))^2`` of ``b^2`` for the grid ratio ``r <= 1.03`` (<= 2.2e-4), up to
        :data:`SQUARE_ROWS` tangents (ratio above 1.03 only for ranges wider than ~1:16).
        """
        lo, hi = max(lo, 1.0), max(hi, 1.0)
        n = min(SQUARE_ROWS, 2 + math.ceil(math.log(hi / lo) / math.log(1.03)))
        for t in np.geomspace(lo, hi, n) if hi > lo else (lo,):
            row = dict(q)
            row[v] = row.get(v, 0.0) - 2.0 * t
            if y is None:
                self.row(row, lo=-t * t)
            else:
                self.row({**row, y: t * t}, lo=0.0)

    def envelope(self, p: dict[int, float], a: dict[int, float], a_lo: float, a_hi: float,
                 b: dict[int, float], b_lo: float, b_hi: float) -> None:
        """McCormick's under-estimators of a product ``p = A B`` of two linear expressions with
        ``A`` in ``[a_lo, a_hi]`` and ``B`` in ``[b_lo, b_hi]``: ``p >= a_lo B + b_lo A - a_lo b_lo``
        and ``p >= a_hi B + b_hi A - a_hi b_hi`` (valid: ``(A - a_lo)(B - b_lo) >= 0`` and
        ``(a_hi - A)(b_hi - B) >= 0``). For ``p`` written exactly on binaries these rows hold at
        every integer point; they tighten the LP relaxation, where the binaries are fractional."""
        for ea, eb in ((a_lo, b_lo), (a_hi, b_hi)):
            row = dict(p)
            for k, c in b.items():
                row[k] = row.get(k, 0.0) - ea * c
            for k, c in a.items():
                row[k] = row.get(k, 0.0) - eb * c
            self.row(row, lo=-ea * eb)

    def solve(self, time_limit: float, rel_gap: float):
        """Minimise with ``scipy.optimize.milp`` (HiGHS). Its result carries ``mip_dual_bound``
        only when HiGHS has a feasible point: a run stopped by the time limit before one reports
        no bound (``highspy`` would give it; on deepmad_r18 that made no difference once the LP
        was tightened, so this stays on scipy)."""
        n = len(self.lb)
        rows, cols, vals = zip(*self.entries) if self.entries else ((), (), ())
        a = coo_array((vals, (rows, cols)), shape=(len(self.lo), n)).tocsr()
        return quiet_milp(np.array(self.obj), integrality=np.array(self.integer),
                          bounds=(np.array(self.lb), np.array(self.ub)),
                          constraints=LinearConstraint(a, np.array(self.lo), np.array(self.hi)),
                          options={"time_limit": time_limit, "mip_rel_gap": rel_gap})
