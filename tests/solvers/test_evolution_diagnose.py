"""The evolutionary baseline (faithful, seeded) and the infeasibility diagnosis."""

from __future__ import annotations

import pytest

from deepmad.errors import DeepmadError
from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import (
    LIKE_PRESETS,
    Budget,
    DesignProblem,
    EvolutionSolver,
    diagnose,
    infeasibility_message,
    like,
)
from deepmad.solvers.evolution import _Fitness, _fitness, _rank, smallest_design
from tests.solvers.conftest import tiny_mobile, tiny_resnet


def test_evolution_defaults_are_the_references() -> None:
    cfg = EvolutionSolver().config
    assert (cfg.children, cfg.population, cfg.mutations_per_child) == (500_000, 256, 2)


def test_evolution_is_seeded_and_deterministic() -> None:
    p = like("deepmad_r50", ScoreConfig("reference"))
    seed = LIKE_PRESETS["deepmad_r50"].seed
    a = EvolutionSolver(children=1500, seed=3, start=seed).solve(p)
    b = EvolutionSolver(children=1500, seed=3, start=seed).solve(p)
    c = EvolutionSolver(children=1500, seed=4, start=seed).solve(p)
    assert a.design == b.design and a.objective == b.objective
    assert a.design != c.design
    assert a.verified and a.objective > p.evaluate(seed).objective
    assert a.status == "completed" and a.gap == float("inf")


def test_evolution_mutates_the_last_stage() -> None:
    p = like("deepmad_r50", ScoreConfig("reference"))
    seed = LIKE_PRESETS["deepmad_r50"].seed
    r = EvolutionSolver(children=3000, seed=0, start=seed).solve(p)
    assert r.design.stages[-1] != seed.stages[-1]  # the reference froze it (randint upper bound)
    assert p.space.contains(r.design) is None


def test_evolution_stays_on_a_coarse_grid() -> None:
    """Mutations scale widths by 0.5-1.5 and round to 8; tiny_resnet's bottleneck steps are 16."""
    p = tiny_resnet()
    r = EvolutionSolver(children=3000, seed=0).solve(p)
    assert p.space.contains(r.design) is None and r.verified


def test_evolution_history_checkpoints() -> None:
    r = EvolutionSolver(children=500, seed=1, checkpoints=(100, 400)).solve(tiny_resnet())
    assert [h[0] for h in r.extras["history"]] == [100, 400, 500]
    objs = [h[1] for h in r.extras["history"]]
    assert objs == sorted(objs)


def test_evolution_reaches_feasibility_from_an_infeasible_seed() -> None:
    """A seed over a budget starts the feasibility phase (the reference refused it)."""
    base = tiny_resnet()
    big = base.evaluate(smallest_design(base.space))
    seed = EvolutionSolver(children=3000, seed=0).solve(base).design  # a large feasible design
    limit = 0.6 * base.evaluate(seed).costs.params_torch
    p = tiny_resnet(budgets=(Budget("params", upper=limit),))
    assert not p.evaluate(seed).feasible and big.costs.params_torch < limit
    r = EvolutionSolver(children=2000, seed=0, start=seed).solve(p)
    assert r.verified and r.evaluation.feasible and r.evaluation.costs.params_torch <= limit


def test_evolution_without_any_feasible_child_fails_naming_the_budget() -> None:
    p = tiny_resnet(budgets=(Budget("params", upper=1e3),))
    with pytest.raises(DeepmadError, match=r"found no design meeting the budgets in 50 children \(closest: params"):
        EvolutionSolver(children=50).solve(p)


def test_infeasible_fitness_is_minus_the_relative_excess() -> None:
    p = tiny_resnet(budgets=(Budget("params", upper=1e3),))
    ev = p.evaluate(smallest_design(p.space))
    assert _fitness(ev) == _Fitness(False, pytest.approx(-(ev.costs.params_torch - 1e3) / 1e3))
    assert _fitness(tiny_resnet().evaluate(smallest_design(p.space))).feasible


def test_rank_sorts_dedupes_and_truncates() -> None:
    d = smallest_design(tiny_resnet().space)
    e = d.__class__(d.resolution, d.stem + 8, d.stages, d.final)
    f1, f2, f3 = (_Fitness(True, v) for v in (1.0, 2.0, 3.0))
    assert _rank([(f1, d), (f3, e), (f2, d)], 5) == [(f3, e), (f2, d)]
    assert _rank([(f1, d), (f3, e)], 1) == [(f3, e)]
    worse = _Fitness(False, -0.1)  # any infeasible design ranks below every feasible one
    assert _rank([(worse, e), (_Fitness(True, -5.0), d)], 1) == [(_Fitness(True, -5.0), d)]


def test_diagnosis_names_the_budget_and_the_shortfall() -> None:
    p = like("deepmad_r50", ScoreConfig("paper"), (Budget("macs", upper=5e6, convention="tinynas"),
                                                   Budget("params", upper=1e9, convention="tinynas")))
    (s,) = diagnose(p)
    assert s.name == "macs[tinynas]" and s.best > 5e6
    msg = infeasibility_message(p)
    assert msg.startswith("no design meets the budgets: macs[tinynas]: the smallest network in this space needs")
    assert f"{100 * (s.best - 5e6) / 5e6:+.1f} %" in msg


def test_diagnosis_of_rho_lower_budgets_and_resolution() -> None:
    space = tiny_mobile().space
    p = DesignProblem(space, ScoreConfig("paper"), (Budget("rho", upper=0.01), Budget("activations", lower=1e9),
                                                    Budget("resolution", upper=32)))
    names = {s.name: s for s in diagnose(p)}
    assert set(names) == {"rho", "activations", "resolution"}
    assert "largest network in this space reaches only" in names["activations"].message()


def test_joint_infeasibility_message() -> None:
    p = tiny_resnet()
    assert diagnose(p) == []
    assert "each alone can be met" in infeasibility_message(p, [])
