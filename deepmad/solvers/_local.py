"""Primal heuristics shared by the solvers: projection into the space and local search.

These only *find* designs; optimality is certified elsewhere (bounds). Moves change one
variable by one grid step (stem width, a stage's width / bottleneck / depth / kernel); when no
single move improves a feasible design, pairs of moves (one up, one down) are tried.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator

from deepmad.solvers.problem import DesignProblem, Evaluation
from deepmad.solvers.space import Design, DesignSpace, StageChoice

__all__ = ["snap", "neighbours", "local_search", "better", "depth_moves"]


def nearest(values: tuple[int, ...], x: float, at_least: int | None = None) -> int:
    """The value of the sorted grid ``values`` closest to ``x`` (the smaller on a tie), among those
    >= ``at_least`` when given (the largest value if none is)."""
    if at_least is not None:
        i = bisect.bisect_left(values, at_least)
        values = values[i:] or values[-1:]
    i = bisect.bisect_left(values, x)
    cands = values[max(0, i - 1): i + 1]
    return min(cands, key=lambda v: (abs(v - x), v))


def snap(space: DesignSpace, design: Design) -> Design:
    """The nearest design of ``space`` (widths non-decreasing when the space asks for it)."""
    res = min(space.resolutions, key=lambda r: abs(r - design.resolution))
    stem = nearest(space.stem.values(), design.stem)
    prev, stages = stem, []
    for i, (rng, (c, b, depth, k)) in enumerate(zip(space.stages, design.stages)):
        c = nearest(rng.width.values(), c, prev if space.nondecreasing else None)
        bs = space.bottleneck_values(i, c) or rng.bottleneck.values(c) or (c,)
        stages.append(StageChoice(c, nearest(bs, b), min(max(depth, rng.depth[0]), rng.depth[1]),
                                  nearest(rng.kernels, k)))
        prev = c
    final = None
    if space.final_conv is not None:
        final = nearest(space.final_conv.values(), design.final or space.final_conv.values()[0])
    return Design(res, stem, tuple(stages), final)


def _step(values: tuple[int, ...], x: int, d: int) -> int | None:
    i = bisect.bisect_left(values, x)
    if i < len(values) and values[i] == x:
        j = i + d
    else:
        j = i if d > 0 else i - 1
    return values[j] if 0 <= j < len(values) else None


def neighbours(space: DesignSpace, d: Design, structure: bool = True) -> Iterator[Design]:
    """Designs one grid step away (invalid ones are skipped); ``structure=False``: widths only."""
    for delta in (-1, 1):
        s = _step(space.stem.values(), d.stem, delta)
        if s is not None and (not space.nondecreasing or s <= d.stages[0][0]):
            yield Design(d.resolution, s, d.stages, d.final)
    for i, (rng, (c, b, depth, k)) in enumerate(zip(space.stages, d.stages)):
        prev = d.stem if i == 0 else d.stages[i - 1][0]
        nxt = d.stages[i + 1][0] if i + 1 < len(d.stages) else None
        for delta in (-1, 1):
            c2 = _step(rng.width.values(), c, delta)
            if c2 is not None and (not space.nondecreasing or (c2 >= prev and (nxt is None or c2 <= nxt))):
                bs = space.bottleneck_values(i, c2)
                if bs:
                    yield _with(d, i, (c2, b if b in bs else nearest(bs, b * c2 / c), depth, k))
            b2 = _step(space.bottleneck_values(i, c), b, delta)
            if b2 is not None:
                yield _with(d, i, (c, b2, depth, k))
            if structure and rng.depth[0] <= depth + delta <= rng.depth[1]:
                yield _with(d, i, (c, b, depth + delta, k))
            k2 = _step(rng.kernels, k, delta) if structure else None
            if k2 is not None:
                yield _with(d, i, (c, b, depth, k2))
    if space.final_conv is not None and d.final is not None:
        for delta in (-1, 1):
            f = _step(space.final_conv.values(), d.final, delta)
            if f is not None:
                yield Design(d.resolution, d.stem, d.stages, f)


def _with(d: Design, i: int, stage: tuple[int, int, int, int]) -> Design:
    stages = list(d.stages)
    stages[i] = StageChoice(*stage)
    return Design(d.resolution, d.stem, tuple(stages), d.final)


def better(a: Evaluation, b: Evaluation | None) -> bool:
    """``a`` is better than ``b``: feasible beats infeasible, then objective / violation."""
    if b is None:
        return True
    if a.feasible != b.feasible:
        return a.feasible
    if a.feasible:
        return a.objective > b.objective
    return a.violation < b.violation


def local_search(problem: DesignProblem, start: Design, max_moves: int = 400,
                 pairs: bool = True, structure: bool = True) -> tuple[Design, Evaluation]:
    """Best-improvement hill climbing from ``start`` (projected into the space first).

    ``structure=False`` keeps the depths and kernels (moves widths and bottlenecks only).
    """
    space = problem.space
    cur = snap(space, start)
    ev = problem.evaluate(cur)
    seen = {cur}
    for _ in range(max_moves):
        best_d, best_ev, best_key = None, ev, 0.0
        for n in neighbours(space, cur, structure):
            if n in seen:
                continue
            seen.add(n)
            e = problem.evaluate(n)
            if ev.feasible or e.feasible:
                if better(e, best_ev):
                    best_d, best_ev, best_key = n, e, math.inf
            elif e.violation < ev.violation and best_key < math.inf:
                # repair: most violation removed per unit of objective lost
                key = (ev.violation - e.violation) / max(1e-9 * abs(ev.objective), ev.objective - e.objective)
                if key > best_key:
                    best_d, best_ev, best_key = n, e, key
        if best_d is None and pairs and ev.feasible:
            best_d, best_ev = _pair_move(problem, cur, ev, seen, structure)
        if best_d is None:
            break
        cur, ev = best_d, best_ev
    return cur, ev


def _pair_move(problem: DesignProblem, cur: Design, ev: Evaluation, seen: set[Design], structure: bool = True):
    """Best feasible improvement among two chained single moves."""
    best_d, best_ev = None, ev
    space = problem.space
    firsts = list(neighbours(space, cur, structure))
    for a in firsts:
        for n in neighbours(space, a, structure):
            if n in seen or n == cur:
                continue
            e = problem.evaluate(n)
            if e.feasible and better(e, best_ev):
                best_d, best_ev = n, e
    return best_d, best_ev


def depth_moves(depths: list[int], ranges: list[tuple[int, int]]) -> Iterator[list[int]]:
    """Depth vectors next to ``depths``: one stage +-1, then one block moved between two stages."""
    n = len(depths)
    for i in range(n):
        for delta in (1, -1):
            if ranges[i][0] <= depths[i] + delta <= ranges[i][1]:
                yield [d + delta if j == i else d for j, d in enumerate(depths)]
    for i in range(n):
        for j in range(n):
            if i != j and depths[i] - 1 >= ranges[i][0] and depths[j] + 1 <= ranges[j][1]:
                moved = list(depths)
                moved[i] -= 1
                moved[j] += 1
                yield moved
