"""Candidate generation for one greedy step: subcomponent constraint + MACs band (no torch).

Paper: Liu et al., "Greedy Network Enlarging", arXiv 2108.00177; reconstruction of the
reference note B.3, step 3. From a parent state a^{t-1}, every candidate a satisfies

    d_s >= d_s^{t-1},  w_s >= w_s^{t-1},  r >= r^{t-1}          (subcomponent constraint)
    low * C_t <= MACs(a) <= high * C_t                           (tolerance band)

and lies on the step grid: ``d_s = d_s^{t-1} + Delta_d`` with Delta_d in ``depth_steps``, ``w_s``
one of the rounded ``w_s^{t-1} x width_multipliers``, ``r = r^{t-1} + Delta_r``. A grid of at
most ``max_enumerate`` points is enumerated exhaustively; a larger one is sampled by *random
fill*: starting at the parent, raise one randomly chosen coordinate to its next grid value
while the MACs stay <= high * C_t, until they reach low * C_t (MACs grow monotonically along
every coordinate, so each draw ends in the band or gives up).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from deepmad.cost import count_network
from deepmad.enlarge.config import EnlargeConfig
from deepmad.enlarge.state import EnlargeState, StageFamily

__all__ = ["MacsOracle", "StepGrid", "step_grid", "generate_candidates"]


class MacsOracle:
    """Exact torch-convention MACs and params of a family's states, memoised per state."""

    def __init__(self, family: StageFamily) -> None:
        self.family = family
        self._cache: dict[EnlargeState, tuple[int, int]] = {}

    def costs(self, state: EnlargeState) -> tuple[int, int]:
        """(MACs, params) of ``state``."""
        if state not in self._cache:
            report = count_network(self.family.build(state))
            self._cache[state] = (report.macs, report.params)
        return self._cache[state]

    def macs(self, state: EnlargeState) -> int:
        """MACs of ``state``."""
        return self.costs(state)[0]


@dataclass(frozen=True)
class StepGrid:
    """Per-coordinate ladders of one step: depths, then widths, then the resolution."""

    ladders: tuple[tuple[int, ...], ...]
    num_stages: int

    @property
    def size(self) -> int:
        """Number of grid points."""
        return math.prod(len(v) for v in self.ladders)

    def state(self, levels: tuple[int, ...]) -> EnlargeState:
        """The state at ladder positions ``levels``."""
        vals = [lad[i] for lad, i in zip(self.ladders, levels)]
        n = self.num_stages
        return EnlargeState(tuple(vals[:n]), tuple(vals[n:2 * n]), vals[-1])


def _width_ladder(width: int, multipliers: tuple[float, ...], round_width: Callable[[float], int],
                  quantum: int) -> tuple[int, ...]:
    values = {width}
    for m in multipliers[1:]:
        w = round_width(width * m)
        values.add(w if w > width else width + quantum)
    return tuple(sorted(values))


def step_grid(parent: EnlargeState, family: StageFamily, config: EnlargeConfig) -> StepGrid:
    """The grid of states reachable from ``parent`` in one step."""
    q = family.width_quantum
    depths = [tuple(d + s for s in config.depth_steps) for d in parent.depths]
    widths = [_width_ladder(w, config.width_multipliers, family.round_width, q) for w in parent.widths]
    res = [tuple(parent.resolution + s for s in config.resolution_steps)]
    return StepGrid(tuple(depths + widths + res), len(parent.depths))


def _random_fill(grid: StepGrid, low: float, high: float, rng: random.Random,
                 oracle: MacsOracle) -> EnlargeState | None:
    """One random-fill draw: raise random coordinates until the MACs enter the band."""
    levels = [0] * len(grid.ladders)
    state = grid.state(tuple(levels))
    macs = oracle.macs(state)
    open_coords = [i for i, lad in enumerate(grid.ladders) if len(lad) > 1]
    moved = False
    while open_coords and not (moved and macs >= low):
        i = rng.choice(open_coords)
        trial = list(levels)
        trial[i] += 1
        candidate = grid.state(tuple(trial))
        trial_macs = oracle.macs(candidate)
        if trial_macs > high:
            open_coords.remove(i)
            continue
        levels, state, macs, moved = trial, candidate, trial_macs, True
        if levels[i] == len(grid.ladders[i]) - 1:
            open_coords.remove(i)
    return state if low <= macs <= high else None


def generate_candidates(parent: EnlargeState, target: int, family: StageFamily, config: EnlargeConfig,
                        rng: random.Random, oracle: MacsOracle) -> tuple[list[EnlargeState], str]:
    """Candidates of one step from ``parent``, and how they were found (``enumerate``/``sample``).

    Every returned state contains ``parent`` and has MACs inside the band of ``target``; the
    list is sorted, at most ``config.num_candidates`` long (0 = no limit), and reproducible
    from ``rng``'s state.
    """
    grid = step_grid(parent, family, config)
    low, high = config.band[0] * target, config.band[1] * target
    limit = config.num_candidates
    if grid.size <= config.max_enumerate:
        found = sorted(s for s in map(grid.state, itertools.product(*(range(len(v)) for v in grid.ladders)))
                       if low <= oracle.macs(s) <= high)
        if limit and len(found) > limit:
            found = sorted(rng.sample(found, limit))
        return found, "enumerate"
    seen: set[EnlargeState] = set()
    wanted = limit or 64
    for _ in range(wanted * config.sample_tries):
        state = _random_fill(grid, low, high, rng, oracle)
        if state is not None:
            seen.add(state)
            if len(seen) >= wanted:
                break
    return sorted(seen), "sample"
