"""The DeepMAD program as one MINLP, solved globally by SCIP (pyscipopt), with a time limit.

DeepMAD (Shen et al., CVPR 2023, arXiv 2303.02165) calls for "off-the-shelf MP solvers". This
model is exact on the space: every width, bottleneck and kernel choice is a set of binaries
(one per allowed value), so ``ln c``, ``ln b``, ``ln k`` and the SE width ``se(b)`` are exact
linear tables; ``c``, ``b``, ``k`` and their logs are continuous variables tied to the tables;
depths are integers. The costs are the polynomials of :mod:`deepmad.solvers.fasteval` written in
those variables (the same code), rho uses ``LW_s >= D_s (ln D_s - ln r0)``, and the objective
``sum_s alpha_s m_s S_s - beta exp(std L)`` is a nonconvex polynomial plus exp/sqrt, bounded by an
epigraph variable. SCIP's primal/dual bound, gap and node count are reported as is; its status is
mapped onto :mod:`deepmad.solvers.status` (``optimal`` only at a zero gap; SCIP's own Ctrl-C
handler ends a solve with ``userinterrupt``, reported as ``interrupted``).

``pyscipopt`` is an optional dependency (``pip install deepmad[scip]``), imported only when this
solver runs (:func:`scip_model`). It is warm-started with the continuous-relaxation heuristic (:mod:`deepmad.solvers._continuous`)
as a partial solution. On full-size spaces SCIP's spatial branch-and-bound is slow (the issue's
measurement: no feasible point in 120 s for a naive ResNet-50 model); :class:`ExactSolver` is the
fast exact route, and this model is the independent cross-check.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from deepmad.errors import DeepmadError
from deepmad.solvers._bound import Context
from deepmad.solvers.diagnose import diagnose, infeasibility_message
from deepmad.solvers.problem import DesignProblem, DesignResult, finish
from deepmad.solvers.status import from_scip, relative_gap

__all__ = ["ScipConfig", "ScipSolver", "scip_model"]


@dataclass(frozen=True)
class ScipConfig:
    """Options of :class:`ScipSolver`."""

    time_limit: float = 30.0  # seconds (the CLI's --time-limit default)
    gap: float = 0.01  # SCIP limits/gap (the CLI's --gap default)
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
        model_class = scip_model()
        shortfalls = diagnose(problem)
        if shortfalls:
            return finish(problem, None, "scip", "infeasible", infeasibility_message(problem, shortfalls),
                          -math.inf, -math.inf, 0, time.perf_counter() - t0)
        best, primal, dual, nodes, statuses = None, -math.inf, -math.inf, 0, []
        res_list = list(problem.space.resolutions)
        for i, res in enumerate(res_list):
            left = self.config.time_limit - (time.perf_counter() - t0)
            model = model_class(Context(problem, res), self.config, max(1.0, left / (len(res_list) - i)))
            design, p, d, n, st = model.run()
            nodes += n
            statuses.append(st)
            dual = max(dual, d)
            if design is not None and p > primal:
                best, primal = design, p
        status = _status(statuses, primal, dual, best is not None)
        msg = f"SCIP status per resolution: {dict(zip(res_list, statuses))}"
        if best is None:
            msg = "SCIP found no feasible design before the limit; " + msg
        return finish(problem, best, "scip", status, msg, primal, dual, nodes, time.perf_counter() - t0)


def _status(raw: list[str], primal: float, dual: float, found: bool) -> str:
    """One status (deepmad.solvers.status) from SCIP's per resolution: the first that did not
    finish, else ``optimal`` / ``gap_limit`` by the combined gap."""
    done = ("optimal", "gaplimit")  # gaplimit: SCIP proved the requested gap
    unfinished = [s for s in raw if s not in done]
    if unfinished:
        return from_scip(unfinished[0], math.inf)
    if not found:
        return "infeasible"
    return from_scip("optimal", relative_gap(primal, dual))


def scip_model() -> type:
    """The SCIP model class (:mod:`deepmad.solvers._scip_model`); a one-line error without pyscipopt."""
    try:
        from deepmad.solvers._scip_model import ScipModel
    except ImportError as exc:
        raise DeepmadError("--solver scip needs the optional package pyscipopt "
                           f"({exc}); install it with: pip install 'deepmad[scip]'") from None
    return ScipModel


def _check_supported(problem: DesignProblem) -> None:
    for i, st in enumerate(problem.space.stages):
        if st.kind.layers_per_block != 3 or st.shortcut != "tinynas":
            raise DeepmadError(f"stage {i + 1} ({st.block}, shortcut {st.shortcut}) is not supported by the "
                               "scip solver; allowed: K1KXK1 / K1DW(SE)K1 with tinynas shortcuts (use exact)")
    if any(b.quantity == "rho" and b.lower for b in problem.budgets):
        raise DeepmadError("a lower bound on rho is not supported by the scip solver")


