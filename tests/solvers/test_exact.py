"""The exact solver: brute-force agreement, valid bounds, determinism, infeasibility, presets."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

from deepmad.cost import count_network
from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import LIKE_PRESETS, Budget, ExactSolver, like
from deepmad.solvers._bound import Context, min_std, min_std_point, penalty_tangent
from deepmad.solvers._branch import Node
from deepmad.solvers._dp import BoundOut, dp_bound, make_groups
from deepmad.solvers.exact import ExactConfig, _Search
from deepmad.spec import get_preset
from tests.solvers.conftest import (
    CASES,
    all_designs,
    case_problem,
    feasible_designs,
    root_box,
    tiny_mobile,
    tiny_resnet,
)


@functools.cache
def _truth(case: str):
    """Best feasible design and objective (ties: the smallest design, as ``brute_force``)."""
    feasible = feasible_designs(case)
    obj = max(o for _, o in feasible)
    return min(d for d, o in feasible if o == obj), obj


@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_equals_brute_force(case: str) -> None:
    best, obj = _truth(case)
    r = ExactSolver(gap=1e-9, time_limit=60).solve(case_problem(case))
    assert r.status == "optimal" and r.verified, r.message
    assert r.objective == pytest.approx(obj, rel=1e-12)
    assert r.gap <= 1e-9 and r.dual_bound >= obj - 1e-9
    assert r.design == best




@pytest.mark.parametrize("case", sorted(CASES))
def test_dp_bound_is_valid_for_any_multipliers(case: str) -> None:
    problem = case_problem(case)
    best, obj = _truth(case)
    ctx = Context(problem, best.resolution)
    n_s = len(ctx.ends)
    rng = np.random.default_rng(0)
    for _ in range(20):
        lam = rng.uniform(0, 3 * abs(obj), len(ctx.rows))
        mu = rng.uniform(0, 50, n_s) * rng.integers(0, 2, n_s)
        d0 = rng.uniform(1, 40, n_s)
        for groups in (2, 10**9):
            assert dp_bound(ctx, root_box(ctx), lam, mu, d0, groups).value >= obj - 1e-6


@pytest.mark.parametrize("case", sorted(CASES))
def test_dp_bound_is_valid_on_sub_boxes(case: str) -> None:
    """Each depth sub-box's bound (its own penalty tangent plane) covers its best design."""
    problem = case_problem(case)
    feasible = feasible_designs(case)
    rng = np.random.default_rng(3)
    for _ in range(12):
        depth = []
        for s in problem.space.stages:
            a, b = sorted(rng.integers(s.depth[0], s.depth[1] + 1, 2))
            depth.append((int(a), int(b)))
        inside = [(d, o) for d, o in feasible if all(a <= st[2] <= b for st, (a, b) in zip(d.stages, depth))]
        for res in problem.space.resolutions:
            best = max((o for d, o in inside if d.resolution == res), default=None)
            if best is None:
                continue
            ctx = Context(problem, res)
            box = root_box(ctx)
            box.depth = depth
            lam = rng.uniform(0, 3 * abs(best), len(ctx.rows))
            mu = rng.uniform(0, 50, len(ctx.ends))
            d0 = rng.uniform(1, 40, len(ctx.ends))
            assert dp_bound(ctx, box, lam, mu, d0).value >= best - 1e-6


def test_dp_bound_prices_the_depth_penalty_per_depth_vector() -> None:
    """Widths, bottlenecks and kernels fixed, no prices: the bound over a depth box must cover the
    objective of every depth vector in it (the penalty's tangent plane, stage by stage)."""
    problem = tiny_mobile(mode="reference")
    designs = list(all_designs(problem))
    rng = np.random.default_rng(4)
    for i in rng.choice(len(designs), 15, replace=False):
        d = designs[i]
        ctx = Context(problem, d.resolution)
        box = root_box(ctx)
        box.widths = [np.array([d.stem])] + [np.array([st[0]]) for st in d.stages] + [np.array([d.final])]
        box.kernels = [(st[3],) for st in d.stages]
        box.bott = [(st[1], st[1]) for st in d.stages]
        objs = {ds: problem.evaluate(type(d)(d.resolution, d.stem, tuple(
            (c, b, depth, k) for (c, b, _, k), depth in zip(d.stages, ds)), d.final)).objective
            for ds in itertools.product(*[range(a, b + 1) for a, b in box.depth])}
        intervals = [[(a, b) for a in range(lo, hi + 1) for b in range(a, hi + 1)] for lo, hi in box.depth]
        for sub in itertools.product(*intervals):  # every depth sub-box
            box.depth = list(sub)
            best = max(o for ds, o in objs.items() if all(a <= x <= b for x, (a, b) in zip(ds, sub)))
            bound = dp_bound(ctx, box, np.zeros(len(ctx.rows)), np.zeros(len(ctx.ends)), np.full(len(ctx.ends), 5.0))
            assert bound.value >= best - 1e-6


def test_penalty_tangent_plane_is_a_minorant() -> None:
    """beta exp(std L) >= its tangent plane anywhere; at the min-std point, >= the constant bound."""
    rng = np.random.default_rng(2)
    beta = 10.0
    for _ in range(40):
        ranges = tuple((int(a), int(a + b)) for a, b in zip(rng.integers(1, 12, 4), rng.integers(0, 6, 4)))
        grid = np.stack(np.meshgrid(*[np.arange(lo, hi + 1) for lo, hi in ranges]), -1).reshape(-1, 4)
        q_grid = beta * np.exp(grid.std(axis=1))
        for point in (min_std_point(ranges), rng.uniform(1, 15, 4)):
            q, g = penalty_tangent(point, beta)
            assert q == pytest.approx(beta * np.exp(np.std(point)))
            plane = q + (grid - np.asarray(point)) @ g
            assert (plane <= q_grid + 1e-9).all()
        q, g = penalty_tangent(min_std_point(ranges), beta)
        plane = q + (grid - np.asarray(min_std_point(ranges))) @ g
        assert (plane >= beta * np.exp(min_std(ranges)) - 1e-6).all()


def test_min_std_is_a_lower_bound() -> None:
    assert min_std(((1, 3), (10, 12))) == pytest.approx(3.5, abs=1e-6)
    assert min_std(((1, 9), (5, 5), (4, 20))) == 0.0
    rng = np.random.default_rng(1)
    for _ in range(50):
        ranges = tuple((int(a), int(a + b)) for a, b in zip(rng.integers(1, 10, 3), rng.integers(0, 5, 3)))
        grid = np.stack(np.meshgrid(*[np.arange(lo, hi + 1) for lo, hi in ranges]), -1).reshape(-1, 3)
        assert min_std(ranges) <= grid.std(axis=1).min() + 1e-9


def test_deterministic() -> None:
    p = tiny_mobile(mode="paper")
    a, b = ExactSolver(gap=1e-9).solve(p), ExactSolver(gap=1e-9).solve(p)
    assert a.design == b.design and a.objective == b.objective


def test_infeasible_budget_is_diagnosed() -> None:
    p = tiny_resnet(budgets=(Budget("macs", upper=1e5, convention="tinynas"),))
    r = ExactSolver().solve(p)
    assert r.status == "infeasible" and r.design is None
    assert "macs[tinynas]: the smallest network in this space needs" in r.message and "%" in r.message


def test_results_meet_budgets_by_count_network() -> None:
    p = tiny_mobile(mode="paper")
    r = ExactSolver(gap=1e-3).solve(p)
    torch_r, tn = count_network(r.spec, "torch"), count_network(r.spec, "tinynas")
    assert 2 * torch_r.macs <= 16e6 and tn.params <= 80e3 and 150e3 <= torch_r.activations <= 260e3
    widths = [r.spec.stem.out_channels] + [s.out_channels for s in r.spec.stages]
    assert widths == sorted(widths)  # paper guideline 3: non-decreasing widths


@pytest.mark.slow
@pytest.mark.parametrize("name", ["deepmad_r18", "deepmad_r34", "deepmad_r50", "deepmad_29m_224",
                                  "deepmad_50m", "deepmad_89m"])
def test_like_presets_beat_the_published_structure(name: str) -> None:
    problem = like(name, ScoreConfig("reference"))
    r = ExactSolver(time_limit=2.0, gap=0.01).solve(problem)
    published = problem.verify(get_preset(LIKE_PRESETS[name].published))
    assert r.verified and r.evaluation.feasible, r.message
    assert r.objective >= published.objective
    assert r.dual_bound >= r.objective
    if name == "deepmad_r18":
        assert not published.feasible  # its code-counted FLOPs exceed 1.82e9 (§5.2)


@pytest.mark.parametrize("case", sorted(CASES))
def test_kernel_through_covers_every_design_with_that_kernel(case: str) -> None:
    """The best relaxation value through kernel k of stage j (what kernel filtering compares with
    the incumbent) is at least the objective of every feasible design of the box using k there,
    and the best kernel of each stage carries the bound itself."""
    problem = case_problem(case)
    feasible = feasible_designs(case)
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(6):
        for res in problem.space.resolutions:
            ctx = Context(problem, res)
            box = root_box(ctx)
            box.depth = [tuple(sorted(int(x) for x in rng.integers(s.depth[0], s.depth[1] + 1, 2)))
                         for s in problem.space.stages]
            inside = [(d, o) for d, o in feasible if d.resolution == res
                      and all(a <= st[2] <= b for st, (a, b) in zip(d.stages, box.depth))]
            scale = max((abs(o) for _, o in inside), default=1.0)
            lam = rng.uniform(0, 3 * scale, len(ctx.rows))
            mu = rng.uniform(0, 50, len(ctx.ends))
            d0 = rng.uniform(1, 40, len(ctx.ends))
            out = dp_bound(ctx, box, lam, mu, d0, max_groups=3)
            assert out.kernel_through is not None
            for j, through in enumerate(out.kernel_through):
                assert sorted(through) == sorted(box.kernels[j])
                assert max(through.values()) == pytest.approx(out.value, rel=1e-9, abs=1e-9)
            for d, o in inside:
                for j, st in enumerate(d.stages):
                    assert out.kernel_through[j][st[3]] >= o - 1e-6
                    checked += 1
    assert checked > 0


def test_filter_matches_an_earlier_payload_by_value() -> None:
    """Filtering with the payload of an earlier, larger box (a continued multiplier search keeps
    its best evaluation) drops exactly the widths and kernels whose values it rules out."""
    problem = tiny_mobile(mode="reference")
    search = _Search(problem, ExactConfig(gap=0.0))
    best, obj = _truth("mobile-reference")
    search.inc, search.inc_ev = best, problem.evaluate(best)
    ctx = Context(problem, best.resolution)
    old = root_box(ctx)
    old.widths[0] = np.arange(8, 72, 8)  # 8 widths in 4 groups of 2: [8,16] [24,32] [40,48] [56,64]
    old.kernels[0] = (3, 5, 7)
    groups = [make_groups(w, 4) for w in old.widths]
    through = [np.full(len(g.lo), obj + 1.0) for g in groups]
    through[0] = np.array([obj + 1.0, obj - 1.0, obj + 1.0, obj - 2.0])  # rule out 24-32 and 56-64
    kernels = [{k: obj + 1.0 for k in ks} for ks in old.kernels]
    kernels[0] = {3: obj + 1.0, 5: obj - 1.0, 7: obj + 1.0}
    out = BoundOut(obj + 1.0, None, np.zeros(0), np.zeros(0), through, groups, False, kernel_through=kernels)
    node_box = old.copy()
    node_box.widths[0] = np.array([8, 24, 40, 48, 64])  # an earlier filter removed 16, 32 and 56
    node_box.kernels[0] = (5, 7)
    node = Node(ctx, node_box, np.zeros(len(ctx.rows)), np.ones(len(ctx.ends)), obj + 1.0, 4, 0)
    assert search.filter(node, out)
    assert node.box.widths[0].tolist() == [8, 40, 48]
    assert node.box.kernels[0] == (7,)
    assert search.pruned == pytest.approx(obj - 1.0)
    node.box.kernels[0] = (5,)  # every kernel left is ruled out: the node is pruned
    assert not search.filter(node, out)
