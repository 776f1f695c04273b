"""The exact solver's helpers: the dual method (resumable), depth moves, local search, depth dives."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from deepmad.solvers._bound import Context
from deepmad.solvers._continuous import continuous_starts
from deepmad.solvers._dual import minimise_dual
from deepmad.solvers._local import depth_moves, local_search
from deepmad.solvers.exact import ExactConfig, _Search
from deepmad.solvers.space import Design
from tests.solvers.conftest import all_designs, feasible_designs, tiny_mobile, tiny_resnet


def _bowl(y: np.ndarray, calls: list[np.ndarray]):
    """|y - c|^2 + 1.5 with c = (1, 0.5, 2): convex, minimum 1.5 (no finite cutting-plane model is exact)."""
    calls.append(y.copy())
    d = y - np.array([1.0, 0.5, 2.0])
    return float(d @ d) + 1.5, 2.0 * d, len(calls)


def test_minimise_dual_finds_the_minimum() -> None:
    calls: list[np.ndarray] = []
    res = minimise_dual(lambda y: _bowl(y, calls), np.array([3.0, 3.0, 0.0]), np.ones(3), iters=60, rel_tol=1e-4)
    assert res.value == pytest.approx(1.5, abs=1e-3)


def test_minimise_dual_resumes_where_it_stopped() -> None:
    """Five calls, then five more from the kept bundle == ten calls in one go."""
    y0 = np.array([3.0, 3.0, 0.0])
    one: list[np.ndarray] = []
    whole = minimise_dual(lambda y: _bowl(y, one), y0, np.ones(3), iters=10, rel_tol=0.0)
    two: list[np.ndarray] = []
    first = minimise_dual(lambda y: _bowl(y, two), y0, np.ones(3), iters=5, rel_tol=0.0)
    assert not first.converged and first.evaluations == 5
    rest = minimise_dual(lambda y: _bowl(y, two), np.zeros(3), np.ones(3), iters=5, rel_tol=0.0, state=first.state)
    assert len(one) == len(two) == rest.evaluations == 10
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    assert rest.value == whole.value and rest.value < first.value


def test_depth_moves() -> None:
    moves = [tuple(m) for m in depth_moves([1, 3, 2], [(1, 3), (1, 3), (2, 4)])]
    assert len(moves) == len(set(moves))
    assert set(moves) == {(2, 3, 2), (1, 2, 2), (1, 3, 3),  # +-1 inside the ranges
                          (2, 2, 2), (1, 2, 3)}  # one block moved: 2 -> 1 and 2 -> 3
    for m in moves:
        assert sum(abs(a - b) for a, b in zip(m, (1, 3, 2))) in (1, 2)


def test_local_search_without_structure_keeps_depths_and_kernels() -> None:
    problem = tiny_mobile(mode="reference")
    rng = np.random.default_rng(0)
    designs = list(all_designs(problem))
    for i in rng.choice(len(designs), 10, replace=False):
        start = designs[i]
        end, ev = local_search(problem, start, structure=False)
        assert [(st[2], st[3]) for st in end.stages] == [(st[2], st[3]) for st in start.stages]
        e0 = problem.evaluate(start)
        assert ev.feasible or not e0.feasible
        if e0.feasible:
            assert ev.objective >= e0.objective


def _worst_feasible(make) -> Design:
    """The worst feasible design of the reference-mode case (the cached brute force of conftest)."""
    case = "resnet-reference" if make is tiny_resnet else "mobile-reference"
    return min(feasible_designs(case), key=lambda t: t[1])[0]


@pytest.mark.parametrize("make", [tiny_resnet, tiny_mobile])
def test_dive_improves_a_poor_incumbent(make) -> None:
    """From the worst feasible design, the depth dive alone finds a better one."""
    problem = make(mode="reference")
    search = _Search(problem, ExactConfig(time_limit=60, dive_share=1.0))
    start = _worst_feasible(make)
    search.inc, search.inc_ev = start, problem.evaluate(start)
    ctx = Context(problem, start.resolution)
    search.root_y[ctx.resolution] = np.full(len(ctx.rows) + len(ctx.ends), 1.0)
    before = search.inc_obj
    search.dive([ctx])
    assert search.leaf_seen, "no leaf was bounded"
    assert search.inc_obj > before and math.isfinite(search.inc_obj)
    assert problem.evaluate(search.inc).feasible


def test_width_groups_default_to_24_for_se_spaces_else_32() -> None:
    for make, groups in ((tiny_mobile, 24), (tiny_resnet, 32)):
        problem = make(mode="reference")
        search = _Search(problem, ExactConfig())
        assert search.root(Context(problem, problem.space.resolutions[0])).groups == groups
        search = _Search(problem, ExactConfig(groups=7))
        assert search.root(Context(problem, problem.space.resolutions[0])).groups == 7


def test_dive_pauses_after_patience_leaves_without_improvement() -> None:
    problem = tiny_resnet(mode="reference")
    best = max(feasible_designs("resnet-reference"), key=lambda t: t[1])[0]  # nothing beats it: every leaf is dry
    for patience in (1, 3):
        search = _Search(problem, ExactConfig(time_limit=60, dive_share=1.0, dive_patience=patience))
        search.inc, search.inc_ev = best, problem.evaluate(best)
        ctx = Context(problem, best.resolution)
        search.root_y[ctx.resolution] = np.full(len(ctx.rows) + len(ctx.ends), 1.0)
        search.dive([ctx])
        assert len(search.leaf_seen) == patience and search.inc == best


@pytest.mark.parametrize("make", [tiny_resnet, tiny_mobile])
def test_continuous_roundings_cover_the_nearest_rounding(make) -> None:
    """Every floor/ceil rounding of the relaxation's depths is a start, the nearest one included."""
    problem = make()
    ctx = Context(problem, problem.space.resolutions[0])
    nearest = continuous_starts(ctx, (3.0,))
    every = continuous_starts(ctx, (3.0,), roundings=True)
    assert len(nearest) == 1 and nearest[0] in every
    assert len(set(every)) == len(every)
    for d in every:  # the same widths and kernels, depths within one of the nearest rounding
        assert [st[0] for st in d.stages] == [st[0] for st in nearest[0].stages]
        assert all(abs(a[2] - b[2]) <= 1 for a, b in zip(d.stages, nearest[0].stages))


def test_rounded_starts_give_an_incumbent_at_least_the_nearest_one() -> None:
    problem = tiny_resnet()
    ctx = Context(problem, problem.space.resolutions[0])
    with_all = _Search(problem, ExactConfig(roundings=True))
    with_all.start([ctx])
    nearest = _Search(problem, ExactConfig(roundings=False))
    nearest.start([ctx])
    assert with_all.inc is not None and with_all.inc_obj >= nearest.inc_obj


def test_cutting_plane_solver_prints_nothing() -> None:
    """HiGHS prints a banner when a process builds its first solver; the multiplier LPs must not
    (the CLI's stdout is the design summary)."""
    code = ("import numpy as np; from deepmad.solvers._dual import minimise_dual;"
            "minimise_dual(lambda y: (float(abs(y[0] - 1)), np.sign(y - 1), None), np.zeros(1), np.ones(1), iters=5)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == ""
