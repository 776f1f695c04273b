"""Exact solvers against brute force: additive MILP, Dinkelbach, Charnes-Cooper, variable depth."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from deepmad.errors import DeepmadError, InfeasibleError
from deepmad.mathnas import (
    TABLE_DEVICES,
    BlockTable,
    Budget,
    MathNASProblem,
    load_table,
    make_budgets,
    solve,
)

from ._helpers import random_table

CONFIGS = [(name, dev) for name in sorted(TABLE_DEVICES) for dev in TABLE_DEVICES[name][0]]
BUDGETS_PER_TABLE = 100  # Dinkelbach and the additive MILP
CHARNES_COOPER_BUDGETS = 25  # the slower big-M formulation, on the first 25 budgets


def _random_budgets(table: BlockTable, rng: np.random.Generator) -> tuple[Budget, ...]:
    """Upper bounds spread over each metric's range (some infeasible), sometimes lower bounds."""
    budgets = []
    for metric in ("latency", "energy", "flops"):
        if not table.has(metric) or (metric != "latency" and rng.random() < 0.5):
            continue
        lo, hi = table.metric(metric).bounds()
        upper = float(rng.uniform(lo - 0.05 * (hi - lo), hi))
        lower = float(rng.uniform(lo, upper)) if rng.random() < 0.25 and upper > lo else None
        budgets.append(Budget(metric, upper=upper, lower=lower))
    return tuple(budgets)


def _assert_same(result, reference, table: BlockTable) -> None:
    assert (result.choices is None) == (reference.choices is None), (result.status, reference.status)
    if reference.choices is None:
        assert result.status == reference.status == "infeasible"
        got = [(i.metric, i.sense, i.bound) for i in result.infeasibilities]
        assert got == [(i.metric, i.sense, i.bound) for i in reference.infeasibilities]
        for a, b in zip(result.infeasibilities, reference.infeasibilities):
            assert a.achievable == pytest.approx(b.achievable, rel=1e-9, abs=1e-9)
        return
    assert result.status == "optimal" and result.feasible
    scale = max(1.0, abs(reference.predicted["accuracy"]))
    assert result.predicted["accuracy"] == pytest.approx(reference.predicted["accuracy"], abs=1e-7 * scale)


def test_released_code_example_is_reproduced() -> None:
    """mbv3-gpu, TX2-GPU latency <= 500 ms, additive: (3,4,4,4,3), 79.30 %, 68.9 ms."""
    table = load_table("mbv3-gpu", "tx2_gpu")
    for solver in ("milp", "brute"):
        r = solve(MathNASProblem(table, (Budget("latency", upper=500.0),)), solver)
        assert r.choices == (3, 4, 4, 4, 3)
        assert round(r.predicted["accuracy"], 2) == 79.30
        assert round(r.predicted["latency"], 1) == 68.9
        assert r.status == "optimal" and r.gap == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name, device", CONFIGS)
def test_exact_solvers_equal_brute_force_on_random_budgets(name: str, device: str) -> None:
    table = load_table(name, device)
    rng = np.random.default_rng(zlib.crc32(f"{name}/{device}".encode()))
    infeasible = 0
    for k in range(BUDGETS_PER_TABLE):
        budgets = _random_budgets(table, rng)
        for predictor in ("additive", "flops"):
            problem = MathNASProblem(table, budgets, predictor)
            reference = solve(problem, "brute")
            infeasible += reference.choices is None
            _assert_same(solve(problem, "milp"), reference, table)
            if predictor == "flops" and k < CHARNES_COOPER_BUDGETS:
                _assert_same(solve(problem, "milp", fractional_method="charnes_cooper"), reference, table)
    assert 0 < infeasible < 2 * BUDGETS_PER_TABLE  # both kinds of budget were exercised


def test_infeasible_budget_names_the_constraint() -> None:
    table = load_table("mbv3-gpu")
    r = solve(MathNASProblem(table, (Budget("latency", upper=30.0),)))
    assert r.status == "infeasible" and r.choices is None
    (inf,) = r.infeasibilities
    assert inf.metric == "latency" and inf.achievable == pytest.approx(33.8588, abs=1e-4)
    assert inf.shortfall == pytest.approx(3.8588, abs=1e-4)
    with pytest.raises(InfeasibleError, match="minimum achievable latency is 33.8588"):
        r.raise_if_infeasible()
    r = solve(MathNASProblem(table, (Budget("latency", lower=80.0),)), "brute")
    assert r.infeasibilities[0].achievable == pytest.approx(table.metric("latency").bounds()[1])


def test_jointly_infeasible_budgets_report_the_minimum_under_the_others() -> None:
    table = load_table("nb201", "edgegpu")
    lat_lo, _ = table.metric("latency").bounds()
    budgets = (Budget("latency", upper=lat_lo + 1.0), Budget("flops", lower=4e7))
    for solver in ("milp", "brute"):
        r = solve(MathNASProblem(table, budgets), solver)
        assert r.status == "infeasible"
        assert {i.metric for i in r.infeasibilities} == {"latency", "flops"}
        assert all(i.shortfall > 0 for i in r.infeasibilities)


def _depth_table(rng: np.random.Generator) -> BlockTable:
    """5 nodes; nodes 2..4 optional (option 0 = no block) with monotone absence."""
    t = random_table(rng, (3, 2, 4, 3, 4))
    acc = t.metric("accuracy")
    delta = [list(r) for r in acc.delta]
    for i in (2, 3, 4):
        delta[i][0] = -float(rng.uniform(0.5, 3.0))  # dropping a layer costs accuracy
    flops = [list(r) for r in t.metric("flops").delta]
    lat = [list(r) for r in t.metric("latency").delta]
    for i in (2, 3, 4):
        flops[i][0], lat[i][0] = 0.0, 0.0
    return BlockTable(**{**t.__dict__, "metrics": {**t.metrics,
                         "accuracy": acc.__class__(acc.base, tuple(map(tuple, delta))),
                         "flops": t.metric("flops").__class__(1e6, tuple(map(tuple, flops))),
                         "latency": t.metric("latency").__class__(5.0, tuple(map(tuple, lat)))},
                         "skip_options": (None, None, 0, 0, 0), "depth_groups": ((2, 3, 4),)})


def test_variable_depth_equals_brute_force() -> None:
    rng = np.random.default_rng(7)
    table = _depth_table(rng)
    valid = sum(table.is_valid_depth(a) for a in np.ndindex(*table.sizes))
    assert valid == 3 * 2 * (1 + 3 * (1 + 2 * (1 + 3)))  # absent from node 2, 3, 4, or none absent
    for k in range(60):
        budgets = _random_budgets(table, rng)
        for predictor in ("additive", "flops"):
            problem = MathNASProblem(table, budgets, predictor)
            reference = solve(problem, "brute")
            if reference.choices is not None:
                assert table.is_valid_depth(reference.choices)
            _assert_same(solve(problem, "milp"), reference, table)
            if predictor == "flops" and k < 20:
                _assert_same(solve(problem, "milp", fractional_method="charnes_cooper"), reference, table)


def test_supervit_sized_instance_is_solved_to_optimality() -> None:
    """9 nodes with 2, 8, 36, 24, 24, 63, 24, 12, 2 options: 195 binaries (MathNAS SuperViT)."""
    table = random_table(np.random.default_rng(3), (2, 8, 36, 24, 24, 63, 24, 12, 2))
    lo, hi = table.metric("latency").bounds()
    problem = MathNASProblem(table, (Budget("latency", upper=lo + 0.4 * (hi - lo)),))
    additive = solve(problem)  # its speed: benchmarks/mathnas.py --sections supervit
    assert additive.status == "optimal" and additive.feasible
    flops = MathNASProblem(table, problem.budgets, "flops")
    r1 = solve(flops)
    r2 = solve(flops, fractional_method="charnes_cooper")
    assert r1.status == r2.status == "optimal"
    assert r1.predicted["accuracy"] == pytest.approx(r2.predicted["accuracy"], abs=1e-6)


def test_solver_errors_and_budget_checks() -> None:
    table = load_table("mbv3-gpu")
    problem = MathNASProblem(table)
    with pytest.raises(DeepmadError, match="allowed: milp, brute"):
        solve(problem, "gurobi")
    with pytest.raises(DeepmadError, match="needs an upper or a lower bound"):
        Budget("latency")
    with pytest.raises(DeepmadError, match="lower 2 > upper 1"):  # the shared Budget (deepmad.solvers)
        Budget("latency", upper=1.0, lower=2.0)
    with pytest.raises(DeepmadError, match="no 'energy'"):
        make_budgets(table, max_energy=1.0)
    with pytest.raises(DeepmadError, match="brute force is limited"):
        solve(MathNASProblem(random_table(np.random.default_rng(0), (40,) * 5)), "brute")
    r = solve(MathNASProblem(table, make_budgets(table, max_latency=50.0, min_latency=45.0)))
    assert 45.0 <= r.predicted["latency"] <= 50.0
    assert [c.label for c in r.constraints] == ["latency <= 50", "latency >= 45"]
    assert all(c.slack <= 0 for c in r.constraints)


def test_mathnas_speaks_the_design_vocabulary() -> None:
    """One Budget / ConstraintValue / status set / success flag for DeepMAD and MathNAS."""
    from deepmad.solvers import Budget as DesignBudget
    from deepmad.solvers import ConstraintValue as DesignConstraint
    from deepmad.solvers.status import STATUSES

    assert Budget is DesignBudget
    table = load_table("mbv3-gpu")
    r = solve(MathNASProblem(table, (Budget("latency", upper=50.0),)))
    assert all(isinstance(c, DesignConstraint) and c.sense in ("<=", ">=") for c in r.constraints)
    assert r.status in STATUSES and r.success and r.to_dict()["solver"]["success"] is True
    assert r.to_dict()["constraints"][0].keys() >= {"name", "sense", "value", "limit", "slack", "satisfied"}
    with pytest.raises(DeepmadError, match="budget metric 'params' is unknown"):
        MathNASProblem(table, (Budget("params", upper=1e6),))
