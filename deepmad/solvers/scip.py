"""The DeepMAD program as one MINLP, solved globally by SCIP (pyscipopt), with a time limit.

DeepMAD (Shen et al., CVPR 2023, arXiv 2303.02165) calls for "off-the-shelf MP solvers". This
model is exact on the space: every width, bottleneck and kernel choice is a set of binaries
(one per allowed value), so ``ln c``, ``ln b``, ``ln k`` and the SE width ``se(b)`` are exact
linear tables; ``c``, ``b``, ``k`` and their logs are continuous variables tied to the tables;
depths are integers. The costs are the polynomials of :mod:`deepmad.solvers.fasteval` written in
those variables (the same code), rho uses ``LW_s >= D_s (ln D_s - ln r0)``, and the objective
``sum_s alpha_s m_s S_s - beta exp(std L)`` is a nonconvex polynomial plus exp/sqrt, bounded by an
epigraph variable. SCIP's status, primal/dual bound, gap and node count are reported as is.

It is warm-started with the continuous-relaxation heuristic (:mod:`deepmad.solvers._continuous`)
as a partial solution. On full-size spaces SCIP's spatial branch-and-bound is slow (the issue's
measurement: no feasible point in 120 s for a naive ResNet-50 model); :class:`ExactSolver` is the
fast exact route, and this model is the independent cross-check.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from pyscipopt import SCIP_PARAMSETTING, Model, exp, log, quicksum, sqrt

from deepmad.errors import DeepmadError
from deepmad.solvers._bound import Context
from deepmad.solvers._continuous import continuous_starts
from deepmad.solvers._local import local_search
from deepmad.solvers.diagnose import diagnose, infeasibility_message
from deepmad.solvers.fasteval import KIND_TERMS, se_of, stage_costs
from deepmad.solvers.problem import DesignProblem, DesignResult, finish
from deepmad.solvers.space import Design

__all__ = ["ScipConfig", "ScipSolver"]

_OBJ_SCALE = 1e4  # the objective variable is in units of 1e4 (DeepMAD objectives are ~1e3..1e5)


@dataclass(frozen=True)
class ScipConfig:
    """Options of :class:`ScipSolver`."""

    time_limit: float = 60.0
    gap: float = 1e-3  # SCIP limits/gap
    warm_start: bool = True
    # SCIP 10.0's presolve "proves" wrong optima on the full-size models (e.g. like deepmad_r50:
    # status optimal at 4529 while designs of 54415 are feasible in the same model); off by default.
    presolve: bool = False
    verbose: bool = False


class ScipSolver:
    """Direct MINLP model solved by SCIP (see the module docstring)."""

    name = "scip"

    def __init__(self, config: ScipConfig | None = None, **overrides: object) -> None:
        self.config = replace(config or ScipConfig(), **overrides)

    def solve(self, problem: DesignProblem) -> DesignResult:
        """Solve per allowed resolution; return the best design with SCIP's certificate."""
        t0 = time.perf_counter()
        _check_supported(problem)
        shortfalls = diagnose(problem)
        if shortfalls:
            return finish(problem, None, "scip", "infeasible", infeasibility_message(problem, shortfalls),
                          -math.inf, -math.inf, 0, time.perf_counter() - t0)
        best, primal, dual, nodes, statuses = None, -math.inf, -math.inf, 0, []
        res_list = list(problem.space.resolutions)
        for i, res in enumerate(res_list):
            left = self.config.time_limit - (time.perf_counter() - t0)
            model = _Model(Context(problem, res), self.config, max(1.0, left / (len(res_list) - i)))
            design, p, d, n, st = model.run()
            nodes += n
            statuses.append(st)
            dual = max(dual, d)
            if design is not None and p > primal:
                best, primal = design, p
        done = ("optimal", "gaplimit")  # gaplimit: SCIP proved the requested gap
        status = "optimal" if all(s in done for s in statuses) else next(s for s in statuses if s not in done)
        msg = f"SCIP status per resolution: {dict(zip(res_list, statuses))}"
        if best is None:
            msg = "SCIP found no feasible design before the limit; " + msg
        return finish(problem, best, "scip", status, msg, primal, dual, nodes, time.perf_counter() - t0)


def _check_supported(problem: DesignProblem) -> None:
    for i, st in enumerate(problem.space.stages):
        if st.block == "res_kxkx" or st.shortcut != "tinynas":
            raise DeepmadError(f"stage {i + 1} ({st.block}, shortcut {st.shortcut}) is not supported by the "
                               "scip solver; allowed: K1KXK1 / K1DW(SE)K1 with tinynas shortcuts (use exact)")
    if any(b.quantity == "rho" and b.lower for b in problem.budgets):
        raise DeepmadError("a lower bound on rho is not supported by the scip solver")


class _Model:
    """One SCIP model for one resolution."""

    def __init__(self, ctx: Context, cfg: ScipConfig, time_limit: float) -> None:
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
        f, a1, a2 = ctx.f, ctx.a1, ctx.a2
        z0, c0, lc0 = self.choice(sp.stem.values(), "stem")
        r, side = ctx.resolution, ctx.geo.stem_out
        w0 = sp.in_channels * sp.stem_kernel ** 2 * c0
        cost = [w0 + 2 * c0, w0 * side * side, (w0 + 3 * c0) / sp.stem_stride ** 2 * r * r, side * side * c0]
        terms, lws, layers, chans = [ctx.T0], [ctx.LW0], [1], [lc0]
        self.depth_vars = []
        cin, zin, lcin = c0, z0, lc0
        for j, rng in enumerate(sp.stages):
            zc, c, lc = self.choice(rng.width.values(), f"c{j}")
            b, lb, se = self._bottleneck(j, zc, c)
            zk, k, lk = self.choice(rng.kernels, f"k{j}")
            depth = m.addVar(vtype="I", lb=rng.depth[0], ub=rng.depth[1], name=f"L{j}")
            self.depth_vars.append(depth)
            dw = rng.block != "res_k1kxk1"
            p, mt, fl, ac = stage_costs(rng.block, rng.shortcut, cin, c, b, depth, k, rng.stride,
                                        ctx.geo.stage_in[j], ctx.geo.stage_out[j], ctx.geo.stage_rf[j],
                                        se if rng.block == "res_k1dwsek1" else None, pool=not dw)
            if dw and rng.stride == 2:  # average-pool shortcut only when c_in == c
                fl = fl + ctx.geo.stage_rf[j] ** 2 * quicksum(v * zin[v] * zc[v] for v in zin if v in zc)
            cost = [a + x for a, x in zip(cost, (p, mt, fl, ac))]
            if sp.nondecreasing:
                m.addCons(c >= cin)
            nl, nb, nk, _ = KIND_TERMS[rng.block]
            terms.append(f * (a1 * (lcin + (depth - 1) * lc) + depth * (a1 * nb * lb + a2 * nk * lk)))
            lws.append(lcin + (depth - 1) * lc + depth * (nb * lb + nk * lk))
            layers.append(nl * depth)
            chans.append(lc)
            cin, zin, lcin = c, zc, lc
        nf = cin
        if sp.final_conv is not None:
            zf, cf, lcf = self.choice(sp.final_conv.values(), "final")
            s2, rf = ctx.geo.stage_out[-1] ** 2, ctx.geo.final_rf
            cost = [cost[0] + cin * cf + 2 * cf, cost[1] + cin * cf * s2, cost[2] + (cin * cf + 3 * cf) * rf * rf,
                    cost[3] + cf * s2]
            terms.append(f * a1 * lcin)
            lws.append(lcin)
            layers.append(1)
            chans.append(lcf)
            nf = cf
        self._constraints(cost, nf, sum(layers), lws, layers)
        self._objective(terms, chans)

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
        for _, sg, lim, w, p, mm, cc in ctx.rows:
            q = (w[0] * cost[0] + w[1] * cost[1] + w[2] * cost[2] + w[3] * cost[3] + w[4] * layers
                 + (p + mm) * nc * nf + cc)
            scale = 1.0 / max(lim, 1.0)  # relative rows: SCIP's tolerances are absolute
            m.addCons(q * scale <= 1.0 if sg > 0 else q * scale >= 1.0)
        if ctx.rho0 is not None:
            for e in ctx.ends:
                d = quicksum(layer_list[: e + 1])
                m.addCons(quicksum(lws[: e + 1]) >= d * (log(d) - math.log(ctx.rho0)))

    def _objective(self, terms, chans) -> None:
        ctx, m = self.ctx, self.m
        obj = 0
        for s, e in enumerate(ctx.ends):
            if ctx.alpha[s]:
                obj = obj + ctx.alpha[s] * (chans[e] + ctx.ls2[s]) * quicksum(terms[: e + 1])
        beta = ctx.cfg.depth_penalty
        ls = [self.depth_vars[i] for i in ctx.pen_idx]
        if beta and len(ls) >= 2:
            n = len(ls)
            var = quicksum(x * x for x in ls) / n - quicksum(ls) * quicksum(ls) / (n * n)
            obj = obj - beta * exp(sqrt(var + 1e-9))
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
