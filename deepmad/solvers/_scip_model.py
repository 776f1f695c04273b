"""The SCIP model of :mod:`deepmad.solvers.scip` (imports pyscipopt; see that module).

The costs and entropy parts are the functions of :mod:`deepmad.solvers.terms`, evaluated on SCIP
expressions: every width, bottleneck and kernel is a table of binaries with its value and log as
continuous variables, depths are integers.
"""

from __future__ import annotations

import math

from pyscipopt import SCIP_PARAMSETTING, Model, exp, log, quicksum, sqrt

from deepmad.scores.entropy import population_std
from deepmad.solvers import terms
from deepmad.solvers._bound import Context
from deepmad.solvers._continuous import continuous_starts
from deepmad.solvers._costpoly import final_costs, stem_costs
from deepmad.solvers._local import local_search
from deepmad.solvers.space import Design
from deepmad.solvers.terms import LAYERS, se_of

__all__ = ["ScipModel"]

_POOLED = terms.COST_NAMES.index("macs_tinynas")  # the quantity holding the average-pool term
_LATENCY = terms.COST_NAMES.index("latency_ms")
_OBJ_SCALE = 1e4  # the objective variable is in units of 1e4 (DeepMAD objectives are ~1e3..1e5)


class ScipModel:
    """One SCIP model for one resolution."""

    def __init__(self, ctx: Context, cfg, time_limit: float) -> None:
        self.ctx, self.cfg = ctx, cfg
        m = self.m = Model()
        if not cfg.verbose:
            m.hideOutput()
        m.setParam("limits/time", time_limit)
        m.setParam("limits/gap", cfg.gap)
        if not cfg.presolve:
            m.setPresolve(SCIP_PARAMSETTING.OFF)
        self.tables: list[dict[int, object]] = []  # binaries per choice, for warm starts
        self._build()

    def choice(self, values: tuple[int, ...], name: str):
        """Binaries z_v (sum 1); continuous x = sum v z_v and lx = sum ln(v) z_v."""
        m = self.m
        z = {v: m.addVar(vtype="B", name=f"{name}_{v}") for v in values}
        m.addCons(quicksum(z.values()) == 1)
        x = m.addVar(lb=min(values), ub=max(values), name=name)
        lx = m.addVar(lb=math.log(min(values)), ub=math.log(max(values)), name=f"ln_{name}")
        m.addCons(x == quicksum(v * zv for v, zv in z.items()))
        m.addCons(lx == quicksum(math.log(v) * zv for v, zv in z.items()))
        self.tables.append(z)
        return z, x, lx

    def _build(self) -> None:
        ctx, m, sp = self.ctx, self.m, self.ctx.space
        geo = ctx.geo
        z0, c0, lc0 = self.choice(sp.stem.values(), "stem")
        cost = list(stem_costs(ctx, c0))
        parts, layers, chans = [terms.stem_parts(sp.in_channels, sp.stem_kernel, math.log)], [1], [lc0]
        self.depth_vars = []
        cin, zin, lcin = c0, z0, lc0
        for j, rng in enumerate(sp.stages):
            zc, c, lc = self.choice(rng.width.values(), f"c{j}")
            b, lb, se = self._bottleneck(j, zc, c)
            zk, k, lk = self.choice(rng.kernels, f"k{j}")
            depth = m.addVar(vtype="I", lb=rng.depth[0], ub=rng.depth[1], name=f"L{j}")
            self.depth_vars.append(depth)
            kind = rng.kind
            no_proj = kind.projection == "none"  # the pool exists only when c_in == c: a table
            part = list(terms.stage_costs(kind, rng.shortcut, cin, c, b, depth, k, rng.stride, geo.stage_in[j],
                                          geo.stage_out[j], geo.stage_rf[j], se if kind.se else None,
                                          pool=not no_proj))
            if ctx.lat is not None:  # the op class follows the kernel: price each kernel's binary
                part[_LATENCY] = quicksum(zv * terms.stage_costs(
                    kind, rng.shortcut, cin, c, b, depth, v, rng.stride, geo.stage_in[j], geo.stage_out[j],
                    geo.stage_rf[j], se if kind.se else None, pool=not no_proj, lat=ctx.lat)[_LATENCY]
                    for v, zv in zk.items())
            if no_proj and rng.stride == 2:
                part[_POOLED] = part[_POOLED] + geo.stage_rf[j] ** 2 * quicksum(
                    v * zin[v] * zc[v] for v in zin if v in zc)
            cost = [a + x for a, x in zip(cost, part)]
            if sp.nondecreasing:
                m.addCons(c >= cin)
            parts.append(terms.stage_parts(kind, depth, lcin, lc, lb, lk))
            layers.append(kind.layers_per_block * depth)
            chans.append(lc)
            cin, zin, lcin = c, zc, lc
        nf = cin
        if sp.final_conv is not None:
            zf, cf, lcf = self.choice(sp.final_conv.values(), "final")
            cost = [a + x for a, x in zip(cost, final_costs(ctx, cin, cf))]
            parts.append(terms.final_parts(lcin))
            layers.append(1)
            chans.append(lcf)
            nf = cf
        h = [terms.unit_entropy(x, y, ctx.f, ctx.a1, ctx.a2) for x, y in parts]
        lws = [terms.log_width(x, y) for x, y in parts]
        self._constraints(cost, nf, sum(layers), lws, layers)
        self._objective(h, chans)

    def _bottleneck(self, j: int, zc: dict, c):
        """Bottleneck binaries over the union of allowed values, tied to the chosen width."""
        sp, m = self.ctx.space, self.m
        per_width = {v: sp.bottleneck_values(j, v) for v in zc}
        extras = set(sp.stages[j].bottleneck.extra)
        values = tuple(sorted(set().union(*per_width.values())))
        zb, b, lb = self.choice(values, f"b{j}")
        grid = {v: [x for x in vs if x not in extras] or list(vs) for v, vs in per_width.items()}
        use_extra = quicksum(zb[e] for e in extras if e in zb)
        big = max(values)
        m.addCons(b >= quicksum(min(grid[v]) * zv for v, zv in zc.items()) - big * use_extra)
        m.addCons(b <= quicksum(max(grid[v]) * zv for v, zv in zc.items()) + big * use_extra)
        for e in extras:
            if e in zb and sp.caps_bottleneck(j):
                m.addCons(e * zb[e] <= c)
        se = quicksum(se_of(w) * zw for w, zw in zb.items())
        return b, lb, se

    def _constraints(self, cost, nf, layers, lws, layer_list) -> None:
        ctx, m = self.ctx, self.m
        nc = ctx.nc
        for r in ctx.rows:
            q = (quicksum(float(r.weights[i]) * cost[i] for i in range(LAYERS)) + r.weights[LAYERS] * layers
                 + (r.head_params + r.head_macs) * nc * nf + r.const)
            scale = 1.0 / max(r.limit, 1.0)  # relative rows: SCIP's tolerances are absolute
            m.addCons(q * scale <= 1.0 if r.sense > 0 else q * scale >= 1.0)
        if ctx.rho0 is not None:
            for e in ctx.ends:
                d = quicksum(layer_list[: e + 1])
                m.addCons(quicksum(lws[: e + 1]) >= d * (log(d) - math.log(ctx.rho0)))

    def _objective(self, h, chans) -> None:
        ctx, m = self.ctx, self.m
        obj = 0
        for s, e in enumerate(ctx.ends):
            if ctx.alpha[s]:
                obj = obj + ctx.alpha[s] * (chans[e] + ctx.ls2[s]) * quicksum(h[: e + 1])
        beta = ctx.cfg.depth_penalty
        ls = [self.depth_vars[i] for i in ctx.pen_idx]
        if beta and len(ls) >= 2:
            obj = obj - beta * exp(population_std(ls, sqrt, eps=1e-9))
        elif beta:
            obj = obj - beta
        self.t = m.addVar(lb=None, ub=None, name="objective")  # in units of _OBJ_SCALE
        m.addCons(self.t * _OBJ_SCALE <= obj)
        m.setObjective(self.t, "maximize")

    def warm_start(self) -> None:
        """Partial solution (choices and depths) from the continuous relaxation + local search."""
        problem = self.ctx.problem
        best = None
        for d in continuous_starts(self.ctx, (3.0, 12.0)):
            d, ev = local_search(problem, d, max_moves=400, pairs=True)
            if ev.feasible and (best is None or ev.objective > best[1]):
                best = (d, ev.objective)
        if best is None:
            return
        d = best[0]
        picks = [d.stem] + [x for (c, b, _, k) in d.stages for x in (c, b, k)] + ([d.final] if d.final else [])
        sol = self.m.createPartialSol()
        for table, v in zip(self.tables, picks):
            for key, var in table.items():
                self.m.setSolVal(sol, var, 1.0 if key == v else 0.0)
        for var, (_, _, depth, _) in zip(self.depth_vars, d.stages):
            self.m.setSolVal(sol, var, depth)
        self.m.addSol(sol)

    def run(self) -> tuple[Design | None, float, float, int, str]:
        if self.cfg.warm_start:
            self.warm_start()
        self.m.optimize()
        status = self.m.getStatus()
        nodes = self.m.getNNodes()
        dual = self.m.getDualbound()
        if self.m.getNSols() == 0:
            return None, -math.inf, dual * _OBJ_SCALE, nodes, status
        return self._design(), self.m.getObjVal() * _OBJ_SCALE, dual * _OBJ_SCALE, nodes, status

    def _design(self) -> Design:
        sol = self.m.getBestSol()

        def pick(table: dict) -> int:
            return max(table, key=lambda v: self.m.getSolVal(sol, table[v]))

        picks = [pick(t) for t in self.tables]
        stem, rest = picks[0], picks[1:]
        stages = []
        for j, var in enumerate(self.depth_vars):
            c, b, k = rest[3 * j: 3 * j + 3]
            stages.append((c, b, int(round(self.m.getSolVal(sol, var))), k))
        final = rest[-1] if self.ctx.final else None
        return Design(self.ctx.resolution, stem, tuple(stages), final)
