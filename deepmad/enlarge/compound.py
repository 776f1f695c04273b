"""Baseline: uniform compound scaling of the same base network to the same MACs targets.

EfficientNet (Tan & Le, ICML 2019, arXiv 1905.11946, Sec. 3.3, Eq. 3) scales every stage by one
coefficient phi:

    d_s = ceil(d_s0 alpha^phi),  w_s = q(w_s0 beta^phi),  r = round(r_0 gamma^phi)

with alpha = 1.2, beta = 1.1, gamma = 1.15. Greedy Network Enlarging (Liu et al., arXiv
2108.00177) claims to "consistently outperform" it at equal MACs. MACs(phi) never decreases
(each coordinate is a non-decreasing step function of phi and MACs grow along every
coordinate), so for each target C_t we bisect for the largest phi with MACs <= high x C_t. The
rounded rule leaves gaps (``ceil`` adds a block to every stage as soon as phi > 0, and odd
feature sides jump), so when that network falls below low x C_t the gap is filled uniformly
(``fill``): keeping phi's depths, the resolution may grow in steps of ``resolution_quantum``
and all widths take one more common factor, the fullest fit <= high x C_t winning. (EfficientNet's own B1-B7
resolutions were likewise set by hand, not by gamma^phi.) ``PathPoint.in_band`` says whether
the network reached the band.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from deepmad.enlarge.candidates import MacsOracle
from deepmad.enlarge.config import CompoundConfig
from deepmad.enlarge.evaluators import Evaluator
from deepmad.enlarge.records import EnlargeResult, path_point
from deepmad.enlarge.state import EnlargeState, StageFamily, family_for
from deepmad.errors import InfeasibleError
from deepmad.spec.network import NetworkSpec

__all__ = ["compound_state", "solve_phi", "fill_state", "compound_scale"]


def compound_state(base: EnlargeState, phi: float, config: CompoundConfig, family: StageFamily,
                   width_phi: float | None = None) -> EnlargeState:
    """The compound-scaled state of ``base`` at coefficient ``phi`` (EfficientNet Eq. 3).

    ``width_phi`` (default ``phi``) lets the fill step scale the widths a little further.
    """
    a, g = config.alpha ** phi, config.gamma ** phi
    b = config.beta ** (phi if width_phi is None else width_phi)
    depths = tuple(max(d, math.ceil(d * a - 1e-9)) for d in base.depths)
    widths = tuple(max(w, family.round_width(w * b)) for w in base.widths)
    q = config.resolution_quantum
    res = max(base.resolution, int(round(base.resolution * g / q)) * q)
    return EnlargeState(depths, widths, res)


def _largest(fits: Callable[[float], bool], start: float, iterations: int = 60) -> float:
    """Largest x >= start with ``fits(x)`` for a monotone predicate (fits(start) must hold)."""
    lo, hi = start, start + 1.0
    while fits(hi):
        lo, hi = hi, start + 2 * (hi - start)
        if hi - start > 1e3:
            raise InfeasibleError("compound scaling cannot reach the MACs target")
    for _ in range(iterations):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def solve_phi(base: EnlargeState, limit: float, config: CompoundConfig, family: StageFamily,
              oracle: MacsOracle) -> float:
    """Largest phi (bisection) with MACs(phi) <= ``limit``."""
    if oracle.macs(base) > limit:
        raise InfeasibleError(f"the base network already has {oracle.macs(base):.4g} MACs > {limit:.4g}")
    return _largest(lambda p: oracle.macs(compound_state(base, p, config, family)) <= limit, 0.0)


def fill_state(base: EnlargeState, phi: float, limit: float, config: CompoundConfig,
               family: StageFamily, oracle: MacsOracle) -> tuple[EnlargeState, float]:
    """Fill the rounding gap below ``limit`` uniformly, keeping the depths of ``phi``.

    For each resolution r(phi) + j * ``resolution_quantum`` that still fits, all widths take the
    largest common extra factor beta^(psi - phi) with MACs <= limit; the fullest state wins.
    Returns it and its psi.
    """
    best = compound_state(base, phi, config, family)
    best_psi = phi
    res = best.resolution
    while True:
        def at(p: float, r: int = res) -> EnlargeState:
            s = compound_state(base, phi, config, family, p)
            return EnlargeState(s.depths, s.widths, r)

        if oracle.macs(at(phi)) > limit:
            return best, best_psi
        psi = _largest(lambda p: oracle.macs(at(p)) <= limit, phi)
        if oracle.macs(at(psi)) > oracle.macs(best):
            best, best_psi = at(psi), psi
        res += config.resolution_quantum


def compound_scale(base: NetworkSpec, targets: Sequence[int], config: CompoundConfig | None = None,
                   evaluator: Evaluator | None = None, family: StageFamily | None = None) -> EnlargeResult:
    """Compound-scale ``base`` to each target.

    Args:
        base: the network to scale.
        targets: C_1 < ... < C_K.
        config: coefficients, band and rounding; defaults to :class:`CompoundConfig()`.
        evaluator: if given, scores every network of the path (for comparison with greedy).
        family: how states map to specs; default :func:`family_for(base)`.

    Returns:
        An :class:`EnlargeResult` (``method="compound"``, no step records); ``config`` records
        the phi of every target.
    """
    start = time.perf_counter()
    config = config or CompoundConfig()
    family = family or family_for(base, config.width_quantum)
    oracle = MacsOracle(family)
    state0 = family.state_of(base)
    states, phis = [state0], []
    for target in targets:
        limit = config.band[1] * target
        phi = solve_phi(state0, limit, config, family, oracle)
        state, psi = compound_state(state0, phi, config, family), phi
        if config.fill and oracle.macs(state) < config.band[0] * target:
            state, psi = fill_state(state0, phi, limit, config, family, oracle)
        phis.append((phi, psi))
        states.append(state)
    specs = [family.build(s) for s in states]
    scores: list[float | None] = list(evaluator.evaluate(specs)) if evaluator else [None] * len(specs)
    path = tuple(path_point(i, None if i == 0 else int(targets[i - 1]), s, spec, v, config.band)
                 for i, (s, spec, v) in enumerate(zip(states, specs, scores)))
    return EnlargeResult("compound", family.name, base, specs[-1], tuple(int(t) for t in targets), path,
                         (), evaluator.settings() if evaluator else None,
                         {**config.to_dict(), "phi": [p for p, _ in phis], "width_phi": [q for _, q in phis]}, time.perf_counter() - start)
