"""The block-count DP: valid per-count bounds, a valid penalty plane, brute-force agreement."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from deepmad.solvers import ExactSolver
from deepmad.solvers._bound import Context
from deepmad.solvers._dpsum import block_range, dp_bound_sum, penalty_plane
from tests.solvers.conftest import case_problem, feasible_designs, root_box, tiny_resnet

CASES = ("resnet-reference", "mobile-reference", "mobile-paper")  # of conftest's CASES


@functools.cache
def _best_per_count(case: str) -> dict[tuple[int, int], float]:
    """Best feasible objective per (resolution, total block count), by brute force."""
    best: dict[tuple[int, int], float] = {}
    for d, obj in feasible_designs(case):
        key = (d.resolution, sum(s[2] for s in d.stages))
        best[key] = max(best.get(key, -math.inf), obj)
    return best




@pytest.mark.parametrize("case", sorted(CASES))
def test_per_count_bounds_are_valid_for_any_multipliers(case: str) -> None:
    problem = case_problem(case)
    truth = _best_per_count(case)
    rng = np.random.default_rng(1)
    for res in problem.space.resolutions:
        ctx = Context(problem, res)
        box = root_box(ctx)
        n_s = len(ctx.ends)
        scale = max(abs(v) for v in truth.values())
        for _ in range(12):
            lam = rng.uniform(0, 3 * scale, len(ctx.rows))
            mu = rng.uniform(0, 50, n_s) * rng.integers(0, 2, n_s)
            d0 = rng.uniform(1, 40, n_s)
            ref = [int(rng.integers(lo, hi + 1)) for lo, hi in (box.depth[i] for i in ctx.pen_idx)]
            for groups in (2, 10**9):
                out = dp_bound_sum(ctx, box, lam, mu, d0, groups, ref)
                for (r, n), obj in truth.items():
                    if r == res:
                        assert out.n_values[n - out.n_first] >= obj - 1e-6, (n, obj)
                assert out.value == pytest.approx(float(out.n_values.max()))
        # a restricted block count bounds exactly its own designs
        lo, hi = block_range(box)
        sub = box.copy()
        sub.blocks = (lo + 1, lo + 1)
        out = dp_bound_sum(ctx, sub, np.full(len(ctx.rows), scale), np.zeros(n_s), np.full(n_s, 10.0))
        assert out.design is None or sum(s[2] for s in out.design.stages) == lo + 1
        if (res, lo + 1) in truth:
            assert out.value >= truth[(res, lo + 1)] - 1e-6


def test_penalty_plane_is_a_minorant() -> None:
    problem = tiny_resnet()
    ctx = Context(problem, 64)
    rng = np.random.default_rng(2)
    for _ in range(50):
        box = root_box(ctx)
        box.depth = [tuple(sorted(int(x) for x in rng.integers(1, 30, 2))) for _ in box.depth]
        ref = [int(rng.integers(1, 30)) for _ in ctx.pen_idx]
        plane = penalty_plane(ctx, box, ref)
        if plane is None:
            continue
        a, b, c = plane
        for _ in range(40):
            depths = [int(rng.integers(lo, hi + 1)) for lo, hi in (box.depth[i] for i in ctx.pen_idx)]
            std = float(np.std(depths))
            r, p = sum(x * x for x in depths), sum(depths)
            assert math.exp(std) >= a + b * r + c * p - 1e-9


@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_with_block_count_dp_equals_brute_force(case: str) -> None:
    truth = _best_per_count(case)
    r = ExactSolver(gap=1e-9, time_limit=60, narrow=1, blocks_first=True).solve(case_problem(case))
    assert r.status == "optimal" and r.verified, r.message
    assert r.objective == pytest.approx(max(truth.values()), rel=1e-12)
