"""The exact MILP of boxes with fixed depths and widths (deepmad.solvers._leaf)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from deepmad.solvers import Design
from deepmad.solvers._leaf import solve_pairs
from tests.solvers.conftest import CASES, all_designs, case_problem, feasible_designs


def _frame(d: Design) -> tuple:
    """What a leaf box fixes: resolution, stem, widths, depths, final."""
    return d.resolution, d.stem, tuple((c, depth) for c, _, depth, _ in d.stages), d.final


@pytest.mark.parametrize("case", sorted(CASES))
def test_solve_pairs_equals_brute_force(case: str) -> None:
    """Over every (kernel, bottleneck) pair per stage, the MILP finds the best feasible design of
    the frame, its bound covers it, and a frame without feasible designs is reported infeasible."""
    problem = case_problem(case)
    best: dict[tuple, float] = collections.defaultdict(lambda: float("-inf"))
    for d, o in feasible_designs(case):
        best[_frame(d)] = max(best[_frame(d)], o)
    frames = sorted({_frame(d): d for d in all_designs(problem)}.items())
    rng = np.random.default_rng(0)
    picks = rng.choice(len(frames), size=min(25, len(frames)), replace=False)
    seen_infeasible = seen_feasible = 0
    for i in picks:
        frame, base = frames[i]
        sp = problem.space
        pairs = [[(k, b) for k in rng_.kernels for b in sp.bottleneck_values(j, c)]
                 for j, (rng_, (c, _)) in enumerate(zip(sp.stages, frame[2]))]
        res = solve_pairs(problem, base, pairs)
        if best[frame] == float("-inf"):
            seen_infeasible += 1
            assert res.status == "infeasible" or not problem.evaluate(res.design).feasible
            continue
        seen_feasible += 1
        assert res.status == "optimal"
        ev = problem.evaluate(res.design)
        assert ev.feasible and ev.objective == pytest.approx(best[frame], rel=1e-9)
        assert res.bound >= best[frame] - 1e-9
    assert seen_feasible > 0
