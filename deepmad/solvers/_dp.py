"""The dynamic program behind :mod:`deepmad.solvers._bound` (see its docstring for the math).

``dp_bound(ctx, box, y, d0, max_groups)`` returns the exact maximum of the Lagrangian
relaxation over the integer points of ``box``. Widths may be *grouped* into at most
``max_groups`` runs of consecutive allowed values per unit; a group is then scored with its
largest width in every objective term and its smallest (largest for positive prices) in every
cost -- all terms are monotone in the widths, so the value still bounds every member. The
TinyNAS average-pool term of depthwise stride-2 stages (``c_in`` when ``c_in == c``, the only
non-monotone cost) is bounded apart: 0 below, ``c_in`` above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepmad.solvers import _costpoly as poly
from deepmad.solvers import terms
from deepmad.solvers._bmax import best_b
from deepmad.solvers._bound import NEG, Box, Context, g_rho, min_std_point, penalty_tangent
from deepmad.solvers.space import Design
from deepmad.solvers.terms import LAYERS

__all__ = ["Groups", "BoundOut", "make_groups", "dp_bound"]

_POOLED = terms.COST_NAMES.index("macs_tinynas")  # the quantity holding the average-pool term


@dataclass
class Groups:
    """Runs of consecutive allowed widths of one unit."""

    lo: np.ndarray  # smallest width per group
    hi: np.ndarray  # largest width per group


def make_groups(values: np.ndarray, max_groups: int) -> Groups:
    """Split sorted ``values`` into at most ``max_groups`` runs of (nearly) equal size."""
    n = len(values)
    cuts = np.unique(np.linspace(0, n, min(n, max_groups) + 1).round().astype(int))
    start, stop = cuts[:-1], cuts[1:]
    return Groups(values[start].astype(float), values[stop - 1].astype(float))


@dataclass
class BoundOut:
    """One bound evaluation: value, a representative design, subgradient and filtering data."""

    value: float
    design: Design | None  # widths = smallest member of each chosen group
    subgradient: np.ndarray  # d value / d (lam, mu)
    depths: np.ndarray  # D_s of the argmax (tangent points for the next evaluation)
    through: list[np.ndarray]  # per unit and group: best relaxation value through it
    groups: list[Groups]
    exact: bool  # every group a single width
    kernel_through: list[dict[int, float]] | None = None  # per stage: best value with kernel = key


def _remembered(memo: dict | None, key, make):
    """``make()``, kept in ``memo`` under ``key`` (bound evaluations of one box at other multipliers
    reuse everything that does not depend on them); no memo: always made."""
    if memo is None:
        return make()
    if key not in memo:
        memo[key] = make()
    return memo[key]


def _pick(omega: np.ndarray, lo: tuple, hi: tuple) -> list:
    """Per base quantity: the low value where its price is <= 0, else the high value."""
    return [lv if om <= 0 else hv for om, lv, hv in zip(omega, lo, hi)]


class _Relaxation:
    """Coefficients of the relaxation for one (box, multipliers, tangent points)."""

    def __init__(self, ctx: Context, box: Box, lam: np.ndarray, mu: np.ndarray, d0: np.ndarray,
                 groups: list[Groups], memo: dict | None = None) -> None:
        self.omega, self.hp, self.hm, const_l = ctx.prices(lam)
        n_s, n_u = len(ctx.ends), len(groups)
        m_hi, s_lo = _remembered(memo, "sums", lambda: _box_sums(ctx, box, groups))
        al = ctx.alpha
        self.m_u = np.array([float(np.sum(al[ctx.unit_stage[u]:] * m_hi[ctx.unit_stage[u]:])) for u in range(n_u)])
        self.mu_u = np.array([float(mu[ctx.unit_stage[u]:].sum()) for u in range(n_u)])
        self.slope = (np.log(d0) - math.log(ctx.rho0) + 1.0) if ctx.rho0 else np.zeros(n_s)
        self.tau_u = np.array([float((mu * self.slope)[ctx.unit_stage[u]:].sum()) for u in range(n_u)])
        self.bonus = {e: al[s] * s_lo[s] for s, e in enumerate(ctx.ends)}
        const = float(np.sum(al * (ctx.ls2 - m_hi) * s_lo)) + const_l
        if ctx.rho0 is not None:
            const -= float(np.sum(mu * (np.array([g_rho(d, ctx.rho0) for d in d0]) - self.slope * d0)))
        self.pen_slope = np.zeros(ctx.J)  # d(penalty plane) / d L_j
        if ctx.cfg.depth_penalty:
            ranges = tuple(box.depth[i] for i in ctx.pen_idx)
            point = min_std_point(ranges)
            q, grad = penalty_tangent(point, ctx.cfg.depth_penalty)
            const -= q - float(np.dot(grad, point))
            self.pen_slope[list(ctx.pen_idx)] = grad
        self.const = const


def _box_sums(ctx: Context, box: Box, groups: list[Groups]) -> tuple[np.ndarray, np.ndarray]:
    """Per score stage: ln(largest C_s) + ln r_s^2, and a lower bound of the prefix sum S_s."""
    m_hi = np.array([math.log(groups[e].hi.max()) for e in ctx.ends]) + ctx.ls2
    layers = [1] + [s.kind.layers_per_block * d[0] for s, d in zip(ctx.space.stages, box.depth)]
    d_lo = np.cumsum(layers + ([1] if ctx.final else []))[list(ctx.ends)]
    s_lo = _min_sums(ctx, box)
    if ctx.rho0 is not None and ctx.a1 == ctx.a2:
        s_lo = np.maximum(s_lo, [ctx.f * ctx.a1 * g_rho(d, ctx.rho0) for d in d_lo])
    return m_hi, np.maximum(s_lo, 0.0)


def _min_sums(ctx: Context, box: Box) -> np.ndarray:
    """Smallest possible prefix entropy sums S_s over the box (every term grows with sizes)."""
    f, a1, a2 = ctx.f, ctx.a1, ctx.a2
    h = [ctx.T0]
    for j, (rng, (l_lo, _)) in enumerate(zip(ctx.space.stages, box.depth)):
        cp, c = box.widths[j].min(), box.widths[j + 1].min()
        b_lo = min([max(1.0, float(ctx.b_range(j, np.array([float(c)]), box)[0][0]))]
                   + list(rng.bottleneck.extra))
        x, y = terms.stage_parts(rng.kind, l_lo, math.log(cp), math.log(c), math.log(b_lo),
                                 math.log(min(box.kernels[j])))
        h.append(terms.unit_entropy(x, y, f, a1, a2))
    if ctx.final:
        h.append(terms.unit_entropy(*terms.final_parts(math.log(box.widths[ctx.J].min())), f, a1, a2))
    return np.cumsum(h)[list(ctx.ends)]


def _table(box: Box, j: int, depths: list[int], g: _Geometry, val: np.ndarray | None, arg: np.ndarray | None):
    """phi_j(group of c_prev, group of c): best relaxation value of stage j (0-based).

    The maximum over the kernels and the two depth endpoints (the relaxation is affine in the
    depth for fixed widths, kernel and bottleneck, so an endpoint attains the maximum), from stage
    j's values and argmax b per (kernel, depth, cell). Returns (value, kernel, depth, bottleneck),
    each of shape (P, C), and the value per kernel on the scored cells, as (array (K, N), c_prev
    group index, c group index) of the N cells.
    """
    P, C = g.full[2:]
    best, kk, dd, bb = np.full((P, C), NEG), np.zeros((P, C)), np.zeros((P, C)), np.zeros((P, C))
    if val is None:
        return best, kk, dd, bb, (np.full((g.full[0], 0), NEG), g.pi, g.ci)
    K, D, N = val.shape
    i = val.reshape(K * D, N).argmax(0)
    cells = np.arange(N)
    best[g.pi, g.ci] = val.reshape(K * D, N)[i, cells]
    bb[g.pi, g.ci] = arg.reshape(K * D, N)[i, cells]
    kk[g.pi, g.ci] = np.array(box.kernels[j], float)[i // D]
    dd[g.pi, g.ci] = np.array(depths, float)[i % D]
    return best, kk, dd, bb, (val.max(1), g.pi, g.ci)


def stages_cells(ctx: Context, box: Box, rel: _Relaxation, stages: list[tuple[int, Groups, Groups, list[int]]],
                 memo: dict | None = None) -> list[tuple[_Geometry, np.ndarray | None, np.ndarray | None]]:
    """Per stage ``(j, gp, gc, depths)``: its :class:`_Geometry` and the value and argmax b per
    (kernel, depth, scored cell), arrays (K, D, N) (None without cells). The stages' bottleneck
    problems are solved together (:func:`_solve_cells`); ``memo`` keeps the geometries."""
    geos = [_remembered(memo, ("geometry", j, tuple(depths), id(gp), id(gc)),
                        lambda j=j, gp=gp, gc=gc, depths=depths: _Geometry(ctx, j, box, gp, gc, depths))
            for j, gp, gc, depths in stages]
    solved = iter(_solve_cells([_cell_problem(ctx, g, rel) for g in geos if len(g.pi)]))
    return [(g, *next(solved)) if len(g.pi) else (g, None, None) for g in geos]


class _Geometry:
    """Stage j's cells in a box: all of :func:`_cell_problem`'s inputs that no multiplier changes.

    Cells are the (c_prev group, c group) pairs allowed by non-decreasing widths (every pair
    otherwise); per cell the bottleneck grid interval, cost monomials at the low and high widths,
    log widths and the projection-free cost where ``c_prev == c`` can happen.
    """

    def __init__(self, ctx: Context, j: int, box: Box, gp: Groups, gc: Groups, depths: list[int]) -> None:
        self.j = j
        self.full = (len(box.kernels[j]), len(depths), len(gp.lo), len(gc.lo))
        self.pi, self.ci = (np.nonzero(gp.lo[:, None] <= gc.hi[None, :]) if ctx.space.nondecreasing
                            else np.indices(self.full[2:]).reshape(2, -1))
        if not len(self.pi):
            return
        cp_lo, cp_hi, c_lo, c_hi = gp.lo[self.pi], gp.hi[self.pi], gc.lo[self.ci], gc.hi[self.ci]
        self.blo, _, _, self.step, self.extras = ctx.b_range(j, c_lo, box)
        _, self.bhi, self.cap, _, _ = ctx.b_range(j, c_hi, box)
        self.ks = np.array(box.kernels[j], float)[:, None, None]
        self.ds = np.array(depths, float)[None, :, None]
        self.shape = (self.ks.shape[0], self.ds.shape[1], len(c_lo))
        self.se = ctx.space.stages[j].kind.se
        self.coef = poly.cost_coefficients(ctx, j, self.ds[..., 0], self.ks[..., 0], self.se)  # (4, 3, 4, K, D)
        self.mono_lo, self.mono_hi = poly.monomials(cp_lo, c_lo), poly.monomials(cp_hi, c_hi)
        self.proj = None
        if poly.has_indicator(ctx, j):  # no projection when c_in == c: lower the cost where that can happen
            same = (cp_lo <= c_hi) & (c_lo <= cp_hi)
            self.proj = [np.where(same, v, 0.0) for v in poly.proj_costs(ctx, j, np.maximum(cp_lo, c_lo))]
        self.lcp, self.lc, self.lk = np.log(cp_hi), np.log(c_hi), np.log(self.ks)
        self.dw_pool = poly.dw_pool(ctx, j, cp_hi)


@dataclass
class _Cells:
    """One stage's bottleneck problems (:func:`best_b`'s arguments) on cells of shape (K, D, N)."""

    shape: tuple[int, int, int]
    w: np.ndarray
    q0: np.ndarray
    q1: np.ndarray
    q2: np.ndarray
    lo: np.ndarray  # (N,)
    hi: np.ndarray
    cap: np.ndarray
    step: int
    extras: tuple
    se_terms: tuple | None


def _solve_cells(problems: list[_Cells]) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`best_b` of each problem, as (value, argmax b) of its shape.

    Problems with the same grid step and SE kind are flattened into one vector and solved in one
    pass: at these sizes numpy's per-call overhead, not the arithmetic, dominates a bound
    evaluation. Extras are padded with NaN (never chosen) to a common count.
    """
    out: list = [None] * len(problems)
    kinds: dict[tuple, list[int]] = {}
    for i, pr in enumerate(problems):
        kinds.setdefault((pr.step, pr.se_terms is None), []).append(i)
    for idx in kinds.values():
        ps = [problems[i] for i in idx]
        n_ex = max(len(pr.extras) for pr in ps)
        extras = [_flat(ps, lambda pr, i=i: float(pr.extras[i]) if i < len(pr.extras) else np.nan) for i in range(n_ex)]
        se_terms = None if ps[0].se_terms is None else tuple(_flat(ps, lambda pr, i=i: pr.se_terms[i]) for i in range(3))
        val, arg = best_b(*(_flat(ps, lambda pr, f=f: getattr(pr, f)) for f in ("w", "q0", "q1", "q2", "lo", "hi", "cap")),
                          ps[0].step, extras, se_terms)
        ends = np.cumsum([math.prod(pr.shape) for pr in ps])[:-1]
        for i, pr, v, a in zip(idx, ps, np.split(val, ends), np.split(arg, ends)):
            out[i] = (v.reshape(pr.shape), a.reshape(pr.shape))
    return out


def _flat(problems: list[_Cells], get) -> np.ndarray:
    """``get(problem)`` broadcast to each problem's shape, concatenated flat (one copy)."""
    sizes = [math.prod(pr.shape) for pr in problems]
    out = np.empty(sum(sizes))
    start = 0
    for pr, n in zip(problems, sizes):
        out[start:start + n].reshape(pr.shape)[...] = get(pr)
        start += n
    return out


def _cell_problem(ctx: Context, g: _Geometry, rel: _Relaxation) -> _Cells:
    """Stage ``g.j``'s bottleneck problems at the relaxation's prices, on arrays (K, D, N).

    The unit's objective part is ``m h + mu LW = (m f a1 + mu) X + (m f a2 + mu) Y``
    (:mod:`deepmad.solvers.terms`), with ``X = ln c_prev + (L - 1) ln c + L n_b ln b`` and
    ``Y = L n_k ln k``; add ``(om_layers - tau) n_l L - pen L`` and the pool, grouped by factor so
    that full-size arrays are few. ``w`` is the coefficient of ``ln b``.
    """
    j = g.j
    kind = ctx.space.stages[j].kind
    per_unit, t = terms.stage_log_terms(kind, 1), terms.stage_log_terms(kind, g.ds)
    om, u, nq = rel.omega, j + 1, LAYERS
    f, a1, a2 = ctx.f, ctx.a1, ctx.a2
    ds, shape = g.ds, g.shape
    neg, pos = np.minimum(om[:nq], 0.0), np.maximum(om[:nq], 0.0)
    flat_coef = g.coef.reshape(nq, -1)
    wl, wh = (neg @ flat_coef).reshape(g.coef.shape[1:]), (pos @ flat_coef).reshape(g.coef.shape[1:])  # (3, 4, K, D)
    qs = poly.bilinear(wl, g.mono_lo) + (poly.bilinear(wh, g.mono_hi) if np.any(pos) else 0.0)
    q0, q1, q2 = np.broadcast_to(qs[0], shape), np.broadcast_to(qs[1], shape), qs[2]
    if g.proj is not None:
        q0 = q0 - sum(o * v for o, v in zip(neg, g.proj))
    pool = om[_POOLED] * g.dw_pool if om[_POOLED] > 0 else 0.0
    per_x = rel.m_u[u] * f * a1 + rel.mu_u[u]
    per_y = rel.m_u[u] * f * a2 + rel.mu_u[u]
    per_block = (ds * (per_y * per_unit.k * g.lk
                       + (om[nq] - rel.tau_u[u]) * kind.layers_per_block - rel.pen_slope[j]))  # (K, D, 1)
    base = per_block + (per_x * t.cin * g.lcp + pool + t.c * (per_x * g.lc))
    w = np.broadcast_to(ds * per_unit.b * per_x, shape)
    se_terms = None
    if g.se:
        se_cost = terms.se_cost_terms(kind, ctx.lat)
        se_terms = (ds, sum(o * bg[0] for o, bg in zip(om, se_cost)), sum(o * bg[1] for o, bg in zip(om, se_cost)))
    return _Cells(shape, w, base + q0, q1, q2, g.blo, g.bhi, g.cap, g.step, g.extras, se_terms)


def _unit_values(ctx: Context, rel: _Relaxation, groups: list[Groups]):
    """Stem values, the final table (or None) and the per-unit own terms (bonus, head)."""
    om = rel.omega
    g0 = groups[0]
    stem = sum(o * v for o, v in zip(om[:LAYERS], _pick(om, poly.stem_costs(ctx, g0.lo), poly.stem_costs(ctx, g0.hi))))
    stem = stem + rel.m_u[0] * ctx.T0 + rel.mu_u[0] * ctx.LW0 + om[LAYERS] - rel.tau_u[0]
    final = None
    if ctx.final:
        gp, gf = groups[ctx.J], groups[ctx.J + 1]
        lo = poly.final_costs(ctx, gp.lo[:, None], gf.lo[None, :])
        hi = poly.final_costs(ctx, gp.hi[:, None], gf.hi[None, :])
        u = ctx.J + 1
        # the final conv's X = ln c_prev (terms.final_parts): coefficient m f a1 + mu
        final = (sum(o * v for o, v in zip(om[:LAYERS], _pick(om, lo, hi)))
                 + (rel.m_u[u] * ctx.f * ctx.a1 + rel.mu_u[u]) * np.log(gp.hi[:, None]) + om[LAYERS] - rel.tau_u[u])
    own = []
    for u, g in enumerate(groups):
        v = rel.bonus.get(u, 0.0) * np.log(g.hi)
        if u == len(groups) - 1:
            v = v + ctx.nc * (rel.hp * (g.lo if rel.hp <= 0 else g.hi) + rel.hm * (g.lo if rel.hm <= 0 else g.hi))
        own.append(v)
    return stem, final, own


def dp_bound(ctx: Context, box: Box, lam: np.ndarray, mu: np.ndarray, d0: np.ndarray,
             max_groups: int = 10**9, memo: dict | None = None) -> BoundOut:
    """Exact maximum of the Lagrangian relaxation over ``box`` (a valid upper bound).

    ``memo``: a dict kept by the caller across evaluations of the same box, groups and tangent
    depths ``d0`` at other multipliers (the box must not change in between).
    """
    groups = _remembered(memo, "groups", lambda: [make_groups(w, max_groups) for w in box.widths])
    rel = _Relaxation(ctx, box, lam, mu, d0, groups, memo=memo)
    stem, final, own = _unit_values(ctx, rel, groups)
    ends = [sorted(set(box.depth[j])) for j in range(ctx.J)]  # each stage's depth interval ends
    cells = stages_cells(ctx, box, rel, [(j, groups[j], groups[j + 1], ends[j]) for j in range(ctx.J)], memo)
    tables = [_table(box, j, ends[j], *c) for j, c in enumerate(cells)]
    phis = [t[0] for t in tables] + ([final] if final is not None else [])
    fwd, ptr = [stem + own[0]], []
    for u in range(1, len(groups)):
        tot = fwd[-1][:, None] + phis[u - 1]
        ptr.append(tot.argmax(0))
        fwd.append(tot.max(0) + own[u])
    bwd = [np.zeros(len(groups[-1].lo))]
    for u in range(len(groups) - 1, 0, -1):
        bwd.insert(0, (phis[u - 1] + (own[u] + bwd[0])[None, :]).max(1))
    value = float(fwd[-1].max()) + rel.const
    through = [a + b + rel.const for a, b in zip(fwd, bwd)]
    # best value through each kernel of stage j: fwd into c_prev + phi_j(k) + own and bwd from c
    kernel_through = [dict(zip(box.kernels[j], _through_cells(fwd[j], own[j + 1] + bwd[j + 1], *t[4]) + rel.const))
                      for j, t in enumerate(tables)]
    idx = [0] * len(groups)
    idx[-1] = int(fwd[-1].argmax())
    for u in range(len(groups) - 1, 0, -1):
        idx[u - 1] = int(ptr[u - 1][idx[u]])
    choice = [(int(tables[j][1][idx[j], idx[j + 1]]), int(tables[j][2][idx[j], idx[j + 1]]),
               int(round(tables[j][3][idx[j], idx[j + 1]]))) for j in range(ctx.J)]
    design = None
    if value > NEG / 2:
        stages = tuple((int(groups[j + 1].lo[idx[j + 1]]), b, depth, k) for j, (k, depth, b) in enumerate(choice))
        design = Design(ctx.resolution, int(groups[0].lo[idx[0]]), stages,
                        int(groups[-1].lo[idx[-1]]) if ctx.final else None)
    sub, depths = _subgradient(ctx, rel, groups, idx, choice, lam, mu, d0)
    exact = all(len(g.lo) == len(w) for g, w in zip(groups, box.widths))
    return BoundOut(value, design, sub, depths, through, groups, exact, kernel_through)


def _through_cells(into: np.ndarray, out_of: np.ndarray, values: np.ndarray, pi: np.ndarray,
                   ci: np.ndarray) -> np.ndarray:
    """Per row of ``values`` (K, N cells): max over cells of into[c_prev] + value + out_of[c]."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], NEG)
    return (into[pi][None, :] + values + out_of[ci][None, :]).max(1)


def _subgradient(ctx: Context, rel: _Relaxation, groups, idx, choice, lam, mu, d0):
    """Budget rows' -g_i and rho rows' (LW_s - tangent_s) at the maximising cell."""
    om = rel.omega
    lo = [float(v) for v in poly.stem_costs(ctx, groups[0].lo[idx[0]])]
    hi = [float(v) for v in poly.stem_costs(ctx, groups[0].hi[idx[0]])]
    lw, layers = [ctx.LW0], [1]
    for j, (k, depth, b) in enumerate(choice):
        gp, gc = groups[j], groups[j + 1]
        a = poly.dp_stage_costs(ctx, j, gp.lo[idx[j]], gc.lo[idx[j + 1]], float(b), depth, k, False)
        z = poly.dp_stage_costs(ctx, j, gp.hi[idx[j]], gc.hi[idx[j + 1]], float(b), depth, k, False)
        lo = [x + float(v) for x, v in zip(lo, a)]
        hi = [x + float(v) for x, v in zip(hi, z)]
        hi[_POOLED] += float(poly.dw_pool(ctx, j, gp.hi[idx[j]]))
        rng = ctx.space.stages[j]
        lw.append(terms.log_width(*terms.stage_parts(rng.kind, depth, math.log(gp.hi[idx[j]]),
                                                     math.log(gc.hi[idx[j + 1]]), math.log(max(b, 1)), math.log(k))))
        layers.append(rng.kind.layers_per_block * depth)
    if ctx.final:
        a = poly.final_costs(ctx, groups[ctx.J].lo[idx[ctx.J]], groups[-1].lo[idx[-1]])
        z = poly.final_costs(ctx, groups[ctx.J].hi[idx[ctx.J]], groups[-1].hi[idx[-1]])
        lo, hi = [x + float(v) for x, v in zip(lo, a)], [x + float(v) for x, v in zip(hi, z)]
        lw.append(terms.log_width(*terms.final_parts(math.log(groups[ctx.J].hi[idx[ctx.J]]))))
        layers.append(1)
    base = np.array(_pick(om, lo, hi) + [float(sum(layers))])
    nf_p = groups[-1].lo[idx[-1]] if rel.hp <= 0 else groups[-1].hi[idx[-1]]
    nf_m = groups[-1].lo[idx[-1]] if rel.hm <= 0 else groups[-1].hi[idx[-1]]
    g = [r.sense * ((float(r.weights @ base) + r.head_params * nf_p * ctx.nc + r.head_macs * nf_m * ctx.nc
                     + r.const) / max(r.limit, 1.0) - 1.0) for r in ctx.rows]
    ends = list(ctx.ends)
    lws, ds = np.cumsum(lw)[ends], np.cumsum(layers)[ends].astype(float)
    if ctx.rho0 is None:
        return -np.array(g), ds
    tangent = np.array([g_rho(d, ctx.rho0) for d in d0]) + rel.slope * (ds - d0)
    return np.concatenate([-np.array(g), lws - tangent]), ds
