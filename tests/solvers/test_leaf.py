"""The exact MILP of boxes with fixed depths and widths (deepmad.solvers._leaf)."""

from __future__ import annotations

import collections
import functools
import itertools
from dataclasses import replace

import numpy as np
import pytest

from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import (
    Bottleneck,
    Budget,
    Channels,
    Design,
    DesignProblem,
    DesignSpace,
    StageRange,
)
from deepmad.solvers._bound import Context
from deepmad.solvers._depthleaf import depth_leaf_bound
from deepmad.solvers._leaf import solve_pairs
from deepmad.solvers._milpmodel import MilpModel
from deepmad.solvers.exact import ExactConfig, _Search
from tests.solvers.conftest import CASES, all_designs, case_problem, feasible_designs, root_box
from tests.solvers.test_terms import random_calibration


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


def _upper_only(case: str):
    """The case's problem with its lower budgets dropped (the depth-leaf MILP models upper ones)."""
    problem = case_problem(case)
    budgets = tuple(replace(b, lower=None) for b in problem.budgets)
    return DesignProblem(problem.space, problem.objective, budgets, name=problem.name)


@pytest.mark.parametrize("case, resolution", [("mobile-paper", 64), ("mobile-reference", 80)])
def test_depth_leaf_bound_covers_every_depth_vector(case: str, resolution: int) -> None:
    """For every depth vector (all widths and kernels free), the MILP bound is at least the best
    feasible design with those depths, and it reports infeasible only where there is none. One
    resolution per case (the space has two; each mode takes the other) halves the brute force."""
    problem = _upper_only(case)
    _check_depth_leaves(replace(problem, space=replace(problem.space, resolutions=(resolution,)), _cache={}))


def _wide_bottleneck_resnet(latency: bool) -> DesignProblem:
    """Two K1KXK1 stages with 8 bottlenecks each (12288 designs), params and MACs budgets at ~half
    the free optimum's, so the best designs take inner bottlenecks (b = 32, 40), where an
    over-estimate of ``b^2`` (e.g. the chord of [8, 64]) would cut them off; ``latency``: a
    latency budget of 15 ms under a random calibration (the optimum moves from 18.5 ms)."""
    space = DesignSpace(
        stem=Channels(16, 32, step=16),
        stages=(StageRange("res_k1kxk1", 2, Channels(32, 64, step=32), Bottleneck(8, 64), (3, 5), (1, 2)),
                StageRange("res_k1kxk1", 2, Channels(64, 128, step=32), Bottleneck(8, 64), (3, 5), (1, 2))),
        resolutions=(64,), num_classes=10)
    budgets = (Budget("params", upper=230e3, convention="tinynas"), Budget("macs", upper=40e6, convention="tinynas"),
               Budget("rho", upper=0.5))
    if latency:
        budgets += (Budget("latency_ms", upper=15.0),)
    return DesignProblem(space, ScoreConfig("reference"), budgets, name="wide_bottleneck_resnet",
                         latency_model=random_calibration(0))


@pytest.mark.parametrize("case", ["tiny_resnet", "wide", "wide-latency"])
def test_depth_leaf_bound_covers_every_resnet_depth_vector(case: str) -> None:
    """As above on K1KXK1 stages, whose k x k conv ``b -> b`` puts ``b^2 k^2`` into params, MACs
    and latency (the MILP under-estimates it by tangents): no stage declines, and the bound covers
    the best design of every depth vector, with a binding latency budget too."""
    problem = case_problem("resnet-reference") if case == "tiny_resnet" else _wide_bottleneck_resnet("latency" in case)
    assert all(s.block == "res_k1kxk1" for s in problem.space.stages)
    _check_depth_leaves(problem)


def _check_depth_leaves(problem: DesignProblem) -> None:
    """The MILP bound of every fixed-depth box against the brute-force best of those depths."""
    best: dict[tuple, float] = collections.defaultdict(lambda: float("-inf"))
    for d in all_designs(problem):
        ev = problem.evaluate(d)
        if ev.feasible:
            key = (d.resolution, tuple(st[2] for st in d.stages))
            best[key] = max(best[key], ev.objective)
    sp = problem.space
    checked = tight = 0
    for res in sp.resolutions:
        ctx = Context(problem, res)
        for depths in itertools.product(*[range(s.depth[0], s.depth[1] + 1) for s in sp.stages]):
            box = root_box(ctx)
            box.depth = [(d, d) for d in depths]
            probe = Design(res, sp.stem.values()[0], tuple((s.width.values()[-1], 8, d, s.kernels[0])
                                                           for s, d in zip(sp.stages, depths)),
                           sp.final_conv.values()[0] if sp.final_conv else None)
            out = depth_leaf_bound(ctx, box, problem.evaluate(probe).penalty)
            assert out is not None, depths
            truth = best[(res, depths)]
            assert out.bound >= truth - 1e-9 * abs(truth), (depths, out, truth)
            checked += 1
            tight += out.bound <= truth + 0.01 * abs(truth)
    assert checked > 0 and tight > 0


@pytest.mark.parametrize("y", [None, 0, 1])
def test_square_under_estimates_within_its_grid_error(y: int | None) -> None:
    """``MilpModel.square``: the least ``q`` its tangents allow is ``b^2 y`` (``y`` None: ``b^2``)
    from below, within the documented relative ``((r - 1) / (r + 1))^2 <= 2.2e-4`` (r <= 1.03)."""
    for value in (8.0, 8.7, 13.5, 31.0, 47.9, 64.0):
        m = MilpModel()
        b = m.var(value, value)
        yv = None if y is None else m.var(y, y, integer=True)
        v = b if yv is None else m.product({b: 1.0}, 8.0, 64.0, yv)
        q = m.square(v, yv, 8.0, 64.0)
        m.obj[q] = 1.0
        res = m.solve(10.0, 0.0)
        truth = value * value * (1 if y is None else y)
        assert truth * (1 - 2.2e-4) - 1e-9 <= res.fun <= truth + 1e-9, (value, res.fun, truth)


def test_depth_leaf_bound_declines_what_it_does_not_model() -> None:
    """A lower budget on a cost (here activations) is not modelled: None, the caller branches."""
    problem = case_problem("mobile-paper")
    ctx = Context(problem, problem.space.resolutions[0])
    box = root_box(ctx)
    box.depth = [(1, 1)] * len(box.depth)
    assert depth_leaf_bound(ctx, box, 0.0) is None


@functools.cache
def _upper_only_truth(case: str) -> float:
    """Brute-force optimum of :func:`_upper_only` (shared by the parametrised runs)."""
    problem = _upper_only(case)
    return max(ev.objective for d in all_designs(problem) if (ev := problem.evaluate(d)).feasible)


def test_envelope_under_estimates_a_product() -> None:
    """``MilpModel.envelope``: the least ``p`` it allows is McCormick's under-estimate of ``A B``
    (at most ``A B``, equal at a corner of the ranges)."""
    for a_val, b_val in ((2.0, 10.0), (5.0, 30.0), (3.5, 17.0), (2.0, 30.0)):
        m = MilpModel()
        a, b, p = m.var(a_val, a_val), m.var(b_val, b_val), m.var()
        m.envelope({p: 1.0}, {a: 1.0}, 2.0, 5.0, {b: 1.0}, 10.0, 30.0)
        m.obj[p] = 1.0
        res = m.solve(10.0, 0.0)
        expected = max(2.0 * b_val + 10.0 * a_val - 20.0, 5.0 * b_val + 30.0 * a_val - 150.0)
        assert res.fun == pytest.approx(expected) and res.fun <= a_val * b_val + 1e-9


@pytest.mark.parametrize("case", ["mobile-reference", "resnet-paper"])
@pytest.mark.parametrize("milp_time", [0.0, 0.3])
def test_exact_solver_with_leaf_milps_equals_brute_force(case: str, milp_time: float) -> None:
    """The search closes depth leaves by MILP (or not) and still returns the brute-force optimum
    (on K1KXK1 stages too, whose MILP carries the ``b^2`` term)."""
    problem = _upper_only(case)
    truth = _upper_only_truth(case)
    search = _Search(problem, ExactConfig(gap=1e-9, time_limit=120, leaf_milp_time=milp_time))
    r = search.run()
    assert r.status == "optimal" and r.verified, r.message
    assert r.objective == pytest.approx(truth, rel=1e-12) and r.dual_bound >= truth - 1e-9
    assert (search.stats.milps > 0) == (milp_time > 0)
