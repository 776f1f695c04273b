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
from deepmad.solvers.evolution import _rank, smallest_design
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


def test_evolution_history_checkpoints() -> None:
    r = EvolutionSolver(children=500, seed=1, checkpoints=(100, 400)).solve(tiny_resnet())
    assert [h[0] for h in r.extras["history"]] == [100, 400, 500]
    objs = [h[1] for h in r.extras["history"]]
    assert objs == sorted(objs)


def test_evolution_needs_a_feasible_seed() -> None:
    p = tiny_resnet(budgets=(Budget("params", upper=1e3),))
    with pytest.raises(DeepmadError, match="seed does not meet the budgets"):
        EvolutionSolver(children=10).solve(p)


def test_rank_sorts_dedupes_and_truncates() -> None:
    d = smallest_design(tiny_resnet().space)
    e = d.__class__(d.resolution, d.stem + 8, d.stages, d.final)
    assert _rank([(1.0, d), (3.0, e), (2.0, d)], 5) == [(3.0, e), (2.0, d)]
    assert _rank([(1.0, d), (3.0, e)], 1) == [(3.0, e)]


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
