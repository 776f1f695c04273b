"""Depth dives of the exact solver: a primal heuristic over the depth vectors near the incumbent.

Local search moves one variable at a time, so it rarely changes a depth (the widths must move
with it to stay within budget). A dive bounds the neighbouring depth vectors as leaf boxes and
offers their price-raised maximisers to local search (see :meth:`Dives.dive`). Dives find
designs only: their bounds are not part of the certificate. They get a start allowance of DP
work (``ExactConfig.dive_allowance``) plus ``dive_share`` of the search's own work.
"""

from __future__ import annotations

import heapq
import math
import time

from deepmad.solvers._bound import Context
from deepmad.solvers._local import depth_moves, snap

__all__ = ["Dives"]

_PRICE_STEPS = (1.02, 1.05, 1.1, 1.2, 1.5, 2.0)  # price scalings tried to make a dive maximiser fit


class Dives:
    """The dive of :class:`deepmad.solvers.exact._Search` (a mixin)."""

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
        t0, dps0, work0 = time.perf_counter(), self.stats.dps, self.stats.work

        def left() -> bool:
            # dives take at most dive_share of the search's DP work (width pairs scored; counted, so
            # the search stays deterministic), plus a start allowance
            used = self.stats.dive_work + self.stats.work - work0
            return (used < self.cfg.dive_share * (self.stats.work - used) + self.cfg.dive_allowance
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
        self.stats.dive_time += time.perf_counter() - t0
        self.stats.dive_dps += self.stats.dps - dps0
        self.stats.dive_work += self.stats.work - work0

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
