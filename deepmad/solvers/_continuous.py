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

from deepmad.solvers._bound import Context, g_rho
from deepmad.solvers.fasteval import KIND_TERMS, stage_costs
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
        f, a1, a2 = ctx.f, ctx.a1, ctx.a2
        r, side = ctx.resolution, ctx.geo.stem_out
        w0 = sp.in_channels * c0 * sp.stem_kernel ** 2
        cost = np.array([w0 + 2 * c0, w0 * side * side, (w0 + 3 * c0) / sp.stem_stride ** 2 * r * r,
                         c0 * side * side, 1.0])
        terms, lw, layers, chans = [ctx.T0], [ctx.LW0], [1.0], [c0]
        cin = c0
        for j, (rng, (c, b, depth), k) in enumerate(zip(sp.stages, st, self.kernels)):
            nl, nb, nk, _ = KIND_TERMS[rng.block]
            se = max(8.0, b / 4 - 4) if rng.block == "res_k1dwsek1" else None
            p, m, fl, a = stage_costs(rng.block, rng.shortcut, cin, c, b, depth, k, rng.stride,
                                      ctx.geo.stage_in[j], ctx.geo.stage_out[j], ctx.geo.stage_rf[j], se)
            cost += np.array([p, m, fl, a, nl * depth])
            terms.append(f * (a1 * (math.log(cin) + (depth - 1) * math.log(c)) + depth * (a1 * nb * math.log(b) + a2 * nk * math.log(k))))
            lw.append(math.log(cin) + (depth - 1) * math.log(c) + depth * (nb * math.log(b) + nk * math.log(k)))
            layers.append(nl * depth)
            chans.append(c)
            cin = c
        if self.final is not None:
            cf, s2, rf = self.final, ctx.geo.stage_out[-1] ** 2, ctx.geo.final_rf
            cost += np.array([cin * cf + 2 * cf, cin * cf * s2, (cin * cf + 3 * cf) * rf * rf, cf * s2, 1.0])
            terms.append(f * a1 * math.log(cin))
            lw.append(math.log(cin))
            layers.append(1.0)
            chans.append(cf)
        ends = list(ctx.ends)
        s_cum, lw_cum, d_cum = np.cumsum(terms)[ends], np.cumsum(lw)[ends], np.cumsum(layers)[ends]
        m = np.log(np.array(chans)[ends]) + ctx.ls2
        obj = float(np.sum(ctx.alpha * m * s_cum))
        ds = [st[i][2] for i in ctx.pen_idx]
        if ctx.cfg.depth_penalty:
            obj -= ctx.cfg.depth_penalty * math.exp(float(np.std(ds)) if ds else 0.0)
        return obj, cost, (chans[-1] if self.final is None else chans[-2]), lw_cum, d_cum

    def constraints(self, z: np.ndarray) -> np.ndarray:
        """>= 0 when satisfied: budgets (relative) and rho per stage."""
        ctx = self.ctx
        _, cost, nf, lw, d = self.parts(z)
        nf = self.final or nf
        out = []
        for _, sg, lim, w, p, m, cc in ctx.rows:
            q = float(w @ cost) + (p + m) * nf * ctx.nc + cc
            out.append(-sg * (q / max(lim, 1.0) - 1.0))
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
