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

import functools
import math
from dataclasses import dataclass

import numpy as np

from deepmad.solvers import terms
from deepmad.solvers._bound import NEG, Box, Context, g_rho, min_std_point, penalty_tangent
from deepmad.solvers.space import Design
from deepmad.solvers.terms import LAYERS, se_of

__all__ = ["Groups", "BoundOut", "make_groups", "dp_bound", "best_b"]

_SE_LINEAR_FROM = 64  # se(b) is linear on residue classes for b >= 64
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


def _local_max_root(w: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Local maximiser of ``w ln b + c1 b + c2 b^2`` on b > 0 (inf if increasing throughout).

    It is the smaller positive root of ``2 c2 b^2 + c1 b + w = 0``, written stably as
    ``2 w / (sqrt(c1^2 - 8 c2 w) - c1)`` (valid for every sign of c2).
    """
    with np.errstate(all="ignore"):
        disc = c1 * c1 - 8.0 * c2 * w
        r = 2.0 * w / (np.sqrt(np.maximum(disc, 0.0)) - c1)
    return np.where((disc >= 0) & (r >= 0) & np.isfinite(r), r, np.inf)


def _concave_root(w: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """:func:`_local_max_root` when ``w >= 0`` and ``c2 <= 0`` (then the discriminant is >= 0)."""
    den = np.sqrt(c1 * c1 - c2 * (8.0 * w)) - c1
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (2.0 * w) / den, np.inf)


def best_b(w, q0, q1, q2, lo, hi, cap, step, extras, se_terms):
    """Exact max over the allowed bottlenecks of ``w ln b + q0 + q1 b + q2 b^2 (+ SE terms)``.

    Candidates: the grid interval's ends and the grid points around the local maximiser
    (the function is unimodal up to a convex tail); with SE, per residue class of b modulo
    ``lcm(step, 64)`` on which ``se(b)`` is linear, plus every grid point below 64
    (:func:`_best_b_se`); then each extra value allowed by ``cap``.

    Returns:
        (best value, argmax b) arrays; NEG where no b is allowed.
    """
    if se_terms is not None:
        best, arg = _best_b_se(w, q0, q1, q2, lo, hi, step, se_terms)
    else:
        mlo, mhi = np.ceil(lo / step), np.floor(hi / step)
        r = np.minimum(_local_max_root(w, q1, q2) / step, mhi)
        if np.all(q2 <= 0):  # concave: the clipped grid neighbours of the maximiser suffice
            ba, bb = np.clip(np.floor(r), mlo, mhi) * step, np.clip(np.ceil(r), mlo, mhi) * step
            va = w * np.log(np.maximum(ba, 1.0)) + q0 + q1 * ba + q2 * ba * ba
            vb = w * np.log(np.maximum(bb, 1.0)) + q0 + q1 * bb + q2 * bb * bb
            best, arg = np.where(mlo <= mhi, np.maximum(va, vb), NEG), np.where(vb > va, bb, ba)
        else:  # and the interval's ends
            ms = np.stack(np.broadcast_arrays(mlo, mhi, np.floor(r), np.ceil(r)))
            bs = np.clip(ms, mlo, mhi) * step
            val = np.where(mlo <= mhi, w * np.log(np.maximum(bs, 1.0)) + q0 + q1 * bs + q2 * bs * bs, NEG)
            i = val.argmax(0)[None]
            best, arg = np.take_along_axis(val, i, 0)[0], np.take_along_axis(bs, i, 0)[0]
    for e in extras:  # a value, or an array of them (NaN: none)
        e = np.asarray(e, float)
        v = w * np.log(np.maximum(e, 1.0)) + q0 + (q1 + q2 * e) * e
        if se_terms is not None:
            n, beta, gamma = se_terms
            v = v + n * se_of(e) * (beta * e + gamma)
        better = (v > best) & (e <= cap)
        best, arg = np.where(better, v, best), np.where(better, e, arg)
    return best, arg


def _best_b_se(w, q0, q1, q2, lo, hi, step, se_terms):
    """Exact max over the grid of ``w ln b + q(b) + n se(b) (beta b + gamma)``, class by class.

    On each residue class ``se(b) = a2 b + a0`` (:func:`_se_classes`), so the function is
    ``w ln b + c0 + c1 b + c2 b^2`` there (:func:`_class_max`). A class is scored only on the cells
    whose interval meets it: none (skipped), all, or a gathered subset when fewer than half do
    (the ``b < 64`` class usually concerns a few narrow cells only).
    """
    n, beta, gamma = se_terms
    shape = np.broadcast(w, q0, q1, q2, lo, hi).shape
    best_v, best_b = np.full(shape, NEG), np.zeros(shape)
    lo_min, lo_max, hi_min, hi_max = float(np.min(lo)), float(np.max(lo)), float(np.min(hi)), float(np.max(hi))
    args = [np.broadcast_to(x, shape) for x in (w, q0, q1, q2, n * beta, n * gamma, lo, hi)]
    w_pos = bool(np.all(args[0] >= 0))
    for row in _se_classes(step):
        bmin, bmax = row[2], row[3]
        if max(lo_min, bmin) > min(hi_max, bmax):
            continue
        idx = None  # score every cell
        if not (lo_max <= bmax and hi_min >= bmin):  # some cells miss the class
            meets = (args[6] <= bmax) & (args[7] >= bmin)
            if 2 * np.count_nonzero(meets) <= meets.size:
                idx = np.nonzero(meets)
        if idx is None:
            v, bc = _class_max(row, w_pos, *args)
            better = v > best_v
            best_v, best_b = np.fmax(best_v, v), np.where(better, bc, best_b)
        else:
            v, bc = _class_max(row, w_pos, *(x[idx] for x in args))
            old = best_v[idx]
            best_v[idx], best_b[idx] = np.fmax(old, v), np.where(v > old, bc, best_b[idx])
    return best_v, best_b


def _class_max(row, w_pos: bool, w, q0, q1, q2, nbeta, ngamma, lo, hi):
    """Max of ``w ln b + q(b) + n se(b) (beta b + gamma)`` over the grid points of one residue
    class (a row of :func:`_se_classes`) in each cell's interval: (value, argmax b); NEG where
    the interval misses the class. Candidates: the two class points around the local maximiser,
    clipped to the interval (and the interval's ends where the quadratic is convex)."""
    per, r0, bmin, bmax, a2, a0 = row
    c2 = q2 + nbeta * a2 if a2 else q2
    c1 = q1 + (nbeta * a0 + ngamma * a2)
    klo = np.ceil((np.maximum(lo, bmin) - r0) / per)  # these depend on the widths only
    khi = np.floor((np.minimum(hi, bmax) - r0) / per)
    c0 = q0 + (ngamma * a0 + np.where(klo <= khi, 0.0, NEG))
    if w_pos and np.all(c2 <= 0):
        root = _concave_root(w, c1, c2)
        kf = np.floor(np.fmin(root * (1.0 / per) - r0 / per, khi))
        pts = (kf, kf + 1.0)
    else:
        root = np.minimum((_local_max_root(w, c1, c2) - r0) / per, khi)
        pts = (np.floor(root), np.ceil(root), klo, khi)
    best_v = best_b = None
    for kk in pts:
        bc = np.clip(kk, klo, khi) * per + r0
        with np.errstate(divide="ignore", invalid="ignore"):  # empty cells: NEG anyway
            v = w * np.log(bc) + c0 + (c1 + c2 * bc) * bc
        if best_v is None:
            best_v, best_b = v, bc
        else:
            better = v > best_v
            best_v, best_b = np.fmax(best_v, v), np.where(better, bc, best_b)
    return best_v, best_b


@functools.cache
def _se_classes(step: int) -> tuple[tuple[float, ...], ...]:
    """Rows (period, residue, b_min, b_max, a2, a0) on which se(b) = a2 b + a0.

    se(b) = max(1, round(b/4) // 8) * 8 is 8 for b < 64 and, for b >= 64 on the grid, linear on
    residue classes modulo lcm(step, 32) (lcm(step, 64) when 4 does not divide the step, so that
    half-even ties in round(b/4) fall the same way within a class).
    """
    base = 32 if step % 4 == 0 else 64
    period = step * base // math.gcd(step, base)
    rows = [(float(step), 0.0, float(step), float(_SE_LINEAR_FROM - 1), 0.0, 8.0)]
    for r0 in range(0, period, step):
        rows.append((float(period), float(r0), float(_SE_LINEAR_FROM), math.inf,
                     0.25, 8 * (round(r0 / 4) // 8) - r0 / 4.0))
    return tuple(rows)


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


def _stage_costs(ctx: Context, j: int, cp, c, b, depth, k, se0: bool):
    """Stage j's costs without the average pool of kinds whose pool depends on ``c_in == c``."""
    rng, geo = ctx.space.stages[j], ctx.geo
    return terms.stage_costs(rng.kind, rng.shortcut, cp, c, b, depth, k, rng.stride, geo.stage_in[j],
                             geo.stage_out[j], geo.stage_rf[j], 0 if se0 else None,
                             pool=rng.kind.projection != "none")


def _dw_pool(ctx: Context, j: int, cp_hi):
    """Upper bound of the average-pool TinyNAS MACs that :func:`_stage_costs` leaves out (or 0)."""
    rng = ctx.space.stages[j]
    if rng.kind.projection == "none":
        return terms.pool_rule(rng.kind, rng.shortcut, cp_hi, cp_hi, rng.stride) * ctx.geo.stage_rf[j] ** 2
    return 0.0


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
        self.coef = _cost_coefficients(ctx, j, self.ds[..., 0], self.ks[..., 0], self.se)  # (4, 3, 4, K, D)
        self.mono_lo, self.mono_hi = _monomials(cp_lo, c_lo), _monomials(cp_hi, c_hi)
        self.proj = None
        if _has_indicator(ctx, j):  # no projection when c_in == c: lower the cost where that can happen
            same = (cp_lo <= c_hi) & (c_lo <= cp_hi)
            self.proj = [np.where(same, v, 0.0) for v in _proj_costs(ctx, j, np.maximum(cp_lo, c_lo))]
        self.lcp, self.lc, self.lk = np.log(cp_hi), np.log(c_hi), np.log(self.ks)
        self.dw_pool = _dw_pool(ctx, j, cp_hi)


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
    qs = _bilinear(wl, g.mono_lo) + (_bilinear(wh, g.mono_hi) if np.any(pos) else 0.0)
    q0, q1, q2 = np.broadcast_to(qs[0], shape), np.broadcast_to(qs[1], shape), qs[2]
    if g.proj is not None:
        q0 = q0 - sum(o * v for o, v in zip(neg, g.proj))
    pool = om[2] * g.dw_pool if om[2] > 0 else 0.0
    per_x = rel.m_u[u] * f * a1 + rel.mu_u[u]
    per_y = rel.m_u[u] * f * a2 + rel.mu_u[u]
    per_block = (ds * (per_y * per_unit.k * g.lk
                       + (om[nq] - rel.tau_u[u]) * kind.layers_per_block - rel.pen_slope[j]))  # (K, D, 1)
    base = per_block + (per_x * t.cin * g.lcp + pool + t.c * (per_x * g.lc))
    w = np.broadcast_to(ds * per_unit.b * per_x, shape)
    se_terms = None
    if g.se:
        se_cost = terms.se_cost_terms(kind)
        se_terms = (ds, sum(o * bg[0] for o, bg in zip(om, se_cost)), sum(o * bg[1] for o, bg in zip(om, se_cost)))
    return _Cells(shape, w, base + q0, q1, q2, g.blo, g.bhi, g.cap, g.step, g.extras, se_terms)


_PROBES = np.array([[1.0, 2.0], [1.0, 3.0], [2.0, 3.0], [2.0, 5.0]])  # (c_in, c) with c_in != c
_PROBE_INV = np.linalg.inv(np.array([[1.0, a, b, a * b] for a, b in _PROBES]))


def _cost_coefficients(ctx: Context, j: int, ds: np.ndarray, ks: np.ndarray, se: bool) -> np.ndarray:
    """Stage costs as ``sum_p b^p (a0 + a1 c_in + a2 c + a3 c_in c)`` (exact: they are polynomials).

    Returns an array (4 base quantities, 3 powers of b, 4 monomials, K, D), fitted on four probe
    points and three values of b; cached on ``ctx`` per (stage, depths, kernels).
    """
    key = (j, tuple(np.ravel(ds)), tuple(np.ravel(ks)), se)
    if key not in ctx.coef_cache:
        ctx.coef_cache[key] = _fit_cost_coefficients(ctx, j, ds, ks, se)
        ctx.coef_cache[key].flags.writeable = False
    return ctx.coef_cache[key]


def _fit_cost_coefficients(ctx: Context, j: int, ds: np.ndarray, ks: np.ndarray, se: bool) -> np.ndarray:
    b = np.array([0.0, 1.0, 2.0]).reshape(3, 1, 1, 1)
    kk, dd = ks.reshape(1, -1, 1, 1), ds.reshape(1, 1, -1, 1)
    vals = np.stack([np.broadcast_to(v, (3, kk.shape[1], dd.shape[2], 4)) for v in _stage_costs(
        ctx, j, _PROBES[:, 0], _PROBES[:, 1], b, dd, kk, se)])  # (4, 3, K, D, probes)
    c2 = (vals[:, 2] - 2 * vals[:, 1] + vals[:, 0]) / 2.0
    powers = np.stack([vals[:, 0], vals[:, 1] - vals[:, 0] - c2, c2], axis=1)  # (4, 3, K, D, probes)
    mono = powers @ _PROBE_INV.T  # (4, 3, K, D, 4 monomials)
    return np.moveaxis(mono, -1, 2)


def _monomials(cp: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(1, c_in, c, c_in c) on N cells: (4, N)."""
    return np.stack([np.ones_like(cp), cp, c, cp * c])


def _bilinear(coef: np.ndarray, mono: np.ndarray) -> np.ndarray:
    """Evaluate (3, 4, K, D) monomial coefficients on N cells' monomials -> (3, K, D, N)."""
    return (np.moveaxis(coef, 1, -1).reshape(-1, 4) @ mono).reshape(coef.shape[0], *coef.shape[2:], mono.shape[1])


def _has_indicator(ctx: Context, j: int) -> bool:
    """Whether stage j's first block projects its shortcut only when c_in != c."""
    rng = ctx.space.stages[j]
    if rng.shortcut == "torchvision":
        return rng.stride == 1
    return rng.kind.projection == "change"


def _proj_costs(ctx: Context, j: int, c):
    """Base costs of the first block's 1x1 projection at c_in = c."""
    rng, geo = ctx.space.stages[j], ctx.geo
    return terms.conv_bn_costs(c, c, 1, rng.stride, geo.stage_out[j], geo.stage_rf[j])


def _stem_costs(ctx: Context, c0):
    sp = ctx.space
    return terms.conv_bn_costs(sp.in_channels, c0, sp.stem_kernel, sp.stem_stride, ctx.geo.stem_out, ctx.resolution)


def _final_costs(ctx: Context, cp, cf):
    return terms.conv_bn_costs(cp, cf, 1, 1, ctx.geo.stage_out[-1], ctx.geo.final_rf)


def _unit_values(ctx: Context, rel: _Relaxation, groups: list[Groups]):
    """Stem values, the final table (or None) and the per-unit own terms (bonus, head)."""
    om = rel.omega
    g0 = groups[0]
    stem = sum(o * v for o, v in zip(om[:LAYERS], _pick(om, _stem_costs(ctx, g0.lo), _stem_costs(ctx, g0.hi))))
    stem = stem + rel.m_u[0] * ctx.T0 + rel.mu_u[0] * ctx.LW0 + om[LAYERS] - rel.tau_u[0]
    final = None
    if ctx.final:
        gp, gf = groups[ctx.J], groups[ctx.J + 1]
        lo = _final_costs(ctx, gp.lo[:, None], gf.lo[None, :])
        hi = _final_costs(ctx, gp.hi[:, None], gf.hi[None, :])
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
    lo = [float(v) for v in _stem_costs(ctx, groups[0].lo[idx[0]])]
    hi = [float(v) for v in _stem_costs(ctx, groups[0].hi[idx[0]])]
    lw, layers = [ctx.LW0], [1]
    for j, (k, depth, b) in enumerate(choice):
        gp, gc = groups[j], groups[j + 1]
        a = _stage_costs(ctx, j, gp.lo[idx[j]], gc.lo[idx[j + 1]], float(b), depth, k, False)
        z = _stage_costs(ctx, j, gp.hi[idx[j]], gc.hi[idx[j + 1]], float(b), depth, k, False)
        lo = [x + float(v) for x, v in zip(lo, a)]
        hi = [x + float(v) for x, v in zip(hi, z)]
        hi[_POOLED] += float(_dw_pool(ctx, j, gp.hi[idx[j]]))
        rng = ctx.space.stages[j]
        lw.append(terms.log_width(*terms.stage_parts(rng.kind, depth, math.log(gp.hi[idx[j]]),
                                                     math.log(gc.hi[idx[j + 1]]), math.log(max(b, 1)), math.log(k))))
        layers.append(rng.kind.layers_per_block * depth)
    if ctx.final:
        a = _final_costs(ctx, groups[ctx.J].lo[idx[ctx.J]], groups[-1].lo[idx[-1]])
        z = _final_costs(ctx, groups[ctx.J].hi[idx[ctx.J]], groups[-1].hi[idx[-1]])
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
