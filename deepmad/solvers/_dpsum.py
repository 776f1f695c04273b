"""The relaxation's dynamic program with the total block count as a state.

:func:`deepmad.solvers._dp.dp_bound` maximises the Lagrangian relaxation of
:mod:`deepmad.solvers._bound` over a box with *one* set of multipliers for every depth vector
of the box. The multipliers that suit a design are driven mostly by its total depth: with the
rho budget binding (it does at every published DeepMAD optimum, §2.2 of the reference note),
``2 S = LW >= D ln(D / r0)`` ties the entropy to the number of layers ``D``, and the prices of
MACs and params at the best design of each ``D`` differ several-fold from one ``D`` to the next.
One set of multipliers over designs of different ``D`` therefore mixes them (the dual of a
union is the dual of its convex hull), while designs of the same ``D`` share nearly the same
prices.

This module adds the total number of blocks ``N = sum_j L_j`` (so ``D = 1 + sum_j n_j L_j``
plus the final conv) to the state of the chain DP: ``F_j(c_j, n)`` is the best relaxation value
of units ``0..j`` with width ``c_j`` and ``n`` blocks so far, and

    F_j(c, n) = max over c', L, k, b of  F_{j-1}(c', n - L) + phi_j(c', c, L, k, b)

with every depth ``L`` of stage j's interval enumerated (not only its ends). The result is the
exact maximum of the same relaxation over the designs of the box whose block count lies in
``box.blocks``, *per block count*: ``values[n]`` bounds every design with ``N = n``, so block
counts whose value cannot beat the incumbent are cut from the node, and a node with a single
block count is bounded without mixing depths of different totals. Cost: ``O(|L| P N C)`` per
stage, against ``O(P C)`` for the endpoint DP, so the solver uses it once depth intervals are
narrow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepmad.solvers._bound import NEG, Box, Context
from deepmad.solvers._dp import (
    BoundOut,
    _Relaxation,
    _subgradient,
    _unit_values,
    make_groups,
    stage_values,
)
from deepmad.solvers.space import Design

__all__ = ["SumBoundOut", "dp_bound_sum", "block_range", "penalty_plane"]


@dataclass
class SumBoundOut(BoundOut):
    """:class:`BoundOut` plus the bound per total block count."""

    n_first: int = 0  # block count of values[0]
    n_values: np.ndarray | None = None  # bound per block count n_first, n_first + 1, ...


def block_range(box: Box) -> tuple[int, int]:
    """The block counts ``sum_j L_j`` the box allows (its depth sums cut by ``box.blocks``)."""
    lo = sum(a for a, _ in box.depth)
    hi = sum(b for _, b in box.depth)
    if box.blocks is not None:
        lo, hi = max(lo, box.blocks[0]), min(hi, box.blocks[1])
    return lo, hi


_MAX_PLANE_POINTS = 2_000_000  # (R, P) pairs enumerated for the penalty plane


def penalty_plane(ctx: Context, box: Box, ref: list[int] | None) -> tuple[float, float, float] | None:
    """``(a, b, c)`` with ``exp(std(L_pen)) >= a + b sum L_i^2 + c sum L_i`` on the box.

    None when the box is too large to enumerate (the caller keeps the constant bound).
    """
    pen = list(ctx.pen_idx)
    m = len(pen)
    if m < 2:
        return None
    ranges = [box.depth[i] for i in pen]
    p_lo, p_hi = sum(a for a, _ in ranges), sum(b for _, b in ranges)
    if len(pen) == ctx.J and box.blocks is not None:
        p_lo, p_hi = max(p_lo, box.blocks[0]), min(p_hi, box.blocks[1])
    if p_lo > p_hi:
        return None
    r_lo, r_hi = sum(a * a for a, _ in ranges), sum(b * b for _, b in ranges)
    if (p_hi - p_lo + 1) * (r_hi - r_lo + 1) > _MAX_PLANE_POINTS:
        return None
    ref = ref or [round((a + b) / 2) for a, b in ranges]
    ref = [min(max(v, a), b) for v, (a, b) in zip(ref, ranges)]
    p0, r0 = float(sum(ref)), float(sum(v * v for v in ref))
    s0 = max(math.sqrt(max(r0 / m - (p0 / m) ** 2, 0.0)), 0.5)
    dh = math.exp(s0) / (2.0 * s0)  # d exp(sqrt(x)) / dx
    b, c = dh / m, -dh * 2.0 * p0 / (m * m)
    P = np.arange(p_lo, p_hi + 1, dtype=float)[:, None]
    R = np.arange(r_lo, r_hi + 1, dtype=float)[None, :]
    x = R / m - (P / m) ** 2
    ok = R >= np.ceil(P * P / m - 1e-9)  # R >= P^2 / m for any real split (Cauchy-Schwarz)
    h = np.exp(np.sqrt(np.maximum(x, 0.0))) - b * R - c * P
    if not ok.any():
        return None
    a = float(h[ok].min()) - 1e-9
    return a, b, c


def dp_bound_sum(ctx: Context, box: Box, lam: np.ndarray, mu: np.ndarray, d0: np.ndarray,
                 max_groups: int = 10**9, ref_depths: list[int] | None = None) -> SumBoundOut:
    """Exact maximum of the Lagrangian relaxation over ``box``, per total block count.

    ``ref_depths`` (penalised stages' depths) sets the slope of the penalty plane; any value
    gives a valid bound.
    """
    groups = [make_groups(w, max_groups) for w in box.widths]
    beta = ctx.cfg.depth_penalty
    plane = penalty_plane(ctx, box, ref_depths) if beta else None
    rel = _Relaxation(ctx, box, lam, mu, d0, groups, constant_penalty=plane is None)
    pen_terms: dict[int, tuple[float, float]] = {}
    if plane is not None:  # the plane replaces the constant bound of the penalty
        a, b, c = plane
        rel.const -= beta * a
        pen_terms = {i: (b, c) for i in ctx.pen_idx}
    stem, final, own = _unit_values(ctx, rel, groups)
    n_lo, n_hi = block_range(box)
    J = ctx.J
    # forward pass; column i of unit u's table is the block count offs[u] + i, trimmed to the
    # prefix counts that can still end inside [n_lo, n_hi]
    rest_lo = [sum(a for a, _ in box.depth[j + 1:]) for j in range(J)]
    rest_hi = [sum(b for _, b in box.depth[j + 1:]) for j in range(J)]
    fwd = [(stem + own[0])[:, None]]
    offs = [0]
    ptr_p, ptr_d, kern, bott, depth_lists, phis = [], [], [], [], [], []
    for j in range(J):
        lo, hi = box.depth[j]
        depths = list(range(lo, hi + 1))
        val, arg = stage_values(ctx, j, box, rel, groups[j], groups[j + 1], depths)
        ki = val.argmax(0)  # best kernel per (depth, c_prev, c)
        phi = np.take_along_axis(val, ki[None], 0)[0]  # (D, P, C)
        if j in pen_terms:
            b, c = pen_terms[j]
            dv = np.array(depths, float)
            phi = phi - (beta * (b * dv * dv + c * dv))[:, None, None]
        phis.append(phi)
        kern.append(np.array(box.kernels[j])[ki])
        bott.append(np.take_along_axis(arg, ki[None], 0)[0])
        depth_lists.append(depths)
        prev = fwd[-1]  # (P, N)
        n_prev = prev.shape[1]
        off = offs[-1] + lo
        a = max(off, n_lo - rest_hi[j])
        z = min(off + n_prev - 1 + hi - lo, n_hi - rest_lo[j])
        width = max(z - a + 1, 0)
        new = np.full((len(groups[j + 1].lo), width), NEG)
        bp = np.zeros(new.shape, dtype=np.int32)
        bd = np.zeros(new.shape, dtype=np.int32)
        for di in range(len(depths)):
            # previous column i lands on new column i + di + off - a
            i0 = max(0, a - off - di)
            i1 = min(n_prev, a + width - off - di)
            if i1 <= i0:
                continue
            tot = prev[:, i0:i1, None] + phi[di][:, None, :]  # (P, n, C)
            am = tot.argmax(0)  # (n, C)
            mx = np.take_along_axis(tot, am[None], 0)[0].T  # (C, n)
            k0 = i0 + di + off - a
            seg = new[:, k0:k0 + i1 - i0]
            better = mx > seg
            seg[better] = mx[better]
            bp[:, k0:k0 + i1 - i0][better] = am.T[better]
            bd[:, k0:k0 + i1 - i0][better] = di
        new = np.maximum(new, NEG) + own[j + 1][:, None]
        fwd.append(new)
        offs.append(a)
        ptr_p.append(bp)
        ptr_d.append(bd)
    if final is not None:
        prev = fwd[-1]
        tot = prev[:, :, None] + final[:, None, :]  # (P, N, F)
        am = tot.argmax(0)
        fwd.append(np.take_along_axis(tot, am[None], 0)[0].T + own[J + 1][:, None])
        offs.append(offs[-1])
        ptr_p.append(am.T.astype(np.int32))
        ptr_d.append(np.zeros(am.T.shape, dtype=np.int32))
    last = fwd[-1]
    n_all = offs[-1] + np.arange(last.shape[1])
    allowed = (n_all >= n_lo) & (n_all <= n_hi)
    per_n = np.where(allowed, last.max(0) if last.size else NEG, NEG)
    n_values = np.where(per_n > NEG / 2, per_n + rel.const, NEG)
    value = float(n_values.max()) if len(n_values) else NEG
    # backward pass (best completion per unit, width and block count so far)
    bwd = [np.tile(np.where(allowed, 0.0, NEG), (len(groups[-1].lo), 1))]
    units = len(groups)
    for u in range(units - 1, 0, -1):
        nxt = bwd[0] + own[u][:, None]  # (C, N_u)
        n_prev = fwd[u - 1].shape[1]
        if final is not None and u == units - 1:
            cur = (final[:, :, None] + nxt[None, :, :]).max(1)  # (P, N)
        else:
            j = u - 1
            phi = phis[j]
            cur = np.full((len(groups[j].lo), n_prev), NEG)
            shift = offs[u - 1] + box.depth[j][0] - offs[u]
            n_u = nxt.shape[1]
            for di in range(len(depth_lists[j])):
                st = di + shift  # previous column i reads next column i + st
                i0, i1 = max(0, -st), min(n_prev, n_u - st)
                if i1 <= i0:
                    continue
                cand = (phi[di][:, :, None] + nxt[None, :, i0 + st:i1 + st]).max(1)  # (P, n)
                np.maximum(cur[:, i0:i1], cand, out=cur[:, i0:i1])
        bwd.insert(0, np.maximum(cur, NEG))
    through = [np.where((f > NEG / 2) & (b > NEG / 2), f + b, NEG).max(1) + rel.const
               if f.shape[1] else np.full(f.shape[0], NEG) for f, b in zip(fwd, bwd)]
    through = [np.where(t > NEG / 2, t, NEG) for t in through]
    # the maximiser
    design, idx, choice = None, [0] * units, []
    if value > NEG / 2:
        n = int(offs[-1] + per_n.argmax())
        idx[-1] = int(last[:, n - offs[-1]].argmax())
        for u in range(units - 1, 0, -1):
            col = n - offs[u]
            p = int(ptr_p[u - 1][idx[u], col])
            di = int(ptr_d[u - 1][idx[u], col])
            idx[u - 1] = p
            if u - 1 < J:
                depth = depth_lists[u - 1][di]
                choice.insert(0, (int(kern[u - 1][di, p, idx[u]]), depth,
                                  int(round(float(bott[u - 1][di, p, idx[u]])))))
                n -= depth
        stages = tuple((int(groups[j + 1].lo[idx[j + 1]]), b, depth, k)
                       for j, (k, depth, b) in enumerate(choice))
        design = Design(ctx.resolution, int(groups[0].lo[idx[0]]), stages,
                        int(groups[-1].lo[idx[-1]]) if ctx.final else None)
        sub, depths = _subgradient(ctx, rel, groups, idx, choice, lam, mu, d0)
    else:
        sub = np.zeros(len(lam) + (len(mu) if ctx.rho0 is not None else 0))
        depths = np.asarray(d0, float)
    exact = all(len(g.lo) == len(w) for g, w in zip(groups, box.widths))
    return SumBoundOut(value, design, sub, depths, through, groups, exact, None,
                       n_first=int(offs[-1]), n_values=n_values)
