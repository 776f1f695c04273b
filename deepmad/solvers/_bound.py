"""Valid upper bounds of the DeepMAD program over a box, by Lagrangian relaxation + exact DP.

Notation (one resolution): units ``u = 0`` (stem), ``1..J`` (stages), ``J+1`` (final conv);
score stage ``st(u)``; stage entropy sums ``S_s``; ``m_s = ln C_s + ln r_s^2``; objective
``sum_s alpha_s m_s S_s - Q(L)``. For a box (per-stage depth interval, kernel set, bottleneck
interval, width sets) and multipliers ``lam >= 0`` (budgets, normalised by their limits) and
``mu >= 0`` (``rho_s <= r0``, i.e. ``LW_s >= g(D_s) = D_s ln(D_s / r0)``) we bound

* ``m_s S_s <= m_s^hi S_s - (m_s^hi - m_s) S_s^lo`` (``S_s >= S_s^lo >= 0``, ``m_s <= m_s^hi``),
  with ``S_s^lo = f a g(D_s^lo)`` from the rho constraint itself when ``alpha1 = alpha2 = a``;
* ``-mu g(D) <= -mu [g(D0) + g'(D0) (D - D0)]`` (g is convex), linear in the depths;
* ``-Q(L) <= -[Q(P) + grad Q(P) . (L - P)]`` with ``P`` the box's min-std point: Q is convex, so
  its tangent plane is below it everywhere, and at ``P`` the plane is at least
  ``beta exp(min std over the box)`` on the whole box; it is linear in the depths.

What remains is separable along the chain ``c_0 -> c_1 -> ... -> c_J (-> c_f)``, so its exact
maximum over the integer box is a dynamic program over width pairs; inside a pair the kernel
and the two depth endpoints are enumerated (the Lagrangian is convex in L, so the maximum over
a depth interval sits at an endpoint) and the bottleneck is maximised in closed form (concave
``w ln b + quadratic`` on each residue class where the SE width ``se(b)`` is linear in ``b``).
Every returned value is therefore a true upper bound for any multipliers; multipliers only
change how tight it is.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from deepmad.errors import DeepmadError
from deepmad.scores.entropy import population_std
from deepmad.solvers import terms
from deepmad.solvers.problem import DesignProblem

__all__ = ["ConstraintRow", "Context", "Box", "min_std", "min_std_point", "penalty_tangent", "g_rho"]

NEG = -1e300


def g_rho(d: float, r0: float) -> float:
    """g(D) = D ln(D / r0): rho_s <= r0 iff LW_s >= g(D_s)."""
    return d * (math.log(d) - math.log(r0))


@functools.lru_cache(maxsize=65536)
def min_std_point(ranges: tuple[tuple[int, int], ...]) -> tuple[float, ...]:
    """Minimiser over reals of the population std of x_i in [lo_i, hi_i].

    It is ``x = clip(t, lo, hi)`` with ``t = mean(x)``; ``mean(clip(t)) - t`` is nonincreasing in
    t, so bisection finds t.
    """
    if not ranges:
        return ()
    a, b = float(min(r[0] for r in ranges)), float(max(r[1] for r in ranges))
    for _ in range(60):
        t = 0.5 * (a + b)
        if sum(min(max(t, lo), hi) for lo, hi in ranges) / len(ranges) > t:
            a = t
        else:
            b = t
    return tuple(min(max(0.5 * (a + b), lo), hi) for lo, hi in ranges)


def min_std(ranges: tuple[tuple[int, int], ...]) -> float:
    """Minimum of the population std of x_i in [lo_i, hi_i] over reals (a lower bound for integers)."""
    if len(ranges) < 2:
        return 0.0
    return max(0.0, population_std(min_std_point(ranges)) - 1e-9)


def penalty_tangent(point, beta: float) -> tuple[float, np.ndarray]:
    """``Q(P)`` and the gradient of ``Q(L) = beta exp(std L)`` at ``P``.

    Q is convex (exp of a norm of a linear map), so ``Q(L) >= Q(P) + grad . (L - P)`` for every
    real L: subtracting this plane instead of ``Q`` keeps a relaxation an upper bound, and keeps it
    affine in each depth. At the box's min-std point the plane is >= ``beta exp(min std)`` on the
    whole box (first-order optimality), so it is never weaker than the constant bound there.
    """
    x = np.asarray(point, float)
    if len(x) < 2:
        return beta, np.zeros(len(x))
    sd = population_std(x)
    q = beta * math.exp(sd)
    if sd < 1e-12:
        return q, np.zeros(len(x))
    return q, q * (x - x.mean()) / (len(x) * sd)


@dataclass
class Box:
    """A node of the branch-and-bound: ranges per stage and width sets per unit."""

    widths: list[np.ndarray]  # allowed widths per unit (stem, stages, final)
    depth: list[tuple[int, int]]  # per stage
    kernels: list[tuple[int, ...]]  # per stage
    bott: list[tuple[int, int]]  # per stage, absolute bottleneck interval

    def copy(self) -> Box:
        """Shallow copy with fresh lists."""
        return Box(list(self.widths), list(self.depth), list(self.kernels), list(self.bott))

    def is_leaf(self) -> bool:
        """Depths and kernels fixed."""
        return all(a == b for a, b in self.depth) and all(len(k) == 1 for k in self.kernels)


class ConstraintRow(NamedTuple):
    """A budget bound as ``sense * (weights . base + (head_params + head_macs) nc c_f + const) <= sense * limit``.

    ``base`` is (:data:`deepmad.solvers.terms.COST_NAMES`, layers) of the body; ``c_f`` the
    classifier's input width (:func:`deepmad.solvers.terms.quantity_row`).
    """

    name: str  # e.g. "macs[tinynas]<="
    sense: float  # +1 for an upper bound, -1 for a lower bound
    limit: float
    weights: np.ndarray  # over the base quantities
    head_params: float  # per nc c_f
    head_macs: float  # per nc c_f
    const: float

    def value(self, base: np.ndarray, final_width: float, num_classes: int) -> float:
        """The budget quantity at base costs ``base`` and classifier input ``final_width``."""
        return (float(self.weights @ base) + (self.head_params + self.head_macs) * final_width * num_classes
                + self.const)


class Context:
    """Precomputed data of one problem at one resolution."""

    def __init__(self, problem: DesignProblem, resolution: int) -> None:
        self.problem, self.resolution = problem, resolution
        space, cfg = problem.space, problem.objective
        self.space, self.cfg = space, cfg
        self.geo, lay = problem.layout(resolution)
        self.J = len(space.stages)
        self.final = space.final_conv is not None
        self.unit_stage = lay.unit_stage
        self.ends = lay.stage_end
        self.ls2 = np.array(lay.log_side2)
        self.alpha = np.array(lay.weights)
        self.pen_idx = lay.penalty_stages
        self.f, self.a1, self.a2 = cfg.factor, cfg.alpha1, cfg.alpha2
        self.nc = space.num_classes
        x0, y0 = terms.stem_parts(space.in_channels, space.stem_kernel, math.log)
        self.T0 = terms.unit_entropy(x0, y0, self.f, self.a1, self.a2)
        self.LW0 = terms.log_width(x0, y0)
        self.lat = problem.latency_terms  # the latency model's prices (None: latency is 0)
        self.coef_cache: dict = {}  # deepmad.solvers._dp.cost_coefficients per (stage, depths, kernels)
        self._constraints(problem)

    def _constraints(self, problem: DesignProblem) -> None:
        """Constraint rows (:class:`ConstraintRow`) and the rho limit ``rho0``."""
        self.rows: list[ConstraintRow] = []
        self.rho0: float | None = None
        for b in problem.budgets:
            if b.quantity == "rho":
                if b.lower is not None and b.lower > 0:
                    raise DeepmadError("a lower bound on rho is not supported by the exact solver; "
                                       "use --solver evolution")
                if b.upper is not None:
                    self.rho0 = b.upper if self.rho0 is None else min(self.rho0, b.upper)
                continue
            if b.quantity == "resolution":
                continue
            w, hp, hm, hc = terms.quantity_row(b.quantity, b.convention, self.nc, self.lat, self.geo.stage_out[-1])
            for sense, lim in (("<=", b.upper), (">=", b.lower)):
                if lim is None or (sense == ">=" and lim <= 0):
                    continue
                self.rows.append(ConstraintRow(b.name + sense, 1.0 if sense == "<=" else -1.0, float(lim),
                                               w, hp, hm, hc))

    # --- prices ------------------------------------------------------------------------------
    def prices(self, lam: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """Net prices on the base quantities, on head params / MACs per width, and a constant."""
        omega, hp, hm, const = np.zeros(terms.LAYERS + 1), 0.0, 0.0, 0.0
        for li, row in zip(lam, self.rows):
            scale = li * row.sense / max(row.limit, 1.0)
            omega -= scale * row.weights
            hp -= scale * row.head_params
            hm -= scale * row.head_macs
            const += li * row.sense - scale * row.const
        return omega, hp, hm, const

    # --- b maximisation ---------------------------------------------------------------------
    def b_range(self, j: int, c: np.ndarray, box: Box):
        """Bottleneck grid interval per width, the cap for extras, the grid step and the extras."""
        rng = self.space.stages[j].bottleneck
        if rng.ratio:
            lo = np.maximum(rng.step, np.round(rng.lo * c * (1 - 1e-9) / rng.step) * rng.step)
            hi = np.maximum(rng.step, np.round(rng.hi * c * (1 + 1e-9) / rng.step) * rng.step)
        else:
            lo = np.full(c.shape, float(math.ceil(rng.lo)))
            hi = np.full(c.shape, float(math.floor(rng.hi)))
        blo, bhi = box.bott[j]
        cap = np.minimum(c, bhi) if self.space.caps_bottleneck(j) else np.full(c.shape, float(bhi))
        extras = tuple(e for e in rng.extra if e >= blo)
        return np.maximum(lo, blo), np.minimum(hi, cap), cap, rng.step, extras
