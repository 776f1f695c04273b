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
  raised until it fits) seeds a local search. Dives take a fixed share of the counted DP work.

The search is best-first and fully deterministic. It stops when the best open bound is within
``gap`` (relative) of the incumbent; the reported dual bound is the largest bound of any open or
tolerance-pruned node, so the reported gap is a real certificate. Every returned design is
re-checked with ``count_network`` and ``score_spec``.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import math
import time
from dataclasses import dataclass, replace

import numpy as np

from deepmad.solvers._bound import NEG, Box, Context, g_rho
from deepmad.solvers._continuous import continuous_starts
from deepmad.solvers._depthleaf import depth_leaf_bound
from deepmad.solvers._dp import BoundOut, dp_bound
from deepmad.solvers._dpsum import block_range, dp_bound_sum
from deepmad.solvers._dual import minimise_dual
from deepmad.solvers._leaf import LeafResult, solve_pairs
from deepmad.solvers._local import depth_moves, local_search, snap
from deepmad.solvers.diagnose import diagnose, infeasibility_message
from deepmad.solvers.fasteval import KIND_TERMS, depth_penalty
from deepmad.solvers.problem import DesignProblem, DesignResult, Evaluation, finish
from deepmad.solvers.space import Design

__all__ = ["ExactConfig", "ExactSolver"]


@dataclass(frozen=True)
class ExactConfig:
    """Options of :class:`ExactSolver`."""

    time_limit: float = 60.0  # seconds
    gap: float = 1e-3  # relative optimality tolerance
    node_limit: int = 1_000_000
    # width groups per unit while depth intervals are wide; None: 24 for spaces with SE blocks (a
    # cell costs more there: residue classes of the SE width, three kernels), else 32
    groups: int | None = None
    dual_iters_root: int = 30
    dual_iters: int = 8
    depth_probes: bool = False  # reduced-cost cuts of depth intervals (extra DP per node)
    # block-count DP (deepmad.solvers._dpsum) once every depth span is <= narrow; -1: off. Off by
    # default: it bounds narrow boxes far tighter but costs 10-100x a DP, and on the --like
    # budgets it did not lower the 30 s gap (docs/benchmarks.md, "DeepMAD design")
    narrow: int = -1
    # dives' DP work per unit of the search's DP work (primal heuristic), beyond a start allowance;
    # 0 since the rounded continuous starts: on the --like budgets dives then found nothing
    dive_share: float = 0.0
    dive_iters: int = 6  # multiplier steps per dive leaf
    dive_patience: int = 15  # dives pause after this many leaves without a better incumbent
    refines: int = 2  # continue an unconverged multiplier search this often before branching
    blocks_first: bool = False  # split the total block count first and price it in every bound
    roundings: bool = True  # start from every floor/ceil rounding of the continuous optimum's depths
    # HiGHS seconds for the MILP bound of a box with fixed depths (deepmad.solvers._depthleaf); 0: off
    leaf_milp_time: float = 0.3
    verbose: bool = False
    # warm start (e.g. a neighbouring budget's optimum in a sweep): offered as an incumbent after the
    # continuous starts; snapped into the space, fitted to the budgets and kept only if feasible
    start: Design | None = None


@dataclass
class _Node:
    ctx: Context
    box: Box
    y: np.ndarray  # multipliers (budgets, then rho stages)
    d0: np.ndarray  # tangent depths per score stage
    bound: float
    groups: int
    level: int
    state: tuple | None = None  # unfinished multiplier search (its bundle), None once converged
    refines: int = 0  # times the multiplier search was continued
    milp: bool = False  # the depth-leaf MILP was tried on this box


_DIVE_ALLOWANCE = 2_000_000  # DP work the dives may use before the search has spent any
_PRICE_STEPS = (1.02, 1.05, 1.1, 1.2, 1.5, 2.0)  # price scalings tried to make a dive maximiser fit


def _work(box: Box, groups: list) -> int:
    """DP work of one bound evaluation: cells (width pair, kernel, depth end) scored."""
    cells = [len(a.lo) * len(b.lo) for a, b in zip(groups, groups[1:])]
    per = [len(k) * (1 if lo == hi else 2) for k, (lo, hi) in zip(box.kernels, box.depth)]
    return sum(c * (per[i] if i < len(per) else 1) for i, c in enumerate(cells))


def _split_depth(lo: int, hi: int) -> list[tuple[int, int]]:
    """Halves of a depth interval."""
    mid = (lo + hi) // 2
    return [(lo, mid), (mid + 1, hi)]


def _propagate_blocks(box: Box) -> bool:
    """Tighten depth intervals and the block-count range against each other; False if empty."""
    if box.blocks is None:
        return True
    lo, hi = block_range(box)
    if lo > hi:
        return False
    box.blocks = (lo, hi)
    s_lo = sum(a for a, _ in box.depth)
    s_hi = sum(b for _, b in box.depth)
    for j, (a, b) in enumerate(box.depth):
        a2 = max(a, lo - (s_hi - b))
        b2 = min(b, hi - (s_lo - a))
        if a2 > b2:
            return False
        box.depth[j] = (a2, b2)
    return True


class ExactSolver:
    """Lagrangian branch-and-bound; see the module docstring."""

    name = "exact"

    def __init__(self, config: ExactConfig | None = None, **overrides: object) -> None:
        self.config = replace(config or ExactConfig(), **overrides)

    def solve(self, problem: DesignProblem) -> DesignResult:
        """Maximise ``problem``'s objective; returns a verified :class:`DesignResult`."""
        return _Search(problem, self.config).run()


class _Search:
    def __init__(self, problem: DesignProblem, cfg: ExactConfig) -> None:
        self.problem, self.cfg = problem, cfg
        self.t0 = time.perf_counter()
        self.inc: Design | None = None
        self.inc_ev: Evaluation | None = None
        self.pruned = -math.inf
        self.nodes = self.dps = 0
        self.heap: list[tuple[float, int, int, _Node]] = []
        self.tick = itertools.count()
        self.seen: set[Design] = set()
        self.ls_time = 0.0
        self.trajectory: list[tuple[float, float]] = []  # (seconds, incumbent objective)
        self.root_y: dict[int, np.ndarray] = {}  # root multipliers per resolution
        self.dived: Design | None = None  # last incumbent whose depths seeded the dive
        self.leaves: list = []  # dive queue: (-leaf bound, tick, (resolution, kernels, depths))
        self.leaf_seen: set = set()
        self.dry = 0  # dive leaves bounded since the incumbent last improved
        self.dive_time = 0.0
        self.dive_dps = 0  # bound evaluations spent in dives
        self.work = self.dive_work = 0  # DP work (width pairs scored), all and in dives
        self.leaf_solves, self.leaf_time = 0, 0.0  # exact MILPs of boxes with fixed depths and widths
        self.milps, self.milp_time = 0, 0.0  # MILP bounds of boxes with fixed depths

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
        self.ls_time += time.perf_counter() - t
        if ev.feasible and ev.objective > self.inc_obj:
            self.inc, self.inc_ev = design, ev
            self.trajectory.append((self.elapsed(), ev.objective))
            if self.cfg.verbose:
                print(f"  incumbent {ev.objective:.3f} at {self.elapsed():.2f}s")

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    # --- nodes -----------------------------------------------------------------------------
    def root(self, ctx: Context) -> _Node:
        sp = ctx.space
        widths = [np.array(sp.stem.values())] + [np.array(s.width.values()) for s in sp.stages]
        if sp.final_conv is not None:
            widths.append(np.array(sp.final_conv.values()))
        box = Box(widths, [s.depth for s in sp.stages], [s.kernels for s in sp.stages],
                  [(1, 10**9)] * len(sp.stages))
        extra = self._blocks_rows(ctx, box)
        if extra:
            box.blocks = block_range(box)
        scale = max(1e3, abs(self.inc_obj)) if self.inc_ev else 1e4
        n_mu = len(ctx.ends) if ctx.rho0 is not None else 0
        y = np.concatenate([np.full(len(ctx.rows), 0.3 * scale), np.zeros(len(extra) + n_mu)])
        groups = self.cfg.groups or (24 if any(s.block == "res_k1dwsek1" for s in sp.stages) else 32)
        return _Node(ctx, box, y, self._d_mid(ctx, box), math.inf, groups, 0)

    def _blocks_rows(self, ctx: Context, box: Box) -> list:
        """Rows ``D <= D(N_hi)`` and ``D >= D(N_lo)`` of the box's block-count range.

        Dualised like the budgets, they let the endpoint DP price the block count, so that a
        node holding a narrow range of totals is not bounded by designs of other totals. Only
        for spaces whose blocks all count the same number of layers (then ``D`` is affine in
        the block count).
        """
        if not self.cfg.blocks_first:
            return []
        nls = {KIND_TERMS[st.block][0] for st in ctx.space.stages}
        if len(nls) != 1:
            return []
        nl = nls.pop()
        lo, hi = block_range(box)
        fixed = 1 + (1 if ctx.final else 0)
        e = np.zeros(5)
        e[4] = 1.0
        return [("blocks<=", 1.0, float(fixed + nl * hi), e, 0.0, 0.0, 0.0),
                ("blocks>=", -1.0, float(fixed + nl * lo), e, 0.0, 0.0, 0.0)]

    def node_ctx(self, ctx: Context, box: Box) -> Context:
        """``ctx`` with the box's block-count rows appended to its constraint rows."""
        extra = self._blocks_rows(ctx, box)
        if not extra:
            return ctx
        nctx = copy.copy(ctx)
        nctx.rows = list(ctx.rows) + extra
        return nctx

    def _d_range(self, ctx: Context, box: Box) -> tuple[np.ndarray, np.ndarray]:
        nl = [KIND_TERMS[s.block][0] for s in ctx.space.stages]
        tail = [1] if ctx.final else []
        lo = np.cumsum([1] + [n * d[0] for n, d in zip(nl, box.depth)] + tail)[list(ctx.ends)]
        hi = np.cumsum([1] + [n * d[1] for n, d in zip(nl, box.depth)] + tail)[list(ctx.ends)]
        return lo.astype(float), hi.astype(float)

    def _d_mid(self, ctx: Context, box: Box) -> np.ndarray:
        lo, hi = self._d_range(ctx, box)
        return np.sqrt(lo * hi)

    def _scale(self, ctx: Context, node: _Node) -> np.ndarray:
        o = max(1e3, abs(self.inc_obj)) if self.inc_ev else max(1e3, abs(node.bound) if math.isfinite(node.bound) else 1e4)
        lam = np.full(len(ctx.rows), o)
        if ctx.rho0 is None:
            return lam
        return np.concatenate([lam, o / np.maximum(1.0, [g_rho(d, ctx.rho0) for d in node.d0])])

    def oracle(self, node: _Node):
        """``y -> (bound, subgradient, BoundOut)`` for the node's box (every design is offered)."""
        ctx = self.node_ctx(node.ctx, node.box)
        nr, n_s = len(ctx.rows), len(ctx.ends)
        use_sum = self.narrow(node.box)
        ref = self._ref_depths(ctx, node.box) if use_sum else None
        memo: dict = {}  # what the bound of this box reuses across multipliers (the box is fixed meanwhile)

        def call(y: np.ndarray):
            mu = y[nr:] if ctx.rho0 is not None else np.zeros(n_s)
            if use_sum:
                out = dp_bound_sum(ctx, node.box, y[:nr], mu, node.d0, node.groups, ref)
            else:
                out = dp_bound(ctx, node.box, y[:nr], mu, node.d0, node.groups, memo=memo)
            self.dps += 1
            self.work += _work(node.box, out.groups)
            self.offer(out.design)
            sub = out.subgradient if ctx.rho0 is not None else out.subgradient[:nr]
            return out.value, sub, out
        return call

    def evaluate(self, node: _Node, iters: int, prune: bool = True, state: tuple | None = None) -> BoundOut | None:
        """Tune the node's multipliers; set its bound; return the best relaxation payload."""
        ctx = self.node_ctx(node.ctx, node.box)
        res = minimise_dual(self.oracle(node), node.y, self._scale(ctx, node), iters=iters,
                            rel_tol=self.cfg.gap / 10, stop_below=self.threshold() if prune else -math.inf,
                            state=state)
        node.state = None if res.converged else res.state
        node.refines += state is not None
        node.y = res.y
        node.bound = min(node.bound, res.value)
        return res.payload

    def narrow(self, box: Box) -> bool:
        """Whether the block-count DP bounds this box.

        It does when every depth span is small, or when the block count is nearly fixed (then
        its table has few columns and spans up to four times larger stay cheap).
        """
        if self.cfg.narrow < 0:
            return False
        span = max(hi - lo for lo, hi in box.depth)
        n_lo, n_hi = block_range(box)
        return span <= self.cfg.narrow or (n_hi - n_lo <= 2 and span <= 4 * self.cfg.narrow)

    def _ref_depths(self, ctx: Context, box: Box) -> list[int] | None:
        """Penalised depths of the incumbent (slope of the penalty plane), if any."""
        if self.inc is None:
            return None
        return [self.inc.stages[i][2] for i in ctx.pen_idx]

    def shrink_blocks(self, node: _Node, out: BoundOut) -> bool:
        """Cut block counts whose bound cannot beat the incumbent; tighten depths to the count."""
        box = node.box
        vals = getattr(out, "n_values", None)
        thr = self.threshold()
        if vals is not None and math.isfinite(thr):
            first = out.n_first  # type: ignore[attr-defined]
            keep = np.nonzero(vals > thr)[0]
            if len(keep) == 0:
                self.pruned = max(self.pruned, float(vals.max()))
                return False
            dropped = np.delete(vals, keep)
            if len(dropped) and dropped.max() > NEG / 2:
                self.pruned = max(self.pruned, float(dropped.max()))
            lo, hi = block_range(box)
            box.blocks = (max(lo, first + int(keep[0])), min(hi, first + int(keep[-1])))
        return _propagate_blocks(box)

    def shrink_depths(self, node: _Node) -> bool:
        """Cut depth runs at the interval ends whose relaxation value cannot beat the incumbent."""
        thr = self.inc_obj  # strict: keep every region that could still improve the incumbent
        if (not self.cfg.depth_probes or not math.isfinite(thr)
                or all(hi - lo < 2 for lo, hi in node.box.depth)):
            return True
        ctx = self.node_ctx(node.ctx, node.box)
        nr = len(ctx.rows)
        mu = node.y[nr:] if ctx.rho0 is not None else np.zeros(len(ctx.ends))
        out = dp_bound(ctx, node.box, node.y[:nr], mu, node.d0, node.groups, probe_depths=True)
        self.dps += 1
        for j, vals in enumerate(out.depth_through or []):
            if not vals:
                continue
            pts = sorted(vals)
            keep = [p for p in pts if vals[p] >= thr]
            if not keep:
                self.pruned = max(self.pruned, max(vals.values()))
                return False
            lo = max([p + 1 for p in pts if p < keep[0]], default=pts[0])
            hi = min([p - 1 for p in pts if p > keep[-1]], default=pts[-1])
            dropped = [vals[p] for p in pts if p < lo or p > hi]
            if dropped:
                self.pruned = max(self.pruned, max(dropped))
            node.box.depth[j] = (lo, hi)
        return True

    def filter(self, node: _Node, out: BoundOut) -> bool:
        """Drop width groups and kernels that cannot beat the incumbent by more than the gap.

        False if a domain empties (the node is then pruned). Values are matched to the box by
        width and kernel values, not positions: ``out`` may come from an earlier evaluation of a
        larger box (a continued multiplier search keeps its best payload), whose bounds still hold
        for every design of the current box.
        """
        thr = self.threshold()
        if not math.isfinite(thr):
            return True
        for j, through in enumerate(out.kernel_through or []):
            ks = node.box.kernels[j]
            dropped = [through[k] for k in ks if through[k] < thr]
            if not dropped:
                continue
            self.pruned = max(self.pruned, max(dropped))
            if len(dropped) == len(ks):
                return False
            node.box.kernels[j] = tuple(k for k in ks if through[k] >= thr)
        for u, (g, t) in enumerate(zip(out.groups, out.through)):
            drop = t < thr
            if not drop.any():
                continue
            self.pruned = max(self.pruned, float(t[drop].max()))
            w = node.box.widths[u]
            marks = np.zeros(len(w) + 1, int)  # +1 where a dropped group's range starts, -1 past its end
            np.add.at(marks, np.searchsorted(w, g.lo[drop], "left"), 1)
            np.add.at(marks, np.searchsorted(w, g.hi[drop], "right"), -1)
            keep = np.cumsum(marks[:-1]) == 0
            if not keep.any():
                return False
            node.box.widths[u] = w[keep]
        return True

    def children(self, node: _Node, out: BoundOut) -> list[_Node]:
        box = node.box
        spans = [hi - lo for lo, hi in box.depth]
        j = max(range(len(spans)), key=lambda i: (spans[i], i))
        kids: list[Box] = []
        n_lo, n_hi = block_range(box)
        if n_hi > n_lo and (self.cfg.blocks_first or self.narrow(box)):
            for a, b in _split_depth(n_lo, n_hi):
                nb = box.copy()
                nb.blocks = (a, b)
                if _propagate_blocks(nb):
                    kids.append(nb)
        elif spans[j] > 0:
            for a, b in _split_depth(*box.depth[j]):
                nb = box.copy()
                nb.depth[j] = (a, b)
                if _propagate_blocks(nb):
                    kids.append(nb)
        elif any(len(k) > 1 for k in box.kernels):
            j = next(i for i, k in enumerate(box.kernels) if len(k) > 1)
            for k in box.kernels[j]:
                nb = box.copy()
                nb.kernels[j] = (k,)
                kids.append(nb)
        elif not out.exact:
            return [replace(node, box=box.copy(), groups=node.groups * 4, level=node.level + 1, state=None, refines=0)]
        else:
            kids = self._split_widths(box, out) or self._split_bottlenecks(node.ctx, box, out)
        width = max((hi - lo for lo, hi in box.depth), default=0)
        groups = node.groups if width > 8 else node.groups * 2
        made = []
        for nb in kids:
            lo, hi = self._d_range(node.ctx, nb)
            d0 = np.clip(out.depths, lo, hi)
            made.append(_Node(node.ctx, nb, node.y.copy(), d0, node.bound, groups, node.level + 1))
        return made

    def _split_widths(self, box: Box, out: BoundOut) -> list[Box]:
        u = max(range(len(box.widths)), key=lambda i: (len(box.widths[i]), -i))
        w = box.widths[u]
        if len(w) < 2:
            return []
        d = out.design
        pick = {0: d.stem, len(box.widths) - 1: d.final} if d is not None else {}
        at = pick.get(u) if u in pick and pick.get(u) is not None else (
            d.stages[u - 1][0] if d is not None and 1 <= u <= len(d.stages) else int(w[len(w) // 2]))
        cut = min(max(int(np.searchsorted(w, at, side="right")), 1), len(w) - 1)
        kids = []
        for part in (w[:cut], w[cut:]):
            nb = box.copy()
            nb.widths[u] = part
            kids.append(nb)
        return kids

    def _bottlenecks(self, ctx: Context, box: Box, j: int, c: int | None = None) -> list[int]:
        """Stage j's allowed bottlenecks in the box at width ``c`` (default: the box's first width)."""
        lo, hi = box.bott[j]
        c = int(box.widths[j + 1][0]) if c is None else c
        return [b for b in ctx.space.bottleneck_values(j, c) if lo <= b <= hi]

    def _split_bottlenecks(self, ctx: Context, box: Box, out: BoundOut) -> list[Box]:
        """Split the bottleneck interval of the stage with most choices at the relaxation's b."""
        counts = [len(self._bottlenecks(ctx, box, j)) for j in range(ctx.J)]
        j = max(range(ctx.J), key=lambda i: (counts[i], -i))
        if counts[j] < 2:
            return []
        vals = self._bottlenecks(ctx, box, j)
        at = out.design.stages[j][1] if out.design is not None else vals[len(vals) // 2]
        cut = min(max(int(np.searchsorted(vals, at, side="right")), 1), len(vals) - 1)
        kids = []
        for a, b in ((box.bott[j][0], vals[cut - 1]), (vals[cut], box.bott[j][1])):
            nb = box.copy()
            nb.bott[j] = (a, b)
            kids.append(nb)
        return kids

    def single_design(self, ctx: Context, box: Box) -> Design | None:
        """The only design in ``box`` when every variable is fixed, else None."""
        if not box.is_leaf() or any(len(w) != 1 for w in box.widths):
            return None
        stages = []
        for j, ((d, _), ks) in enumerate(zip(box.depth, box.kernels)):
            bs = self._bottlenecks(ctx, box, j)
            if len(bs) != 1:
                return None
            stages.append((int(box.widths[j + 1][0]), bs[0], d, ks[0]))
        final = int(box.widths[-1][0]) if ctx.final else None
        return Design(ctx.resolution, int(box.widths[0][0]), tuple(stages), final)

    def push(self, node: _Node) -> None:
        # best bound first; ties (children inherit the parent's bound) go depth-first
        heapq.heappush(self.heap, (-node.bound, -node.level, next(self.tick), node))

    def expand(self, node: _Node, iters: int, again: bool = False) -> None:
        """Bound ``node`` (``again``: continue its multiplier search), then prune, filter or queue it."""
        single = self.single_design(node.ctx, node.box)
        if single is not None:  # nothing left to relax: the bound is the design itself
            self.offer(single)
            return
        if self.solve_leaf(node) or self.milp_leaf(node):
            return
        out = self.evaluate(node, iters, state=node.state if again else None)
        if out is None or node.bound <= self.threshold():
            self.pruned = max(self.pruned, node.bound) if math.isfinite(node.bound) else self.pruned
            return
        self.offer(out.design, search=True)
        if not self.shrink_blocks(node, out) or not self.filter(node, out) or not self.shrink_depths(node):
            return
        self.push(node)
        node.payload = out  # type: ignore[attr-defined]

    def solve_leaf(self, node: _Node) -> bool:
        """Close a box with fixed depths and widths by its exact MILP; False if it does not apply.

        The Lagrangian bound of such a box can stay ~1 % above its best design (a few discrete
        bottleneck choices against tight budgets); :func:`deepmad.solvers._leaf.solve_pairs`
        solves it exactly instead, and its proven bound enters the certificate.
        """
        box, ctx = node.box, node.ctx
        if any(a != b for a, b in box.depth) or any(len(w) != 1 for w in box.widths):
            return False
        res = self._solve_pairs(ctx, box, [int(v[0]) for v in box.widths], box.kernels)
        if res is None:
            return True  # no allowed bottleneck: the box is empty
        if res.status == "unsolved":
            return False
        self.offer(res.design, search=True)
        if res.bound > self.threshold():
            self.pruned = max(self.pruned, res.bound)
        return True

    def _solve_pairs(self, ctx: Context, box: Box, widths, kernels) -> LeafResult | None:
        """:func:`solve_pairs` at the box's depths and the given widths (per unit) and kernel sets
        (per stage), over the box's bottlenecks; None when a stage has no allowed bottleneck."""
        pairs = [[(k, b) for k in kernels[j] for b in self._bottlenecks(ctx, box, j, widths[j + 1])]
                 for j in range(ctx.J)]
        if not all(pairs):
            return None
        base = Design(ctx.resolution, widths[0], tuple((widths[j + 1], pairs[j][0][1], box.depth[j][0], pairs[j][0][0])
                                                       for j in range(ctx.J)), widths[-1] if ctx.final else None)
        t = time.perf_counter()
        res = solve_pairs(self.problem, base, pairs)
        self.leaf_time += time.perf_counter() - t
        self.leaf_solves += 1
        return res

    def milp_leaf(self, node: _Node) -> bool:
        """Bound a box with fixed depths by its MILP (widths and kernels discrete); True if closed.

        Closed when HiGHS proves it infeasible or its bound cannot beat the incumbent by the gap;
        otherwise the node keeps the smaller bound and is evaluated as usual. The MILP's widths and
        kernels seed an exact bottleneck MILP (:func:`solve_pairs`) for a design.
        """
        box, ctx = node.box, node.ctx
        if self.cfg.leaf_milp_time <= 0 or node.milp or any(a != b for a, b in box.depth):
            return False
        node.milp = True
        depths = [a for a, _ in box.depth]
        pen = depth_penalty(depths, self.problem.layout(ctx.resolution)[1], ctx.cfg.depth_penalty)
        t = time.perf_counter()
        out = depth_leaf_bound(ctx, box, pen, time_limit=self.cfg.leaf_milp_time)
        self.milp_time += time.perf_counter() - t
        if out is None:
            return False
        self.milps += 1
        if out.widths is not None and out.kernels is not None:
            res = self._solve_pairs(ctx, box, out.widths, [(k,) for k in out.kernels])
            if res is not None:
                self.offer(res.design, search=True)
        if out.status == "infeasible":
            return True
        if out.bound <= self.threshold():
            self.pruned = max(self.pruned, out.bound)
            return True
        node.bound = min(node.bound, out.bound)
        return False

    # --- primal: leaf relaxations around the incumbent ---------------------------------------
    def dive(self, contexts: list[Context]) -> None:
        """Best-first search over depth vectors near the incumbent, by leaf relaxations.

        Local search moves one variable at a time, so it rarely changes a depth (the widths must
        move with it to stay in budget). Here a depth vector (with the incumbent's kernels) is a
        leaf box over every width: a few multiplier steps give its bound and maximisers that fit
        the budgets at that depth, which are repaired and improved by local search. The leaf with
        the best bound is expanded next (its neighbours: one stage +-1, or one block moved
        between two stages); a leaf whose bound cannot beat the incumbent is dropped. Finds
        designs only: these bounds are not part of the certificate.
        """
        t0, dps0, work0 = time.perf_counter(), self.dps, self.work

        def left() -> bool:
            # dives take at most dive_share of the search's DP work (width pairs scored; counted, so
            # the search stays deterministic), plus a start allowance
            used = self.dive_work + self.work - work0
            return (used < self.cfg.dive_share * (self.work - used) + _DIVE_ALLOWANCE
                    and self.elapsed() < self.cfg.time_limit)

        if self.inc is not None and self.inc is not self.dived:
            self.dived = inc = self.inc
            self.dry = 0
            start = (inc.resolution, tuple(st[3] for st in inc.stages), tuple(st[2] for st in inc.stages))
            heapq.heappush(self.leaves, (-math.inf, next(self.tick), start))
        while self.leaves and left() and self.dry < self.cfg.dive_patience:
            neg, _, (res, kernels, depths) = heapq.heappop(self.leaves)
            if -neg <= self.inc_obj:
                continue
            ctx = next(c for c in contexts if c.resolution == res)
            for nd in depth_moves(list(depths), [s.depth for s in ctx.space.stages]):
                if not left() or self.dry >= self.cfg.dive_patience:
                    break
                key = (res, kernels, tuple(nd))
                if key in self.leaf_seen:
                    continue
                self.leaf_seen.add(key)
                before = self.inc
                bound = self._dive_leaf(ctx, nd, kernels)
                self.dry = 0 if self.inc is not before else self.dry + 1
                if bound > self.inc_obj:
                    heapq.heappush(self.leaves, (-bound, next(self.tick), key))
        self.dive_time += time.perf_counter() - t0
        self.dive_dps += self.dps - dps0
        self.dive_work += self.work - work0

    def _dive_leaf(self, ctx: Context, depths: list[int], kernels: tuple[int, ...]) -> float:
        """Bound one leaf (depths, kernels; every width) and offer its repaired maximiser."""
        node = self.root(ctx)
        node.box.depth = [(d, d) for d in depths]
        node.box.kernels = [(k,) for k in kernels]
        node.y = self.root_y.get(ctx.resolution, node.y).copy()
        node.d0 = self._d_mid(ctx, node.box)
        node.groups *= 4  # finer than the search's wide boxes; local search does the last steps
        out = self.evaluate(node, self.cfg.dive_iters, prune=False)
        if out is None or out.design is None:
            return node.bound
        # the maximiser usually overshoots a budget a little: raise every price until it fits
        oracle = self.oracle(node)
        for t in _PRICE_STEPS:
            if self.problem.evaluate(snap(self.problem.space, out.design)).feasible:
                break
            out = oracle(node.y * t)[2]
            if out.design is None:
                break
        self.offer(out.design, search=True)
        return node.bound

    # --- main loop -------------------------------------------------------------------------
    def run(self) -> DesignResult:
        cfg = self.cfg
        shortfalls = diagnose(self.problem)
        if shortfalls or not self._resolutions():
            return finish(self.problem, None, "exact", "infeasible",
                          infeasibility_message(self.problem, shortfalls), -math.inf, -math.inf, 0, self.elapsed())
        contexts = [Context(self.problem, r) for r in self._resolutions()]
        self.start(contexts)
        self.offer(cfg.start, search=True)  # warm start hook (None: no-op)
        for ctx in contexts:
            node = self.root(ctx)
            self.expand(node, cfg.dual_iters_root)
            self.root_y[ctx.resolution] = node.y
        self.dive(contexts)
        status = "optimal"
        while self.heap:
            bound = -self.heap[0][0]
            if bound <= self.threshold():
                break
            if self.elapsed() > cfg.time_limit:
                status = "time_limit"
                break
            if self.nodes >= cfg.node_limit:
                status = "node_limit"
                break
            _, _, _, node = heapq.heappop(self.heap)
            if node.state is not None and node.refines < cfg.refines:
                # the bound is not converged: tighten it before paying for two children
                self.expand(node, cfg.dual_iters, again=True)
                continue
            self.nodes += 1
            kids = self.children(node, node.payload)  # type: ignore[attr-defined]
            if not kids:
                self.pruned = max(self.pruned, node.bound)
                continue
            for kid in kids:
                self.expand(kid, cfg.dual_iters)
            if self.leaves or self.inc is not self.dived:
                self.dive(contexts)
            if cfg.verbose and self.nodes % 50 == 0:
                print(f"  nodes {self.nodes} open {len(self.heap)} bound {bound:.2f} inc {self.inc_obj:.2f} "
                      f"dps {self.dps} t {self.elapsed():.1f}s")
        return self._result(status)

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
        self.ls_time += time.perf_counter() - t
        for _, design in sorted(done)[:polish]:
            self.offer(design, search=True, force=True)

    def _resolutions(self) -> list[int]:
        res = list(self.problem.space.resolutions)
        for b in self.problem.budgets:
            if b.quantity == "resolution":
                res = [r for r in res if (b.upper is None or r <= b.upper) and (b.lower is None or r >= b.lower)]
        return res

    def _result(self, status: str) -> DesignResult:
        if self.inc is not None:
            t = time.perf_counter()
            design, ev = local_search(self.problem, self.inc, max_moves=400, pairs=True)
            self.ls_time += time.perf_counter() - t
            if ev.feasible and ev.objective > self.inc_obj:
                self.inc, self.inc_ev = design, ev
                self.trajectory.append((self.elapsed(), ev.objective))
        open_bound = -self.heap[0][0] if self.heap else -math.inf
        dual = max(self.inc_obj, self.pruned, open_bound)
        if self.inc is None:
            status = "infeasible" if not self.heap else status
            msg = (infeasibility_message(self.problem, []) if status == "infeasible"
                   else "no feasible design found before the limit")
            return finish(self.problem, None, "exact", status, msg, -math.inf, dual, self.nodes, self.elapsed())
        gap = (dual - self.inc_obj) / max(abs(self.inc_obj), 1e-12)
        if status == "optimal" and gap > self.cfg.gap * (1 + 1e-9):
            status = "gap_limit"  # cannot happen with complete branching; reported honestly if it does
        msg = (f"gap {100 * gap:.3f}% (tolerance {100 * self.cfg.gap:.3f}%), {self.nodes} nodes, "
               f"{self.dps} bound evaluations ({self.dive_dps} in depth dives, {self.dive_time:.2f}s), "
               f"{self.milps} depth-leaf MILPs ({self.milp_time:.2f}s), "
               f"{self.leaf_solves} bottleneck MILPs ({self.leaf_time:.2f}s), "
               f"local search {self.ls_time:.2f}s")
        return finish(self.problem, self.inc, "exact", status, msg, self.inc_obj, dual, self.nodes,
                      self.elapsed(), {"bound_evaluations": self.dps, "trajectory": self.trajectory})
