"""A MILP bound of a box whose depths are fixed: widths and kernels as binaries (HiGHS).

Why: a Lagrangian bound is the maximum over the *convex hull* of a box's designs. Near the
budget frontier two widths one step apart (one over the MACs budget, one under the rho limit)
mix into a "feasible" point that is ~1 % better than any real design, and branching must split
every width down to single values before the bound drops. Here the width and kernel choices
stay discrete, so no such mixing happens.

Model (one resolution; depths ``L_j`` fixed, so the layer counts ``D_s`` and the penalty ``Q(L)``
are constants):

* binaries ``y[u, i]`` (unit u takes its i-th allowed width ``W[u, i]``), ``x[j, k]`` (stage j
  takes kernel k); ``c_u = sum_i W[u, i] y[u, i]``;
* a continuous bottleneck ``b_j`` in ``[sum_i lo(W[u, i]) y[u, i], sum_i hi(W[u, i]) y[u, i]]``
  (the grid relaxed to an interval);
* costs: the stage polynomials ``sum_p b^p (a0 + a1 c_in + a2 c + a3 c_in c)``
  (:func:`deepmad.solvers._costpoly.cost_coefficients`) with the products ``b c_u``, ``b x[j, k]``
  and ``c_in c`` written exactly by McCormick rows (one factor is binary); the bottleneck square
  of a K1KXK1 block's k x k conv ``b -> b`` (``b^2 k^2`` params, ``b^2 k^2 r_o^2`` MACs and the
  latency model's terms: ``sum_k a_k b^2 x[j, k]`` with ``a_k >= 0``) through ``q_k <= b^2 x[j, k]
  = (b x[j, k])^2``, bounded by the perspective tangents ``q_k >= 2 t (b x[j, k]) - t^2 x[j, k]``
  (valid for every ``t``: the gap is ``(b - t)^2 x[j, k] >= 0``); the SE term
  ``L se(b) (beta b + gamma)`` is bounded below through ``se(b) >= max(8, b/4 - 7.5)`` and
  tangents of the convex ``b (b/4 - 7.5)``; the TinyNAS average-pool term (>= 0) is dropped;
* objective ``sum_s alpha_s (ln C_s + ln r_s^2) S_s - Q(L)`` (DeepMAD Eq. 7): ``S_s`` is linear
  in the binaries and in ``l_j <= ln b_j`` (tangent cuts: an over-estimate of ``ln b``), and the
  product with ``ln C_s`` is exact (McCormick on binaries: ``v[s, i] <= S_s - S_lo (1 - y[e_s, i])``,
  ``v[s, i] <= S_hi y[e_s, i]`` with ``[S_lo, S_hi]`` the range of ``S_s`` over the box);
* ``rho_s <= r0`` as ``LW_s >= D_s ln(D_s / r0)`` with the same ``l_j``;
* rows implied at every integer point, for the LP relaxation (fractional binaries mix widths, and
  the exact products alone let ``b c`` cost ~``b_lo c``): ``sum_k b x[j, k] = b``,
  ``sum_k q_k >= b^2`` by tangents, and McCormick's envelopes of ``b c_in``, ``b c`` and
  ``c_in c`` over the box's ranges (:meth:`MilpModel.envelope`). On deepmad_r18 with a latency
  budget they turn 0.3 s time-outs (LP bound ~25 % above the Lagrangian one) into infeasibility
  proofs in ~0.06 s.

Every step relaxes (costs under-estimated, ``ln b`` over-estimated, budgets loosened by one
unit for rounding), so HiGHS's proven dual bound is a valid upper bound of the box. Only upper
budgets on costs are modelled (a lower bound would need the opposite estimates): with a
lower cost budget, a negative ``b^2`` coefficient, ``b^2`` or ``b c_in c`` times a width, a
kernel-dependent width term or a projection that depends on ``c_in == c``,
:func:`depth_leaf_bound` returns None and the caller keeps branching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepmad.solvers import terms
from deepmad.solvers._bound import Box, Context
from deepmad.solvers._costpoly import cost_coefficients, final_costs, has_indicator, stem_costs
from deepmad.solvers._milpmodel import MilpModel
from deepmad.solvers.terms import LAYERS
from deepmad.spec.blocks import BlockKind

__all__ = ["DepthLeafBound", "depth_leaf_bound"]

_SE_FLOOR, _SE_SHIFT = 8.0, 7.5  # se(b) = max(1, round(b/4) // 8) * 8 >= max(8, b/4 - 7.5)


@dataclass(frozen=True)
class DepthLeafBound:
    """HiGHS's answer: its status, a proven upper bound, and the widths and kernels it chose."""

    status: str  # "optimal", "infeasible" or "limit" (time limit: bound still valid, maybe loose)
    bound: float  # +inf when HiGHS proved nothing
    widths: tuple[int, ...] | None  # per unit (stem, stages, final)
    kernels: tuple[int, ...] | None


def _add(acc: dict[int, float], terms: dict[int, float], scale: float = 1.0) -> None:
    for k, c in terms.items():
        acc[k] = acc.get(k, 0.0) + scale * c


class _Decline(Exception):
    """The box has a feature the model does not represent (the caller keeps branching)."""


class _Infeasible(Exception):
    """The box provably holds no feasible design."""


def depth_leaf_bound(ctx: Context, box: Box, penalty: float, time_limit: float = 1.0,
                     rel_gap: float = 1e-4) -> DepthLeafBound | None:
    """Upper bound of the objective over ``box`` (fixed depths) by the MILP of the module docstring.

    Args:
        ctx: the problem at one resolution.
        box: a box whose depth intervals are single values.
        penalty: the depth penalty ``Q(L)`` of the box's depths.
        time_limit: HiGHS's limit in seconds.
        rel_gap: HiGHS's relative gap (the bound is its proven dual bound either way).

    Returns None where the model does not apply (see the module docstring).
    """
    if any(a != b for a, b in box.depth) or any(r.sense < 0 and np.any(r.weights[:LAYERS]) for r in ctx.rows):
        return None
    try:
        leaf = _DepthLeaf(ctx, box)
    except _Decline:
        return None
    except _Infeasible:
        return DepthLeafBound("infeasible", -math.inf, None, None)
    return leaf.solve(penalty, time_limit, rel_gap)


class _DepthLeaf:
    """The MILP of one box: built on construction (may raise :class:`_Decline` / :class:`_Infeasible`)."""

    def __init__(self, ctx: Context, box: Box) -> None:
        self.ctx, self.box, self.m = ctx, box, MilpModel()
        self.depth = [a for a, _ in box.depth]
        self.widths = [np.asarray(w, float) for w in box.widths]
        m = self.m
        self.y = [[m.var(0, 1, integer=True) for _ in w] for w in self.widths]
        for yu in self.y:
            m.row({v: 1.0 for v in yu}, 1.0, 1.0)
        self.cexpr = [dict(zip(yu, w)) for yu, w in zip(self.y, self.widths)]
        self.lnexpr = [dict(zip(yu, np.log(w))) for yu, w in zip(self.y, self.widths)]
        self.cmin = [float(w.min()) for w in self.widths]
        self.cmax = [float(w.max()) for w in self.widths]
        if ctx.space.nondecreasing:
            for u in range(ctx.J):
                t = dict(self.cexpr[u + 1])
                _add(t, self.cexpr[u], -1.0)
                m.row(t, lo=0.0)
        # per base quantity (terms.COST_NAMES): a linear expression and a constant
        self.cost: list[dict[int, float]] = [dict() for _ in range(LAYERS)]
        self.const = np.zeros(LAYERS)
        for i, w in enumerate(self.widths[0]):
            for q, v in enumerate(stem_costs(ctx, w)):
                _add(self.cost[q], {self.y[0][i]: float(v)})
        # per unit: entropy parts X and Y as linear expressions (terms.unit_entropy / log_width)
        self.parts: list[tuple[dict[int, float], dict[int, float]]] = [({}, {})]
        self.layers = [1]
        self.xs: list[list[int]] = []  # kernel binaries per stage
        for j in range(ctx.J):
            self._stage(j)
        if ctx.final:
            self._final()
        self._budgets()
        self._objective()

    def _stage(self, j: int) -> None:
        """Stage j: its bottleneck and kernel choices, costs and entropy parts."""
        ctx, m, box = self.ctx, self.m, self.box
        rng = ctx.space.stages[j]
        d, u = self.depth[j], j + 1
        ks = list(box.kernels[j])
        if has_indicator(ctx, j) and np.intersect1d(self.widths[u - 1], self.widths[u]).size:
            raise _Decline
        coef = cost_coefficients(ctx, j, np.array([[float(d)]]), np.array([ks], float).T, rng.kind.se)[..., 0]
        # coef: (quantities, 3 powers of b, 4 monomials, K)
        tiny = 1e-9 * max(1.0, float(np.abs(coef).max()))
        varies = np.ptp(coef, axis=-1) > tiny
        if (np.any(np.abs(coef[:, 2, 1:]) > tiny) or np.any(coef[:, 2, 0] < -tiny)
                or np.any(np.abs(coef[:, 1, 3]) > tiny) or np.any(varies[:, :, 1:])):
            raise _Decline
        b, b_lo, b_hi = self._bottleneck(j)
        x = [m.var(0, 1, integer=True) for _ in ks]
        m.row({v: 1.0 for v in x}, 1.0, 1.0)
        self.xs.append(x)
        self.dp_stage_costs(j, coef, b, b_lo, b_hi, x)
        if rng.kind.se:
            self._se_costs(rng.kind, d, b, b_lo, b_hi)
        # l <= ln b: tangents on a geometric grid
        lb_var = m.var(math.log(max(b_lo, 1.0)), math.log(max(b_hi, 1.0)))  # l = ln b is feasible
        for t in np.geomspace(max(b_lo, 1.0), max(b_hi, 1.0), 48):
            m.row({lb_var: 1.0, b: -1.0 / t}, hi=math.log(t) - 1.0)
        lt = terms.stage_log_terms(rng.kind, d)
        px: dict[int, float] = {}
        _add(px, self.lnexpr[u - 1], lt.cin)
        _add(px, self.lnexpr[u], lt.c)
        _add(px, {lb_var: lt.b})
        self.parts.append((px, {xv: lt.k * math.log(k) for xv, k in zip(x, ks)}))
        self.layers.append(rng.kind.layers_per_block * d)

    def _bottleneck(self, j: int) -> tuple[int, float, float]:
        """The continuous bottleneck of stage j, within its width's grid interval (and extras)."""
        ctx, m, u = self.ctx, self.m, j + 1
        lo, hi, cap, _, extras = ctx.b_range(j, self.widths[u], self.box)
        for e in extras:
            ok = e <= cap
            lo, hi = np.where(ok, np.minimum(lo, e), lo), np.where(ok, np.maximum(hi, e), hi)
        for i in np.nonzero(lo > hi)[0]:
            m.ub[self.y[u][i]] = 0.0
        good = lo <= hi
        if not good.any():
            raise _Infeasible
        b_lo, b_hi = float(lo[good].min()), float(hi[good].max())
        b = m.var(b_lo, b_hi)
        yu = self.y[u]
        m.row({b: 1.0, **{yu[i]: -float(lo[i]) for i in range(len(lo)) if good[i]}}, lo=0.0)
        m.row({b: 1.0, **{yu[i]: -float(hi[i]) for i in range(len(hi)) if good[i]}}, hi=0.0)
        return b, b_lo, b_hi

    def dp_stage_costs(self, j: int, coef: np.ndarray, b: int, b_lo: float, b_hi: float, x: list[int]) -> None:
        """The stage polynomials with ``b c_u``, ``b x_k`` and ``c_in c`` as exact McCormick products
        and ``b^2 x_k`` (its coefficient >= 0) under-estimated by :meth:`MilpModel.square`."""
        m, u = self.m, j + 1
        bx = [m.product({b: 1.0}, b_lo, b_hi, xv) for xv in x] if len(x) > 1 else [b]
        xk = x if len(x) > 1 else [None]
        b_cin = {m.product({b: 1.0}, b_lo, b_hi, yv): w for yv, w in zip(self.y[u - 1], self.widths[u - 1])}
        b_c = {m.product({b: 1.0}, b_lo, b_hi, yv): w for yv, w in zip(self.y[u], self.widths[u])}
        a2 = np.maximum(coef[:, 2, 0], 0.0)  # (quantities, K); negative only by rounding (_stage)
        sq = [m.square(bv, xv, b_lo, b_hi) for xv, bv in zip(xk, bx)] if np.any(a2 > 1e-12 * coef.max()) else []
        cin_c = {}
        if np.any(coef[:, 0, 3]):
            cin_c = {m.product(self.cexpr[u], self.cmin[u], self.cmax[u], yv): w
                     for yv, w in zip(self.y[u - 1], self.widths[u - 1])}
            m.envelope(cin_c, self.cexpr[u - 1], self.cmin[u - 1], self.cmax[u - 1], self.cexpr[u],
                       self.cmin[u], self.cmax[u])
        self._aggregate(j, b, b_lo, b_hi, bx, b_cin, b_c, sq)
        for q in range(LAYERS):
            a, cost = coef[q], self.cost[q]
            for kk, (xv, bv) in enumerate(zip(xk, bx)):
                if xv is None:
                    self.const[q] += a[0, 0, kk]
                else:
                    _add(cost, {xv: a[0, 0, kk]})
                _add(cost, {bv: a[1, 0, kk]})
                if sq:
                    _add(cost, {sq[kk]: a2[q, kk]})
            _add(cost, self.cexpr[u - 1], a[0, 1, 0])
            _add(cost, self.cexpr[u], a[0, 2, 0])
            _add(cost, cin_c, a[0, 3, 0])
            _add(cost, b_cin, a[1, 1, 0])
            _add(cost, b_c, a[1, 2, 0])

    def _aggregate(self, j: int, b: int, b_lo: float, b_hi: float, bx: list[int], b_cin: dict[int, float],
                   b_c: dict[int, float], sq: list[int]) -> None:
        """Rows implied at every integer point that tighten the LP relaxation (where the binaries
        mix): ``sum_k b x_k = b``, ``sum_k q_k >= b^2`` by tangents, and McCormick's envelopes of
        ``b c_in`` and ``b c`` over the box's ranges of ``b`` and the widths."""
        m, u = self.m, j + 1
        if len(bx) > 1:
            m.row({**{v: 1.0 for v in bx}, b: -1.0}, 0.0, 0.0)
            if sq:
                m.tangents({v: 1.0 for v in sq}, b, None, b_lo, b_hi)
        for p, uu in ((b_cin, u - 1), (b_c, u)):
            m.envelope(p, {b: 1.0}, b_lo, b_hi, self.cexpr[uu], self.cmin[uu], self.cmax[uu])

    def _se_costs(self, kind: BlockKind, d: int, b: int, b_lo: float, b_hi: float) -> None:
        """``L se(b) (beta b + gamma) >= L (beta tau + gamma sigma)``, ``sigma <= se(b)``, ``tau <= b se(b)``."""
        m = self.m
        sig = m.var(_SE_FLOOR)
        m.row({sig: 1.0, b: -0.25}, lo=-_SE_SHIFT)
        tau = m.var(0.0)
        m.row({tau: 1.0, b: -_SE_FLOOR}, lo=0.0)
        for t in np.geomspace(max(b_lo, 4 * _SE_SHIFT), max(b_hi, 4 * _SE_SHIFT + 1), 64):
            # tangent of b^2/4 - 7.5 b at t: (t/2 - 7.5) b - t^2/4
            m.row({tau: 1.0, b: -(t / 2 - _SE_SHIFT)}, lo=-t * t / 4)
        for q, (beta, gamma) in enumerate(terms.se_cost_terms(kind, self.ctx.lat)):
            _add(self.cost[q], {tau: d * beta, sig: d * gamma})

    def _final(self) -> None:
        """The final 1x1 conv: costs linear in c_in per final width, entropy parts of c_in."""
        ctx, m, J = self.ctx, self.m, self.ctx.J
        u = J + 1
        for i, w in enumerate(self.widths[u]):
            fc = final_costs(ctx, 1.0, w)  # linear in c_in: cost(c_in) = fixed part + c_in * slope
            f0 = final_costs(ctx, 0.0, w)
            for q in range(LAYERS):
                _add(self.cost[q], {self.y[u][i]: float(f0[q])})
                slope = float(fc[q] - f0[q])
                if slope:
                    if len(self.widths[u]) == 1:
                        _add(self.cost[q], self.cexpr[J], slope)
                    else:
                        _add(self.cost[q], {m.product(self.cexpr[J], self.cmin[J], self.cmax[J], self.y[u][i]): slope})
        self.parts.append((dict(self.lnexpr[J]), {}))  # terms.final_parts: X = ln c_in, Y = 0
        self.layers.append(1)

    def _budgets(self) -> None:
        """Budget rows, normalised by their limits; +1 unit for the rounding of integer costs."""
        ctx, last = self.ctx, len(self.widths) - 1
        for r in ctx.rows:
            row: dict[int, float] = {}
            for q in range(LAYERS):
                _add(row, self.cost[q], r.weights[q])
            _add(row, self.cexpr[last], (r.head_params + r.head_macs) * ctx.nc)
            fixed = float(r.weights[:LAYERS] @ self.const) + r.const + r.weights[LAYERS] * float(sum(self.layers))
            scale = max(r.limit, 1.0)
            row = {k: v / scale for k, v in row.items()}
            if r.sense > 0:
                self.m.row(row, hi=(r.limit + terms.rounding_slack(r.name, r.limit, 1.0) - fixed) / scale)
            elif fixed < r.limit - 1.0:  # a lower bound on layers only (checked above): constant
                raise _Infeasible

    def _objective(self) -> None:
        """``sum_s alpha_s (ln C_s + ls2_s) S_s`` (the product exact on the binaries) and rho rows."""
        ctx, m = self.ctx, self.m
        f, a1, a2 = ctx.f, ctx.a1, ctx.a2
        lw_prefix: dict[int, float] = {}
        s_prefix: dict[int, float] = {}
        acc_const_t, acc_const_w, acc_d = ctx.T0, ctx.LW0, 0
        nxt = 0
        for s, end in enumerate(ctx.ends):
            while nxt <= end:
                px, py = self.parts[nxt]
                _add(s_prefix, px, f * a1)  # terms.unit_entropy: f (a1 X + a2 Y)
                _add(s_prefix, py, f * a2)
                _add(lw_prefix, px)  # terms.log_width: X + Y
                _add(lw_prefix, py)
                acc_d += self.layers[nxt]
                nxt += 1
            if ctx.rho0 is not None:
                need = acc_d * (math.log(acc_d) - math.log(ctx.rho0))
                m.row(dict(lw_prefix), lo=need - acc_const_w - 1e-9 * max(1.0, abs(need)))
            alpha = float(ctx.alpha[s])
            if alpha == 0.0:
                continue
            s_lo, s_hi = (acc_const_t + e for e in self._extremes(s_prefix))
            s_var = m.var(s_lo, s_hi)
            m.row({s_var: 1.0, **{k: -v for k, v in s_prefix.items()}}, lo=acc_const_t, hi=acc_const_t)
            for yv, w in zip(self.y[end], self.widths[end]):
                wt = alpha * (math.log(w) + float(ctx.ls2[s]))
                if wt < 0:
                    raise _Decline
                if len(self.widths[end]) == 1:
                    m.obj[s_var] -= wt
                    continue
                v = m.var(obj=-wt)  # v = S y (McCormick, S in [s_lo, s_hi]; s_lo > 0 in practice)
                lo_ = max(s_lo, 0.0)
                m.row({v: 1.0, s_var: -1.0, yv: -lo_}, hi=-lo_)  # v <= S - s_lo (1 - y)
                m.row({v: 1.0, yv: -max(s_hi, 0.0)}, hi=0.0)  # v <= s_hi y

    def _extremes(self, expr: dict[int, float]) -> tuple[float, float]:
        """Least and largest value of a linear expression over the column bounds, with each
        unit's width binaries and each stage's kernel binaries summing to one."""
        rest, low, high = dict(expr), 0.0, 0.0
        for group in (*self.y, *self.xs):
            coefs = [rest.pop(v, 0.0) for v in group]
            low, high = low + min(coefs), high + max(coefs)
        for v, c in rest.items():
            low += c * (self.m.lb[v] if c > 0 else self.m.ub[v])
            high += c * (self.m.ub[v] if c > 0 else self.m.lb[v])
        return low, high

    def solve(self, penalty: float, time_limit: float, rel_gap: float) -> DepthLeafBound:
        """HiGHS's proven bound minus the penalty, and the widths and kernels it chose."""
        res = self.m.solve(time_limit, rel_gap)
        if res.status == 2:
            return DepthLeafBound("infeasible", -math.inf, None, None)
        dual = getattr(res, "mip_dual_bound", None)
        if dual is None or not np.isfinite(dual):
            return DepthLeafBound("limit", math.inf, None, None)
        bound = -float(dual) - penalty
        bound += 1e-7 * max(1.0, abs(bound))  # HiGHS's feasibility tolerances
        chosen_w = chosen_k = None
        if res.x is not None:
            chosen_w = tuple(int(self.widths[u][int(np.argmax(res.x[yu]))]) for u, yu in enumerate(self.y))
            chosen_k = tuple(int(self.box.kernels[j][int(np.argmax(res.x[x]))]) for j, x in enumerate(self.xs))
        status = "optimal" if res.status == 0 else "limit"
        return DepthLeafBound(status, bound, chosen_w, chosen_k)
