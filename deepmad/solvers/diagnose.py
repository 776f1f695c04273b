"""Infeasibility diagnosis: which budget cannot be met in the space, and by how much.

Every cost (params, MACs/FLOPs, activations, layers) grows with every width, bottleneck, depth
and kernel, so its smallest value over the space is the cost of the smallest design (and its
largest, of the largest design); rho = D / geometric-mean width is smallest with the widest
layers at the smallest depths. A budget that even those extreme designs miss cannot be met.
(The only non-monotone term, TinyNAS's average-pool shortcut of depthwise stride-2 blocks with
``c_in == c``, is below 0.1 % of a network's FLOPs, and the message says "about" for it.)
"""

from __future__ import annotations

from dataclasses import dataclass

from deepmad.solvers.problem import DesignProblem
from deepmad.solvers.space import Design, DesignSpace

__all__ = ["Shortfall", "diagnose", "largest_design", "infeasibility_message"]


@dataclass(frozen=True)
class Shortfall:
    """A budget no design of the space meets."""

    name: str
    sense: str
    best: float  # the best value any design reaches
    limit: float

    @property
    def relative(self) -> float:
        """How far the best value misses the limit, relative to the limit."""
        return (self.best - self.limit) / self.limit if self.limit else float("inf")

    def message(self) -> str:
        """e.g. 'macs[tinynas]: the smallest network in this space needs 5.02e+09, budget 4.13e+09 (+21.5 %)'."""
        word = "smallest" if self.sense == "<=" else "largest"
        verb = "needs" if self.sense == "<=" else "reaches only"
        return (f"{self.name}: the {word} network in this space {verb} {self.best:.4g}, "
                f"budget {self.sense} {self.limit:.4g} ({100 * self.relative:+.1f} %)")


def largest_design(space: DesignSpace) -> Design:
    """Largest widths, bottlenecks, depths and kernels."""
    stages = []
    for i, rng in enumerate(space.stages):
        c = rng.width.values()[-1]
        bs = space.bottleneck_values(i, c) or rng.bottleneck.values(c)
        stages.append((c, bs[-1], rng.depth[1], rng.kernels[-1]))
    final = space.final_conv.values()[-1] if space.final_conv is not None else None
    return Design(max(space.resolutions), space.stem.values()[-1], tuple(stages), final)


def _widest_shallowest(space: DesignSpace, resolution: int) -> Design:
    d = largest_design(space)
    stages = tuple((c, b, rng.depth[0], k) for rng, (c, b, _, k) in zip(space.stages, d.stages))
    return Design(resolution, d.stem, stages, d.final)


def diagnose(problem: DesignProblem) -> list[Shortfall]:
    """Budgets that no design of ``problem.space`` can meet (each taken alone)."""
    from deepmad.solvers.evolution import smallest_design

    space = problem.space
    small, large = smallest_design(space), largest_design(space)
    out = []
    for b in problem.budgets:
        if b.quantity == "resolution":
            res = space.resolutions
            if b.upper is not None and min(res) > b.upper:
                out.append(Shortfall(b.name, "<=", min(res), b.upper))
            if b.lower is not None and max(res) < b.lower:
                out.append(Shortfall(b.name, ">=", max(res), b.lower))
            continue
        if b.quantity == "rho":
            if b.upper is not None:
                rho = min(problem.evaluate(_widest_shallowest(space, r)).rho for r in space.resolutions)
                if rho > b.upper:
                    out.append(Shortfall(b.name, "<=", rho, b.upper))
            continue
        lo = min(problem.values(problem.evaluate(Design(r, small.stem, small.stages, small.final)).costs, 0.0, r)[b.name]
                 for r in space.resolutions)
        hi = problem.values(problem.evaluate(large).costs, 0.0, large.resolution)[b.name]
        if b.upper is not None and lo > b.upper:
            out.append(Shortfall(b.name, "<=", lo, b.upper))
        if b.lower is not None and hi < b.lower:
            out.append(Shortfall(b.name, ">=", hi, b.lower))
    return out


def infeasibility_message(problem: DesignProblem, shortfalls: list[Shortfall] | None = None) -> str:
    """One line naming the unmeetable budgets, or saying they clash only jointly."""
    shortfalls = diagnose(problem) if shortfalls is None else shortfalls
    if shortfalls:
        return "no design meets the budgets: " + "; ".join(s.message() for s in shortfalls)
    names = ", ".join(b.name for b in problem.budgets)
    return (f"no design meets the budgets together ({names}); each alone can be met in this space, "
            "so relax one of them or enlarge the space")
