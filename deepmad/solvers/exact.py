"""Exact solver of the DeepMAD program: Lagrangian branch-and-bound with a proven gap.

DeepMAD (Shen et al., CVPR 2023, arXiv 2303.02165) poses design as a mathematical program that
"off-the-shelf MP solvers" should solve; a direct SCIP model of the ResNet-50 program finds no
feasible point in 120 s. This solver exploits the program's structure instead:

* **Bounds** (:mod:`deepmad.solvers._bound`, :mod:`deepmad.solvers._dp`): for a box of the
  space (depth interval, kernel set and width set per stage) and any multipliers, the maximum of
  a Lagrangian relaxation is computed *exactly* by a dynamic program over the chain of stage
  widths, so every node bound is valid whatever the multipliers. Multipliers are tuned per node
  by a trust-region cutting-plane method (:mod:`deepmad.solvers._dual`); a node whose multiplier
  search has not converged when it reaches the top of the queue continues that search (its
  bundle is kept) before it is branched, so the work goes to the nodes that decide the gap.
* **Branching** on depth intervals (the relaxation is convex in each depth, so it needs them
  narrow), then kernel sets, then widths; widths are first scored in groups of consecutive values
  (cheap, valid, looser) and refined as the depth intervals narrow.
* **Reduced-cost filtering**: a width whose best relaxation value through it cannot beat the
  incumbent is removed from the node's domain.
* **Primal**: the relaxation's maximisers, fitted to the budgets (widths only) and improved by
  local search (:mod:`deepmad.solvers._local`); and *depth dives*, a best-first search over the
  depth vectors next to the incumbent, each bounded as a leaf box whose maximiser (with prices
  raised until it fits) seeds a local search (:mod:`deepmad.solvers._dive`). Dives get a start
  allowance of counted DP work (``dive_allowance``) and ``dive_share`` (0) of the search's work.

The search is best-first and fully deterministic. It stops when the best open bound is within
``gap`` (relative) of the incumbent; the reported dual bound is the largest bound of any open or
tolerance-pruned node, so the reported gap is a real certificate. Every returned design is
re-checked with ``count_network`` and ``score_spec``. Statuses follow
:mod:`deepmad.solvers.status` (``optimal`` only at a zero gap). Ctrl-C (``KeyboardInterrupt``)
stops the search and returns the incumbent with status ``interrupted`` and its certified gap;
``progress`` (a callable) receives a :class:`Progress` every ``progress_every`` seconds.

Module map: this file (configuration, incumbents, the main loop, the result),
:mod:`deepmad.solvers._branch` (nodes: bound, filter, branch, leaf MILPs) and
:mod:`deepmad.solvers._dive` (depth dives).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from deepmad.solvers._bound import Context
from deepmad.solvers._branch import Branching, Node, SearchStats
from deepmad.solvers._continuous import continuous_starts
from deepmad.solvers._dive import Dives
from deepmad.solvers._local import local_search, snap
from deepmad.solvers.diagnose import diagnose, infeasibility_message
from deepmad.solvers.problem import DesignProblem, DesignResult, Evaluation, finish
from deepmad.solvers.space import Design
from deepmad.solvers.status import certified_status, relative_gap

__all__ = ["ExactConfig", "ExactSolver", "Progress"]


class Progress(NamedTuple):
    """A snapshot of a running search, for progress lines."""

    elapsed: float  # seconds
    incumbent: float  # best objective found (-inf: none yet)
    bound: float  # best open bound (an upper bound of the optimum)
    gap: float  # relative gap (inf without an incumbent)
    nodes: int
    evaluations: int  # bound evaluations


@dataclass(frozen=True)
class ExactConfig:
    """Options of :class:`ExactSolver`."""

    time_limit: float = 30.0  # seconds (the CLI's --time-limit default)
    gap: float = 0.01  # relative optimality tolerance (the CLI's --gap default)
    node_limit: int = 1_000_000
    # width groups per unit while depth intervals are wide; None: 24 for spaces with SE blocks (a
    # cell costs more there: residue classes of the SE width, three kernels), else 32
    groups: int | None = None
    dual_iters_root: int = 30
    dual_iters: int = 8
    # dives' DP work per unit of the search's DP work (primal heuristic), beyond a start allowance;
    # 0 since the rounded continuous starts: on the --like budgets dives then found nothing
    dive_share: float = 0.0
    dive_allowance: int = 2_000_000  # DP work the dives may use before the search has spent any
    dive_iters: int = 6  # multiplier steps per dive leaf
    dive_patience: int = 15  # dives pause after this many leaves without a better incumbent
    refines: int = 2  # continue an unconverged multiplier search this often before branching
    roundings: bool = True  # start from every floor/ceil rounding of the continuous optimum's depths
    # HiGHS seconds for the MILP bound of a box with fixed depths (deepmad.solvers._depthleaf); 0: off
    leaf_milp_time: float = 0.3
    progress: Callable[[Progress], None] | None = None  # called every progress_every seconds
    progress_every: float = 5.0
    # warm start (e.g. a neighbouring budget's optimum in a sweep): offered as an incumbent after the
    # continuous starts; snapped into the space, fitted to the budgets and kept only if feasible
    start: Design | None = None


class ExactSolver:
    """Lagrangian branch-and-bound; see the module docstring."""

    name = "exact"

    def __init__(self, config: ExactConfig | None = None, **overrides: object) -> None:
        self.config = replace(config or ExactConfig(), **overrides)

    def solve(self, problem: DesignProblem) -> DesignResult:
        """Maximise ``problem``'s objective; returns a verified :class:`DesignResult`."""
        return _Search(problem, self.config).run()


class _Search(Branching, Dives):
    """One run of the exact solver (see the module docstring)."""

    def __init__(self, problem: DesignProblem, cfg: ExactConfig) -> None:
        self.problem, self.cfg = problem, cfg
        self.t0 = time.perf_counter()
        self.inc: Design | None = None
        self.inc_ev: Evaluation | None = None
        self.pruned = -math.inf
        self.stats = SearchStats()
        self.heap: list[tuple[float, int, int, Node]] = []
        self.tick = itertools.count()
        self.seen: set[Design] = set()
        self.trajectory: list[tuple[float, float]] = []  # (seconds, incumbent objective)
        self.root_y: dict[int, np.ndarray] = {}  # root multipliers per resolution
        self.dived: Design | None = None  # last incumbent whose depths seeded the dive
        self.leaves: list = []  # dive queue: (-leaf bound, tick, (resolution, kernels, depths))
        self.leaf_seen: set = set()
        self.dry = 0  # dive leaves bounded since the incumbent last improved
        self.in_flight = -math.inf  # bound of a node taken off the heap and not yet replaced by its kids
        self.last_progress = self.t0

    # --- incumbent ------------------------------------------------------------------------
    @property
    def inc_obj(self) -> float:
        return self.inc_ev.objective if self.inc_ev is not None else -math.inf

    def threshold(self) -> float:
        if self.inc_ev is None:
            return -math.inf
        return self.inc_obj + self.cfg.gap * abs(self.inc_obj)

    def offer(self, design: Design | None, search: bool = False, force: bool = False) -> None:
        """Evaluate a candidate (and optionally improve it by local search)."""
        if design is None:
            return
        design = snap(self.problem.space, design)
        if design in self.seen and not search:
            return
        self.seen.add(design)
        ev = self.problem.evaluate(design)
        t = time.perf_counter()
        if search and not force and not ev.feasible and ev.violation < 0.05:
            # fit the widths to the budgets first (a depth move cuts more violation, at a larger loss)
            design, ev = local_search(self.problem, design, max_moves=200, pairs=False, structure=False)
        if force or search and ev.feasible and ev.objective > self.inc_obj - 0.02 * abs(self.inc_obj):
            design, ev = local_search(self.problem, design, max_moves=400, pairs=force)
        if search and not force and ev.feasible and ev.objective > self.inc_obj:
            design, ev = local_search(self.problem, design, max_moves=400, pairs=True)  # a new incumbent
        self.stats.ls_time += time.perf_counter() - t
        if ev.feasible and ev.objective > self.inc_obj:
            self.inc, self.inc_ev = design, ev
            self.trajectory.append((self.elapsed(), ev.objective))

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    # --- primal: leaf relaxations around the incumbent ---------------------------------------
    # --- main loop -------------------------------------------------------------------------
    def run(self) -> DesignResult:
        """Search until the gap tolerance, a limit or Ctrl-C; return the verified result."""
        shortfalls = diagnose(self.problem)
        if shortfalls or not self._resolutions():
            return finish(self.problem, None, "exact", "infeasible",
                          infeasibility_message(self.problem, shortfalls), -math.inf, -math.inf, 0, self.elapsed())
        contexts = [Context(self.problem, r) for r in self._resolutions()]
        self.in_flight = math.inf  # nothing is bounded before the roots are
        try:
            self.start(contexts)
            self.offer(self.cfg.start, search=True)  # warm start (None: no-op)
            for ctx in contexts:
                node = self.root(ctx)
                self.expand(node, self.cfg.dual_iters_root)
                self.root_y[ctx.resolution] = node.y
            self.in_flight = -math.inf
            self.dive(contexts)
            stop = self.loop(contexts)
        except KeyboardInterrupt:
            stop = "interrupted"
        return self._result(stop)

    def loop(self, contexts: list[Context]) -> str:
        """Branch until the gap tolerance (``"gap"``) or a limit; returns why it stopped."""
        cfg = self.cfg
        while self.heap:
            bound = -self.heap[0][0]
            if bound <= self.threshold():
                break
            if self.elapsed() > cfg.time_limit:
                return "time_limit"
            if self.stats.nodes >= cfg.node_limit:
                return "node_limit"
            self.report(bound)
            node = self.heap[0][3]
            self.in_flight = node.bound  # kept in the certificate until its kids are queued
            heapq.heappop(self.heap)
            if node.state is not None and node.refines < cfg.refines:
                # the bound is not converged: tighten it before paying for two children
                self.expand(node, cfg.dual_iters, again=True)
                self.in_flight = -math.inf
                continue
            self.stats.nodes += 1
            assert node.payload is not None  # queued nodes carry their payload
            kids = self.children(node, node.payload)
            if not kids:
                self.pruned = max(self.pruned, node.bound)
            for kid in kids:
                self.expand(kid, cfg.dual_iters)
            self.in_flight = -math.inf
            if kids and (self.leaves or self.inc is not self.dived):
                self.dive(contexts)
        return "gap"

    def report(self, bound: float) -> None:
        """Call ``cfg.progress`` when ``progress_every`` seconds have passed since the last call."""
        now = time.perf_counter()
        if self.cfg.progress is None or now - self.last_progress < self.cfg.progress_every:
            return
        self.last_progress = now
        gap = relative_gap(self.inc_obj, bound) if self.inc_ev else math.inf
        self.cfg.progress(Progress(now - self.t0, self.inc_obj, bound, gap, self.stats.nodes,
                                   self.stats.dps))

    def start(self, contexts: list[Context], polish: int = 2) -> None:
        """First incumbents: the continuous relaxation's optima, their depths rounded every way.

        Each start has its widths fitted to the budgets and is improved by single moves; the
        ``polish`` best are then improved by pair moves too (the costly part of local search).
        """
        t = time.perf_counter()
        done = []
        for ctx in contexts:
            for design in continuous_starts(ctx, (3.0, 12.0), roundings=self.cfg.roundings):
                design = snap(self.problem.space, design)
                ev = self.problem.evaluate(design)
                if not ev.feasible:
                    design, ev = local_search(self.problem, design, max_moves=200, pairs=False, structure=False)
                design, ev = local_search(self.problem, design, max_moves=400, pairs=False)
                self.seen.add(design)
                if ev.feasible:
                    done.append((-ev.objective, design))
        self.stats.ls_time += time.perf_counter() - t
        for _, design in sorted(done)[:polish]:
            self.offer(design, search=True, force=True)

    def _resolutions(self) -> list[int]:
        res = list(self.problem.space.resolutions)
        for b in self.problem.budgets:
            if b.quantity == "resolution":
                res = [r for r in res if (b.upper is None or r <= b.upper) and (b.lower is None or r >= b.lower)]
        return res

    def _result(self, stop: str) -> DesignResult:
        """The verified result: the incumbent (polished by pair moves) and the certified gap."""
        if self.inc is not None and stop != "interrupted":
            t = time.perf_counter()
            design, ev = local_search(self.problem, self.inc, max_moves=400, pairs=True)
            self.stats.ls_time += time.perf_counter() - t
            if ev.feasible and ev.objective > self.inc_obj:
                self.inc, self.inc_ev = design, ev
                self.trajectory.append((self.elapsed(), ev.objective))
        open_bound = -self.heap[0][0] if self.heap else -math.inf
        dual = max(self.inc_obj, self.pruned, open_bound, self.in_flight)
        st = self.stats
        if self.inc is None:
            complete = stop == "gap" and not self.heap
            status = "infeasible" if complete else stop
            msg = (infeasibility_message(self.problem, []) if complete
                   else f"no feasible design found before the search stopped ({stop})")
            return finish(self.problem, None, "exact", status, msg, -math.inf, dual, st.nodes, self.elapsed())
        gap = relative_gap(self.inc_obj, dual)
        msg = (f"gap {100 * gap:.3f}% (tolerance {100 * self.cfg.gap:.3f}%), {st.nodes} nodes, "
               f"{st.dps} bound evaluations ({st.dive_dps} in depth dives, {st.dive_time:.2f}s), "
               f"{st.milps} depth-leaf MILPs ({st.milp_time:.2f}s), "
               f"{st.leaf_solves} bottleneck MILPs ({st.leaf_time:.2f}s), "
               f"local search {st.ls_time:.2f}s")
        return finish(self.problem, self.inc, "exact", certified_status(stop, gap), msg, self.inc_obj, dual,
                      st.nodes, self.elapsed(), {"bound_evaluations": st.dps, "trajectory": self.trajectory})
