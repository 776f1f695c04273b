"""The reference's evolutionary search, re-implemented faithfully as a baseline.

DeepMAD's released code (alibaba/lightweight-neural-architecture-search @ 8ccaf88) never solves
the paper's mathematical program; it runs TinyNAS's mutation-based search
(``tinynas/searchers/searcher.py``, ``tinynas/evolutions/population.py``,
``tinynas/spaces/base.py``, ``tinynas/spaces/mutator/*.py``):

* the population starts as ``population`` copies of the config's seed;
* a child is made from a uniformly chosen parent by ``mutations_per_child`` (2) successive
  single-block mutations (block chosen uniformly; mutation op uniform over out / k / btn / L;
  ranges of ``space_k1kxk1`` or ``space_k1dwsek1``), then in-channels are re-chained and kernels
  shrunk until ``1.5 k <= input side``;
* budgets are hard filters; a feasible child is appended; whenever the list exceeds the
  population size it is sorted by fitness (score - depth penalty), de-duplicated and truncated.

A seed that misses a budget (the reference refuses it) starts a feasibility phase: the same
mutations, with every infeasible design ranked below every feasible one and, among the
infeasible, by its total relative excess over the budgets
(:attr:`~deepmad.solvers.problem.Evaluation.violation`), until the first feasible child; the
search then goes on as the reference's. If no child is ever feasible the search fails naming
the least-violating design's unmet budgets.

Two reference defects are fixed: the block index is drawn inclusively (numpy's ``randint(0, n-1)``
never picked the last block, freezing the ResNet nets' last stage), and the RNG is seeded
(``seed``), so runs are reproducible. Mutated widths and bottlenecks are moved to the nearest
value of the problem's grid (a no-op for ``--like`` spaces, which contain every reachable
structure; template and user spaces have coarser grids).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from deepmad.errors import DeepmadError
from deepmad.solvers._local import nearest
from deepmad.solvers.problem import DesignProblem, DesignResult, Evaluation, finish
from deepmad.solvers.space import Design, DesignSpace, smart_round

__all__ = ["EvolutionConfig", "EvolutionSolver", "smallest_design"]

_R_SCALES = (1.5, 1.25, 0.8, 0.6, 0.5)
_M_SCALES = tuple(float(x) for x in np.arange(0.5, 2.01, 0.1))
_M_RATIOS = tuple(float(x) for x in np.arange(1.5, 6.01, 0.1))
_L_STEPS = (-2, -1, 1, 2)


@dataclass(frozen=True)
class EvolutionConfig:
    """Options of :class:`EvolutionSolver` (defaults: the reference's DeepMAD configs)."""

    children: int = 500_000  # num_random_nets
    population: int = 256  # popu_size
    mutations_per_child: int = 2  # block_num
    seed: int = 0
    time_limit: float = 30.0  # seconds (the CLI's --time-limit default; math.inf: run every child)
    checkpoints: tuple[int, ...] = (10_000, 100_000, 500_000)  # children counts to record


class EvolutionSolver:
    """The reference's search (see module docstring); returns the best feasible design."""

    name = "evolution"

    def __init__(self, config: EvolutionConfig | None = None, start: Design | None = None,
                 **overrides: object) -> None:
        self.config = replace(config or EvolutionConfig(), **overrides)
        self.start = start

    def solve(self, problem: DesignProblem) -> DesignResult:
        """Run the search.

        ``extras['history']``: (children, best objective, seconds) at each checkpoint;
        ``extras['improvements']``: the same at every improvement of the best.
        """
        cfg, space = self.config, problem.space
        t0 = time.perf_counter()
        seed = self.start or smallest_design(space)
        ev = problem.evaluate(seed)
        rng = np.random.default_rng(cfg.seed)
        mut = _Mutator(space, rng)
        pop: list[tuple[_Fitness, Design]] = [(_fitness(ev), seed)] * cfg.population
        best = (_fitness(ev), seed)  # a feasible best has best[0].feasible
        history, marks, improvements = [], sorted(cfg.checkpoints), []
        n, interrupted = 0, False
        try:  # Ctrl-C keeps the best design so far (status "interrupted")
            for n in range(1, cfg.children + 1):
                if len(pop) > cfg.population:
                    pop = _rank(pop, cfg.population)
                parent = pop[int(rng.integers(len(pop)))][1]
                child = parent
                for _ in range(cfg.mutations_per_child):
                    child = mut.mutate(child)
                cev = problem.evaluate(child)
                fit = _fitness(cev)
                if cev.feasible or not best[0].feasible:
                    pop.append((fit, child))
                if fit > best[0]:
                    best = (fit, child)
                    if cev.feasible:
                        improvements.append((n, cev.objective, time.perf_counter() - t0))
                while marks and n >= marks[0]:
                    history.append((marks.pop(0), _objective(best[0]), time.perf_counter() - t0))
                if time.perf_counter() - t0 > cfg.time_limit:
                    break
        except KeyboardInterrupt:
            interrupted = True
        history.append((n, _objective(best[0]), time.perf_counter() - t0))
        if not best[0].feasible:
            bad = "; ".join(f"{c.name} {c.value:g} {c.sense} {c.limit:g}"
                            for c in problem.evaluate(best[1]).constraints if not c.satisfied)
            raise DeepmadError(f"the evolution found no design meeting the budgets in {n} children (closest: "
                               f"{bad}); try the exact solver, which proves infeasibility, or a larger budget")
        msg = f"{n} children, population {cfg.population}, seed {cfg.seed} (no optimality bound)"
        status = "interrupted" if interrupted else "completed" if n >= cfg.children else "time_limit"
        return finish(problem, best[1], "evolution", status, msg, best[0].value, math.inf, n,
                      time.perf_counter() - t0, {"history": history, "improvements": improvements})


@dataclass(frozen=True, order=True)
class _Fitness:
    """Rank of a design: every feasible one above every infeasible one; then the objective
    (feasible) or minus :attr:`Evaluation.violation` (infeasible)."""

    feasible: bool
    value: float


def _objective(fit: _Fitness) -> float:
    """The objective of a feasible best, NaN while none is feasible (history entries)."""
    return fit.value if fit.feasible else math.nan


def _fitness(ev: Evaluation) -> _Fitness:
    return _Fitness(True, ev.objective) if ev.feasible else _Fitness(False, -ev.violation)


def _rank(pop: list[tuple[_Fitness, Design]], size: int) -> list[tuple[_Fitness, Design]]:
    """Sort by fitness (descending), drop duplicate structures, keep the best ``size``."""
    seen, out = set(), []
    for fit, d in sorted(pop, key=lambda t: t[0], reverse=True):
        if d not in seen:
            seen.add(d)
            out.append((fit, d))
            if len(out) == size:
                break
    return out


def smallest_design(space: DesignSpace) -> Design:
    """Smallest widths, bottlenecks, depths and kernels (non-decreasing widths kept)."""
    stem = space.stem.values()[0]
    prev, stages = stem, []
    for i, rng in enumerate(space.stages):
        vals = [v for v in rng.width.values() if not space.nondecreasing or v >= prev] or [rng.width.values()[-1]]
        c = vals[0]
        bs = space.bottleneck_values(i, c) or rng.bottleneck.values(c)
        stages.append((c, bs[0], rng.depth[0], rng.kernels[0]))
        prev = c
    final = space.final_conv.values()[0] if space.final_conv is not None else None
    return Design(min(space.resolutions), stem, tuple(stages), final)


class _Mutator:
    """Single-block mutations of ``space_k1kxk1`` (ResNet kinds) / ``space_k1dwsek1`` (depthwise)."""

    def __init__(self, space: DesignSpace, rng: np.random.Generator) -> None:
        self.space, self.rng = space, rng
        self.mobile = any(s.kind.depthwise for s in space.stages)
        self.n_blocks = 1 + len(space.stages) + (space.final_conv is not None)

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def mutate(self, d: Design) -> Design:
        for _ in range(self.n_blocks):  # the reference retries until a block accepts a mutation
            i = int(self.rng.integers(self.n_blocks))  # inclusive: the last block can mutate (fixed)
            out = self._mutate_block(d, i)
            if out is not None:
                return self._adjust(out)
        return d

    def _mutate_block(self, d: Design, i: int) -> Design | None:
        if i == self.n_blocks - 1 and (self.space.final_conv is not None or i == 0):
            return d  # the final 1x1 conv is never mutated (ConvKXBNRELU mutator, last block)
        if i == 0:
            return self._stem(d)
        return self._stage(d, i - 1)

    def _channel(self, x: int, cap: int) -> int:
        scale = self.choice(_M_SCALES if self.mobile else _R_SCALES)
        return min(cap, smart_round(scale * x))

    def _stem(self, d: Design) -> Design:
        s = self.space.stem
        new = self._channel(d.stem, 1280 if self.mobile else 2048)
        new = min(s.hi, new)
        new = max(s.lo, new) if self.mobile else new
        new = min(d.stages[0][0], new)
        return replace(d, stem=nearest(s.values(), max(1, new)))

    def _stage(self, d: Design, j: int) -> Design:
        c, b, depth, k = d.stages[j]
        cin = d.stem if j == 0 else d.stages[j - 1][0]
        nxt = d.stages[j + 1][0] if j + 1 < len(d.stages) else None
        rng = self.space.stages[j]
        op = self.choice(("out", "k", "btn", "L"))
        if op == "k":
            for _ in range(len(self._kernels())):
                k2 = self.choice(self._kernels())
                if k2 != k:
                    break
            k = k2
        elif op == "L":
            for _ in range(len(_L_STEPS)):
                d2 = max(1, depth + self.choice(_L_STEPS))
                if d2 != depth:
                    break
            depth = min(3, d2) if j == 0 else d2
            depth = min(max(depth, rng.depth[0]), rng.depth[1])
        elif self.mobile:
            c, b = self._mobile_channels(op, c, b, cin, nxt)
        else:
            c, b = self._resnet_channels(op, c, b, cin, nxt)
        c = nearest(rng.width.values(), c)
        b = nearest(self.space.bottleneck_values(j, c) or rng.bottleneck.values(c), b)
        stages = list(d.stages)
        stages[j] = (c, b, depth, k)
        return replace(d, stages=tuple(stages))

    def _kernels(self) -> tuple[int, ...]:
        return (3, 5, 7) if self.mobile else (3, 5)

    def _resnet_channels(self, op: str, c: int, b: int, cin: int, nxt: int | None) -> tuple[int, int]:
        if op == "out":
            new = max(cin, min(4 * cin, self._channel(c, 2048)))
            if nxt is not None:
                new = min(nxt, new)
                c = smart_round(nxt / 4) if new < smart_round(nxt / 4) else new
            else:
                c = new
        else:
            b = min(c, self._channel(b, 2048))
        if b < c / 10:  # the reference applies this after every mutation of the block
            b = smart_round(c / 10)
        return c, b

    def _mobile_channels(self, op: str, c: int, b: int, cin: int, nxt: int | None) -> tuple[int, int]:
        ratio = b / c
        if ratio not in _M_RATIOS:
            ratio = min(_M_RATIOS, key=lambda r: abs(r - ratio))
        if op == "out":
            c = max(cin, self._channel(c, 1280))
            if nxt is not None:
                c = min(nxt, c)
            return c, smart_round(c * ratio)
        for _ in range(len(_M_RATIOS)):
            r2 = self.choice(_M_RATIOS)
            if r2 != ratio:
                break
        return c, smart_round(c * r2)

    def _adjust(self, d: Design) -> Design:
        """Kernel shrink rule ``while 1.5 k > side: k -= 2`` (reference adjust_structures_inplace)."""
        side = d.resolution / self.space.stem_stride
        stages = []
        for rng, (c, b, depth, k) in zip(self.space.stages, d.stages):
            while k * 1.5 > side and k > 1:
                k -= 2
            if k not in rng.kernels:
                k = max([x for x in rng.kernels if x <= k] or [min(rng.kernels)])
            stages.append((c, b, depth, k))
            side /= rng.stride
        return replace(d, stages=tuple(stages))
