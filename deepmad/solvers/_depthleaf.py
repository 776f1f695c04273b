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
  (:func:`deepmad.solvers._dp._cost_coefficients`) with the products ``b c_u``, ``b x[j, k]``
  and ``c_in c`` written exactly by McCormick rows (one factor is binary); the SE term
  ``L se(b) (beta b + gamma)`` is bounded below through ``se(b) >= max(8, b/4 - 7.5)`` and
  tangents of the convex ``b (b/4 - 7.5)``; the TinyNAS average-pool term (>= 0) is dropped;
* objective ``sum_s alpha_s (ln C_s + ln r_s^2) S_s - Q(L)`` (DeepMAD Eq. 7): ``S_s`` is linear
  in the binaries and in ``l_j <= ln b_j`` (tangent cuts: an over-estimate of ``ln b``), and the
  product with ``ln C_s`` is exact (``v[s, i] <= S_s``, ``v[s, i] <= S_max y[e_s, i]``);
* ``rho_s <= r0`` as ``LW_s >= D_s ln(D_s / r0)`` with the same ``l_j``.

Every step relaxes (costs under-estimated, ``ln b`` over-estimated, budgets loosened by one
unit for rounding), so HiGHS's proven dual bound is a valid upper bound of the box. Only upper
budgets on costs are modelled (a lower bound would need the opposite estimates): with a
lower cost budget, a second-order bottleneck term, a kernel-dependent width term or a
projection that depends on ``c_in == c``, :func:`depth_leaf_bound` returns None and the caller
keeps branching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import coo_array

from deepmad.solvers._bound import Box, Context
from deepmad.solvers._dp import (
    SE_COST_TERMS,
    _cost_coefficients,
    _final_costs,
    _has_indicator,
    _stem_costs,
)
from deepmad.solvers.fasteval import KIND_TERMS

__all__ = ["DepthLeafBound", "depth_leaf_bound"]

_SE_FLOOR, _SE_SHIFT = 8.0, 7.5  # se(b) = max(1, round(b/4) // 8) * 8 >= max(8, b/4 - 7.5)


@dataclass(frozen=True)
class DepthLeafBound:
    """HiGHS's answer: its status, a proven upper bound, and the widths and kernels it chose."""

    status: str  # "optimal", "infeasible" or "limit" (time limit: bound still valid, maybe loose)
    bound: float  # +inf when HiGHS proved nothing
    widths: tuple[int, ...] | None  # per unit (stem, stages, final)
    kernels: tuple[int, ...] | None


class _Model:
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

    def solve(self, time_limit: float, rel_gap: float):
        n = len(self.lb)
        rows, cols, vals = zip(*self.entries) if self.entries else ((), (), ())
        a = coo_array((vals, (rows, cols)), shape=(len(self.lo), n)).tocsr()
        return milp(np.array(self.obj), integrality=np.array(self.integer),
                    bounds=(np.array(self.lb), np.array(self.ub)),
                    constraints=LinearConstraint(a, np.array(self.lo), np.array(self.hi)),
                    options={"time_limit": time_limit, "mip_rel_gap": rel_gap})


def _add(acc: dict[int, float], terms: dict[int, float], scale: float = 1.0) -> None:
    for k, c in terms.items():
        acc[k] = acc.get(k, 0.0) + scale * c


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
    if any(a != b for a, b in box.depth) or any(sg < 0 and np.any(w[:4]) for _, sg, _, w, *_ in ctx.rows):
        return None
    J, sp = ctx.J, ctx.space
    depth = [a for a, _ in box.depth]
    m = _Model()
    widths = [np.asarray(w, float) for w in box.widths]
    y = [[m.var(0, 1, integer=True) for _ in w] for w in widths]
    for yu in y:
        m.row({v: 1.0 for v in yu}, 1.0, 1.0)
    cexpr = [dict(zip(yu, w)) for yu, w in zip(y, widths)]
    lnexpr = [dict(zip(yu, np.log(w))) for yu, w in zip(y, widths)]
    cmin = [float(w.min()) for w in widths]
    cmax = [float(w.max()) for w in widths]
    if sp.nondecreasing:
        for u in range(J):
            t = dict(cexpr[u + 1])
            _add(t, cexpr[u], -1.0)
            m.row(t, lo=0.0)

    # costs per base quantity (params, torch MACs, TinyNAS FLOPs, activations): linear expressions
    cost = [dict() for _ in range(4)]
    const = np.zeros(4)
    for i, w in enumerate(widths[0]):
        for q, v in enumerate(_stem_costs(ctx, w)):
            _add(cost[q], {y[0][i]: float(v)})
    terms: list[dict[int, float]] = []  # per unit: entropy term T_u
    logw: list[dict[int, float]] = []  # per unit: sum of log layer widths
    layers = [1]
    s_max = [ctx.T0]
    xs: list[list[int]] = []  # kernel binaries per stage
    for j in range(J):
        rng = sp.stages[j]
        nl, nb, nk, _ = KIND_TERMS[rng.block]
        d, u = depth[j], j + 1
        ks = list(box.kernels[j])
        se = rng.block == "res_k1dwsek1"
        if _has_indicator(ctx, j) and np.intersect1d(widths[u - 1], widths[u]).size:
            return None
        coef = _cost_coefficients(ctx, j, np.array([[float(d)]]), np.array([ks], float).T, se)[..., 0]
        # coef: (4 quantities, 3 powers of b, 4 monomials, K)
        tiny = 1e-9 * max(1.0, float(np.abs(coef).max()))
        varies = np.ptp(coef, axis=-1) > tiny
        if np.any(np.abs(coef[:, 2]) > tiny) or np.any(np.abs(coef[:, 1, 3]) > tiny) or np.any(varies[:, :, 1:]):
            return None
        lo, hi, cap, _, extras = ctx.b_range(j, widths[u], box)
        for e in extras:
            ok = e <= cap
            lo, hi = np.where(ok, np.minimum(lo, e), lo), np.where(ok, np.maximum(hi, e), hi)
        for i in np.nonzero(lo > hi)[0]:
            m.ub[y[u][i]] = 0.0
        good = lo <= hi
        if not good.any():
            return DepthLeafBound("infeasible", -math.inf, None, None)
        b_lo, b_hi = float(lo[good].min()), float(hi[good].max())
        b = m.var(b_lo, b_hi)
        m.row({b: 1.0, **{y[u][i]: -float(lo[i]) for i in range(len(lo)) if good[i]}}, lo=0.0)
        m.row({b: 1.0, **{y[u][i]: -float(hi[i]) for i in range(len(hi)) if good[i]}}, hi=0.0)
        x = [m.var(0, 1, integer=True) for _ in ks]
        m.row({v: 1.0 for v in x}, 1.0, 1.0)
        xs.append(x)
        bx = [m.product({b: 1.0}, b_lo, b_hi, xv) for xv in x] if len(ks) > 1 else [b]
        xk = x if len(ks) > 1 else [None]
        b_cin = {m.product({b: 1.0}, b_lo, b_hi, yv): w for yv, w in zip(y[u - 1], widths[u - 1])}
        b_c = {m.product({b: 1.0}, b_lo, b_hi, yv): w for yv, w in zip(y[u], widths[u])}
        cin_c = {}
        if np.any(coef[:, 0, 3]):
            cin_c = {m.product(cexpr[u], cmin[u], cmax[u], yv): w for yv, w in zip(y[u - 1], widths[u - 1])}
        for q in range(4):
            a = coef[q]
            for kk, (xv, bv) in enumerate(zip(xk, bx)):
                if xv is None:
                    const[q] += a[0, 0, kk]
                else:
                    _add(cost[q], {xv: a[0, 0, kk]})
                _add(cost[q], {bv: a[1, 0, kk]})
            _add(cost[q], cexpr[u - 1], a[0, 1, 0])
            _add(cost[q], cexpr[u], a[0, 2, 0])
            _add(cost[q], cin_c, a[0, 3, 0])
            _add(cost[q], b_cin, a[1, 1, 0])
            _add(cost[q], b_c, a[1, 2, 0])
        if se:  # L se(b) (beta b + gamma) >= L (beta tau + gamma sigma)
            sig = m.var(_SE_FLOOR)
            m.row({sig: 1.0, b: -0.25}, lo=-_SE_SHIFT)
            tau = m.var(0.0)
            m.row({tau: 1.0, b: -_SE_FLOOR}, lo=0.0)
            for t in np.geomspace(max(b_lo, 4 * _SE_SHIFT), max(b_hi, 4 * _SE_SHIFT + 1), 64):
                # tangent of b^2/4 - 7.5 b at t: (t/2 - 7.5) b - t^2/4
                m.row({tau: 1.0, b: -(t / 2 - _SE_SHIFT)}, lo=-t * t / 4)
            for q, (beta, gamma) in enumerate(SE_COST_TERMS):
                _add(cost[q], {tau: d * beta, sig: d * gamma})
        # l <= ln b: tangents on a geometric grid
        lb_var = m.var(math.log(max(b_lo, 1.0)) - 1.0, math.log(max(b_hi, 1.0)))
        for t in np.geomspace(max(b_lo, 1.0), max(b_hi, 1.0), 48):
            m.row({lb_var: 1.0, b: -1.0 / t}, hi=math.log(t) - 1.0)
        lnk = {xv: math.log(k) for xv, k in zip(x, ks)}
        f, a1, a2 = ctx.f, ctx.a1, ctx.a2
        t_u: dict[int, float] = {}
        _add(t_u, lnexpr[u - 1], f * a1)
        _add(t_u, lnexpr[u], f * a1 * (d - 1))
        _add(t_u, {lb_var: f * d * a1 * nb})
        _add(t_u, lnk, f * d * a2 * nk)
        terms.append(t_u)
        w_u: dict[int, float] = {}
        _add(w_u, lnexpr[u - 1])
        _add(w_u, lnexpr[u], d - 1.0)
        _add(w_u, {lb_var: d * nb})
        _add(w_u, lnk, d * nk)
        logw.append(w_u)
        layers.append(nl * d)
        s_max.append(f * (a1 * math.log(cmax[u - 1]) + a1 * (d - 1) * math.log(cmax[u])
                          + d * (a1 * nb * math.log(max(b_hi, 1.0)) + a2 * nk * math.log(max(ks)))))
    if ctx.final:
        u = J + 1
        for i, w in enumerate(widths[u]):
            fc = _final_costs(ctx, 1.0, w)  # linear in c_in: cost(c_in) = fixed part + c_in * slope
            f0 = _final_costs(ctx, 0.0, w)
            for q in range(4):
                _add(cost[q], {y[u][i]: float(f0[q])})
                slope = float(fc[q] - f0[q])
                if slope:
                    if len(widths[u]) == 1:
                        _add(cost[q], cexpr[J], slope)
                    else:
                        _add(cost[q], {m.product(cexpr[J], cmin[J], cmax[J], y[u][i]): slope})
        terms.append({k: ctx.f * ctx.a1 * v for k, v in lnexpr[J].items()})
        logw.append(dict(lnexpr[J]))
        layers.append(1)
        s_max.append(ctx.f * ctx.a1 * math.log(cmax[J]))

    # budgets (normalised by their limits; +1 unit for the rounding of integer costs)
    last = len(widths) - 1
    for _, sg, lim, w, hp, hm, hc in ctx.rows:
        row: dict[int, float] = {}
        for q in range(4):
            _add(row, cost[q], w[q])
        _add(row, cexpr[last], (hp + hm) * ctx.nc)
        fixed = float(w[:4] @ const) + hc + w[4] * float(sum(layers))
        scale = max(lim, 1.0)
        row = {k: v / scale for k, v in row.items()}
        if sg > 0:
            m.row(row, hi=(lim + 1.0 - fixed) / scale)
        elif fixed < lim - 1.0:  # a lower bound on layers only (checked above): constant
            return DepthLeafBound("infeasible", -math.inf, None, None)

    # objective: sum_s alpha_s (ln C_s + ls2_s) S_s - Q, and rho rows per score stage
    lw_prefix: dict[int, float] = {}
    s_prefix: dict[int, float] = {}
    acc_const_t, acc_const_w, acc_d, acc_smax = ctx.T0, ctx.LW0, 0, 0.0
    nxt = 0
    unit_terms = [{}] + terms
    unit_logw = [{}] + logw
    for s, end in enumerate(ctx.ends):
        while nxt <= end:
            _add(s_prefix, unit_terms[nxt])
            _add(lw_prefix, unit_logw[nxt])
            acc_d += layers[nxt]
            acc_smax += s_max[nxt]
            nxt += 1
        if ctx.rho0 is not None:
            need = acc_d * (math.log(acc_d) - math.log(ctx.rho0))
            m.row(dict(lw_prefix), lo=need - acc_const_w - 1e-9 * max(1.0, abs(need)))
        alpha = float(ctx.alpha[s])
        if alpha == 0.0:
            continue
        s_var = m.var()
        m.row({s_var: 1.0, **{k: -v for k, v in s_prefix.items()}}, lo=acc_const_t, hi=acc_const_t)
        for yv, w in zip(y[end], widths[end]):
            wt = alpha * (math.log(w) + float(ctx.ls2[s]))
            if wt < 0:
                return None
            if len(widths[end]) == 1:
                m.obj[s_var] -= wt
                continue
            v = m.var(obj=-wt)
            m.row({v: 1.0, s_var: -1.0}, hi=0.0)
            m.row({v: 1.0, yv: -max(acc_smax, 0.0)}, hi=0.0)
    res = m.solve(time_limit, rel_gap)
    if res.status == 2:
        return DepthLeafBound("infeasible", -math.inf, None, None)
    dual = getattr(res, "mip_dual_bound", None)
    if dual is None or not np.isfinite(dual):
        return DepthLeafBound("limit", math.inf, None, None)
    bound = -float(dual) - penalty
    bound += 1e-7 * max(1.0, abs(bound))  # HiGHS's feasibility tolerances
    chosen_w = chosen_k = None
    if res.x is not None:
        chosen_w = tuple(int(widths[u][int(np.argmax(res.x[yu]))]) for u, yu in enumerate(y))
        chosen_k = tuple(int(box.kernels[j][int(np.argmax(res.x[x]))]) for j, x in enumerate(xs))
    status = "optimal" if res.status == 0 else "limit"
    return DepthLeafBound(status, bound, chosen_w, chosen_k)
