"""Warm start: the continuous relaxation of the DeepMAD program, solved locally with SLSQP.

Widths and bottlenecks become positive reals (optimised in log space), depths become reals, the
SE width ``se(b)`` is replaced by ``b/4 - 4`` (its average on the grid) and kernels are fixed per
start. Budgets, rho and the structural constraints keep their form. The local optimum is rounded
into the space and polished by local search. This is only a heuristic for a first incumbent --
the exact solver's bounds never rely on it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.optimize import minimize

from deepmad.scores.entropy import population_std
from deepmad.solvers import terms
from deepmad.solvers._bound import Context, g_rho
from deepmad.solvers._costpoly import final_costs, stem_costs
from deepmad.solvers.space import Design

__all__ = ["continuous_starts"]


class _Model:
    def __init__(self, ctx: Context, kernels: tuple[int, ...]) -> None:
        self.ctx, self.kernels = ctx, kernels
        sp = ctx.space
        self.J = len(sp.stages)
        self.final = sp.final_conv.values()[0] if sp.final_conv is not None else None

    def unpack(self, z: np.ndarray):
        c0 = math.exp(z[0])
        st = [(math.exp(z[1 + 3 * j]), math.exp(z[2 + 3 * j]), z[3 + 3 * j]) for j in range(self.J)]
        return c0, st

    def parts(self, z: np.ndarray):
        """Continuous objective, base costs (params, torch MACs, TinyNAS FLOPs, acts, layers), LW, D."""
        ctx, sp = self.ctx, self.ctx.space
        c0, st = self.unpack(z)
        geo = ctx.geo
        cost = np.array(stem_costs(ctx, c0) + (1.0,))
        parts, layers, chans = [terms.stem_parts(sp.in_channels, sp.stem_kernel, math.log)], [1.0], [c0]
        cin = c0
        for j, (rng, (c, b, depth), k) in enumerate(zip(sp.stages, st, self.kernels)):
            nl = rng.kind.layers_per_block
            se = max(8.0, b / 4 - 4) if rng.kind.se else None  # se(b) on average over the grid
            costs = terms.stage_costs(rng.kind, rng.shortcut, cin, c, b, depth, k, rng.stride,
                                      geo.stage_in[j], geo.stage_out[j], geo.stage_rf[j], se, lat=ctx.lat)
            cost += np.array(costs + (nl * depth,))
            parts.append(terms.stage_parts(rng.kind, depth, math.log(cin), math.log(c), math.log(b), math.log(k)))
            layers.append(nl * depth)
            chans.append(c)
            cin = c
        if self.final is not None:
            cf = self.final
            cost += np.array(final_costs(ctx, cin, cf) + (1.0,))
            parts.append(terms.final_parts(math.log(cin)))
            layers.append(1.0)
            chans.append(cf)
        h = [terms.unit_entropy(x, y, ctx.f, ctx.a1, ctx.a2) for x, y in parts]
        lw = [terms.log_width(x, y) for x, y in parts]
        ends = list(ctx.ends)
        s_cum, lw_cum, d_cum = np.cumsum(h)[ends], np.cumsum(lw)[ends], np.cumsum(layers)[ends]
        m = np.log(np.array(chans)[ends]) + ctx.ls2
        obj = float(np.sum(ctx.alpha * m * s_cum))
        ds = [st[i][2] for i in ctx.pen_idx]
        if ctx.cfg.depth_penalty:
            obj -= ctx.cfg.depth_penalty * math.exp(population_std(ds) if ds else 0.0)
        return obj, cost, (chans[-1] if self.final is None else chans[-2]), lw_cum, d_cum

    def constraints(self, z: np.ndarray) -> np.ndarray:
        """>= 0 when satisfied: budgets (relative) and rho per stage."""
        ctx = self.ctx
        _, cost, nf, lw, d = self.parts(z)
        nf = self.final or nf
        out = []
        for row in ctx.rows:
            out.append(-row.sense * (row.value(cost, nf, ctx.nc) / max(row.limit, 1.0) - 1.0))
        if ctx.rho0 is not None:
            out += [(lw_s - g_rho(d_s, ctx.rho0)) / max(1.0, d_s) for lw_s, d_s in zip(lw, d)]
        return np.array(out)


def _bounds_and_links(ctx: Context):
    sp = ctx.space
    bounds = [(math.log(sp.stem.values()[0]), math.log(sp.stem.values()[-1]))]
    links = []  # linear inequalities A z >= 0
    n = 1 + 3 * len(sp.stages)
    for j, rng in enumerate(sp.stages):
        wv = rng.width.values()
        bounds.append((math.log(wv[0]), math.log(wv[-1])))
        bn = rng.bottleneck
        if bn.ratio:
            bounds.append((math.log(max(1.0, bn.lo * wv[0])), math.log(bn.hi * wv[-1])))
            for sign, off in ((1, -math.log(bn.lo)), (-1, math.log(bn.hi))):
                links.append((sign, 2 + 3 * j, -sign, 1 + 3 * j, off))  # v - u >= ln lo ; u - v >= -ln hi
        else:
            bounds.append((math.log(max(1.0, bn.lo)), math.log(bn.hi)))
        if sp.caps_bottleneck(j):
            links.append((1, 1 + 3 * j, -1, 2 + 3 * j, 0.0))
        bounds.append((float(rng.depth[0]), float(rng.depth[1])))
        if sp.nondecreasing:
            links.append((1, 1 + 3 * j, -1, 3 * j - 2 if j else 0, 0.0))

    def lin(z: np.ndarray) -> np.ndarray:
        return np.array([a * z[i] + b * z[k] + off for a, i, b, k, off in links]) if links else np.zeros(1)
    return bounds, lin, n


def continuous_starts(ctx: Context, depths: tuple[float, ...] = (2.0, 6.0, 14.0),
                      roundings: bool = False) -> list[Design]:
    """Rounded local optima of the continuous relaxation, one per start (all-max kernels).

    ``roundings=True`` returns, per local optimum, every floor/ceil rounding of its real depths
    (one design per depth vector: starts that reach the same optimum add nothing): the nearest
    rounding is often not the depth vector of the best designs nearby, and local search rarely
    changes a depth once widths fill the budgets.
    """
    sp = ctx.space
    bounds, lin, n = _bounds_and_links(ctx)
    kernels = tuple(max(r.kernels) for r in sp.stages)
    model = _Model(ctx, kernels)
    out: list[Design] = []
    seen: set[tuple[int, ...]] = set()
    final = sp.final_conv.values()[0] if sp.final_conv is not None else None
    for d in depths:
        z0 = np.array([(a + b) / 2 if i % 3 != 0 or i == 0 else min(max(d, a), b)
                       for i, (a, b) in enumerate(bounds)])
        res = minimize(lambda z: -model.parts(z)[0] / 1e4, z0, method="SLSQP", bounds=bounds,
                       constraints=[{"type": "ineq", "fun": model.constraints}, {"type": "ineq", "fun": lin}],
                       options={"maxiter": 200, "ftol": 1e-9})
        c0, st = model.unpack(res.x)
        choices = ([sorted({math.floor(L), math.ceil(L)}) for _, _, L in st] if roundings
                   else [[int(round(L))] for _, _, L in st])
        for ls in itertools.product(*choices):
            if roundings and ls in seen:
                continue
            seen.add(ls)
            stages = tuple((int(round(c)), int(round(b)), int(L), k) for (c, b, _), L, k in zip(st, ls, kernels))
            design = Design(ctx.resolution, int(round(c0)), stages, final)
            if design not in out:
                out.append(design)
    return out
