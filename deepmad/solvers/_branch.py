"""Nodes of the exact solver's branch-and-bound: bounding, filtering, branching, leaf MILPs.

The mixin :class:`Branching` holds the node mechanics of :class:`deepmad.solvers.exact._Search`
(see :mod:`deepmad.solvers.exact` for the method): a node's box is bounded by the Lagrangian DP
(:mod:`deepmad.solvers._dp`) with multipliers tuned by :mod:`deepmad.solvers._dual`, filtered by
reduced costs, closed by the leaf MILPs (:mod:`deepmad.solvers._leaf`,
:mod:`deepmad.solvers._depthleaf`) where they apply, and split into children.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, replace

import numpy as np

from deepmad.solvers._bound import Box, Context, g_rho
from deepmad.solvers._depthleaf import depth_leaf_bound
from deepmad.solvers._dp import BoundOut, dp_bound
from deepmad.solvers._dual import minimise_dual
from deepmad.solvers._leaf import LeafResult, solve_pairs
from deepmad.solvers.fasteval import depth_penalty
from deepmad.solvers.space import Design

__all__ = ["Node", "SearchStats", "Branching"]


@dataclass
class Node:
    """One box of the search with its multipliers and bound."""

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
    payload: BoundOut | None = None  # the best relaxation of the last evaluation (set once queued)


@dataclass
class SearchStats:
    """Counters of one exact search (reported in the result's message and extras)."""

    nodes: int = 0  # nodes branched
    dps: int = 0  # bound evaluations (dynamic programs)
    work: int = 0  # DP work: cells (width pair, kernel, depth end) scored
    dive_dps: int = 0  # bound evaluations spent in depth dives
    dive_work: int = 0
    dive_time: float = 0.0
    ls_time: float = 0.0  # local search seconds
    leaf_solves: int = 0  # exact bottleneck MILPs of boxes with fixed depths and widths
    leaf_time: float = 0.0
    milps: int = 0  # MILP bounds of boxes with fixed depths
    milp_time: float = 0.0


def _work(box: Box, groups: list) -> int:
    """DP work of one bound evaluation: cells (width pair, kernel, depth end) scored."""
    cells = [len(a.lo) * len(b.lo) for a, b in zip(groups, groups[1:])]
    per = [len(k) * (1 if lo == hi else 2) for k, (lo, hi) in zip(box.kernels, box.depth)]
    return sum(c * (per[i] if i < len(per) else 1) for i, c in enumerate(cells))


def _split_depth(lo: int, hi: int) -> list[tuple[int, int]]:
    """Halves of a depth interval."""
    mid = (lo + hi) // 2
    return [(lo, mid), (mid + 1, hi)]


class Branching:
    """Node mechanics of the search (a mixin: the search holds problem, config and incumbent)."""

    def root(self, ctx: Context) -> Node:
        sp = ctx.space
        widths = [np.array(sp.stem.values())] + [np.array(s.width.values()) for s in sp.stages]
        if sp.final_conv is not None:
            widths.append(np.array(sp.final_conv.values()))
        box = Box(widths, [s.depth for s in sp.stages], [s.kernels for s in sp.stages],
                  [(1, 10**9)] * len(sp.stages))
        scale = max(1e3, abs(self.inc_obj)) if self.inc_ev else 1e4
        n_mu = len(ctx.ends) if ctx.rho0 is not None else 0
        y = np.concatenate([np.full(len(ctx.rows), 0.3 * scale), np.zeros(n_mu)])
        groups = self.cfg.groups or (24 if any(s.kind.se for s in sp.stages) else 32)
        return Node(ctx, box, y, self._d_mid(ctx, box), math.inf, groups, 0)

    def _d_range(self, ctx: Context, box: Box) -> tuple[np.ndarray, np.ndarray]:
        nl = [s.kind.layers_per_block for s in ctx.space.stages]
        tail = [1] if ctx.final else []
        lo = np.cumsum([1] + [n * d[0] for n, d in zip(nl, box.depth)] + tail)[list(ctx.ends)]
        hi = np.cumsum([1] + [n * d[1] for n, d in zip(nl, box.depth)] + tail)[list(ctx.ends)]
        return lo.astype(float), hi.astype(float)

    def _d_mid(self, ctx: Context, box: Box) -> np.ndarray:
        lo, hi = self._d_range(ctx, box)
        return np.sqrt(lo * hi)

    def _scale(self, ctx: Context, node: Node) -> np.ndarray:
        o = max(1e3, abs(self.inc_obj)) if self.inc_ev else max(1e3, abs(node.bound) if math.isfinite(node.bound) else 1e4)
        lam = np.full(len(ctx.rows), o)
        if ctx.rho0 is None:
            return lam
        return np.concatenate([lam, o / np.maximum(1.0, [g_rho(d, ctx.rho0) for d in node.d0])])

    def oracle(self, node: Node):
        """``y -> (bound, subgradient, BoundOut)`` for the node's box (every design is offered)."""
        ctx = node.ctx
        nr, n_s = len(ctx.rows), len(ctx.ends)
        memo: dict = {}  # what the bound of this box reuses across multipliers (the box is fixed meanwhile)

        def call(y: np.ndarray):
            mu = y[nr:] if ctx.rho0 is not None else np.zeros(n_s)
            out = dp_bound(ctx, node.box, y[:nr], mu, node.d0, node.groups, memo=memo)
            self.stats.dps += 1
            self.stats.work += _work(node.box, out.groups)
            self.offer(out.design)
            sub = out.subgradient if ctx.rho0 is not None else out.subgradient[:nr]
            return out.value, sub, out
        return call

    def evaluate(self, node: Node, iters: int, prune: bool = True, state: tuple | None = None) -> BoundOut | None:
        """Tune the node's multipliers; set its bound; return the best relaxation payload."""
        ctx = node.ctx
        res = minimise_dual(self.oracle(node), node.y, self._scale(ctx, node), iters=iters,
                            rel_tol=self.cfg.gap / 10, stop_below=self.threshold() if prune else -math.inf,
                            state=state)
        node.state = None if res.converged else res.state
        node.refines += state is not None
        node.y = res.y
        node.bound = min(node.bound, res.value)
        return res.payload

    def filter(self, node: Node, out: BoundOut) -> bool:
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

    def children(self, node: Node, out: BoundOut) -> list[Node]:
        box = node.box
        spans = [hi - lo for lo, hi in box.depth]
        j = max(range(len(spans)), key=lambda i: (spans[i], i))
        kids: list[Box] = []
        if spans[j] > 0:
            for a, b in _split_depth(*box.depth[j]):
                nb = box.copy()
                nb.depth[j] = (a, b)
                kids.append(nb)
        elif any(len(k) > 1 for k in box.kernels):
            j = next(i for i, k in enumerate(box.kernels) if len(k) > 1)
            for k in box.kernels[j]:
                nb = box.copy()
                nb.kernels[j] = (k,)
                kids.append(nb)
        elif not out.exact:
            return [replace(node, box=box.copy(), groups=node.groups * 4, level=node.level + 1, state=None, refines=0, payload=None)]
        else:
            kids = self._split_widths(box, out) or self._split_bottlenecks(node.ctx, box, out)
        width = max((hi - lo for lo, hi in box.depth), default=0)
        groups = node.groups if width > 8 else node.groups * 2
        made = []
        for nb in kids:
            lo, hi = self._d_range(node.ctx, nb)
            d0 = np.clip(out.depths, lo, hi)
            made.append(Node(node.ctx, nb, node.y.copy(), d0, node.bound, groups, node.level + 1))
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

    def push(self, node: Node) -> None:
        # best bound first; ties (children inherit the parent's bound) go depth-first
        heapq.heappush(self.heap, (-node.bound, -node.level, next(self.tick), node))

    def expand(self, node: Node, iters: int, again: bool = False) -> None:
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
        if not self.filter(node, out):
            return
        node.payload = out
        self.push(node)

    def solve_leaf(self, node: Node) -> bool:
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
        self.stats.leaf_time += time.perf_counter() - t
        self.stats.leaf_solves += 1
        return res

    def milp_leaf(self, node: Node) -> bool:
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
        self.stats.milp_time += time.perf_counter() - t
        if out is None:
            return False
        self.stats.milps += 1
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
