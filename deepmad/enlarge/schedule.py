"""MACs schedules C_1 < C_2 < ... < C_K for greedy enlarging (reference note B.3, step 2).

Paper: Liu et al., "Greedy Network Enlarging", arXiv 2108.00177. The paper's schedule is not
published; a geometric one (about x2 per step, like EfficientNet's B-levels) is the note's
suggestion and our default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from deepmad.errors import DeepmadError

__all__ = ["MAX_GROWTH", "MAX_STEPS", "geometric_schedule", "make_schedule"]

# Greedy enlarging grows a network a few times over (the paper: about 1.5-20x; S-GhostNet B4 is
# 32x GhostNet 1.0). Each step searches candidates around the parent, so the work grows with the
# number of steps and with the candidates' size: targets beyond these caps are refused up front
# instead of running for hours.
MAX_GROWTH = 1000.0  # final MACs / base MACs
MAX_STEPS = 20  # targets in a schedule


def geometric_schedule(base_macs: float, final_macs: float, step_ratio: float = 2.0) -> tuple[int, ...]:
    """Targets ``C_t = C_0 (C_K / C_0)^(t/K)``, ``t = 1..K``, with ``K = ceil(log(C_K/C_0) / log(ratio))``.

    Args:
        base_macs: C_0, MACs of the base network.
        final_macs: C_K, the final budget (> C_0).
        step_ratio: the largest growth per step (> 1).

    Returns:
        The K integer targets, the last equal to ``final_macs``.
    """
    if step_ratio <= 1:
        raise DeepmadError(f"step_ratio={step_ratio} is invalid; expected > 1 (e.g. 2)")
    if final_macs <= base_macs:
        raise DeepmadError(f"final MACs {final_macs:.4g} must exceed the base network's {base_macs:.4g}")
    _check_growth(base_macs, final_macs)
    steps = max(1, math.ceil(math.log(final_macs / base_macs) / math.log(step_ratio) - 1e-9))
    if steps > MAX_STEPS:
        raise DeepmadError(f"step_ratio={step_ratio:g} makes a schedule of {steps} steps to {final_macs:.4g} MACs; "
                           f"at most {MAX_STEPS} are allowed (raise the step ratio, e.g. 2)")
    return tuple(int(round(base_macs * (final_macs / base_macs) ** (t / steps))) for t in range(1, steps + 1))


def _check_growth(base_macs: float, final_macs: float) -> None:
    if not math.isfinite(final_macs) or final_macs > MAX_GROWTH * base_macs:
        raise DeepmadError(
            f"MACs target {final_macs:.4g} is {final_macs / base_macs:.3g}x the base network's {base_macs:.4g}; "
            f"greedy enlarging grows a network at most {MAX_GROWTH:g}x (up to {MAX_GROWTH * base_macs:.4g} MACs): "
            f"start from a larger network")
    return None


def make_schedule(base_macs: float, targets: Sequence[float], step_ratio: float = 2.0) -> tuple[int, ...]:
    """One target -> a geometric schedule up to it; several -> those, checked increasing and > C_0."""
    if not targets:
        raise DeepmadError("no MACs target given; expected e.g. 600M or 300M,600M")
    if len(targets) == 1:
        return geometric_schedule(base_macs, targets[0], step_ratio)
    out = tuple(int(round(t)) for t in targets)
    if len(out) > MAX_STEPS:
        raise DeepmadError(f"{len(out)} MACs targets given; at most {MAX_STEPS} are allowed")
    _check_growth(base_macs, max(out))
    if out[0] <= base_macs:
        raise DeepmadError(f"first MACs target {out[0]:.4g} must exceed the base network's {base_macs:.4g}")
    for a, b in zip(out, out[1:]):
        if b <= a:
            raise DeepmadError(f"MACs targets must increase; got {a:.4g} then {b:.4g}")
    return out
