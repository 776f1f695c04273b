"""Greedy enlarging: constraints on every step, equality with exhaustive search, reproducibility."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from deepmad.cost import count_network
from deepmad.enlarge import (
    EnlargeConfig,
    EnlargeState,
    EntropyEvaluator,
    family_for,
    geometric_schedule,
    greedy_enlarge,
    make_schedule,
)
from deepmad.errors import DeepmadError, InfeasibleError
from deepmad.spec import NetworkSpec, load_spec_json
from deepmad.spec.ghost import make_divisible

TINY = EnlargeConfig(band=(0.8, 1.0), depth_steps=(0, 1), width_multipliers=(1.0, 1.25),
                     resolution_steps=(0, 8), num_candidates=0)


def test_geometric_schedule() -> None:
    targets = geometric_schedule(100, 1000, 2.0)
    assert len(targets) == 4 and targets[-1] == 1000
    ratios = [b / a for a, b in zip((100, *targets), targets)]
    assert all(abs(r - ratios[0]) < 1e-2 and r <= 2.0 for r in ratios)
    assert make_schedule(100, [150, 300]) == (150, 300)
    for bad in ([90], [300, 200]):
        with pytest.raises(DeepmadError):
            make_schedule(100, bad)


def _macs(family, state: EnlargeState) -> int:  # noqa: ANN001
    return count_network(family.build(state)).macs


def _brute_step(family, parent: EnlargeState, target: int, band) -> set[EnlargeState]:  # noqa: ANN001
    """All grid states of one step, written out independently of deepmad.enlarge.candidates."""
    def wider(w: int) -> int:
        v = make_divisible(1.25 * w, 8)
        return v if v > w else w + 8
    axes = [(d, d + 1) for d in parent.depths] + [(w, wider(w)) for w in parent.widths]
    out = set()
    for combo in itertools.product(*axes, (parent.resolution, parent.resolution + 8)):
        n = len(parent.depths)
        s = EnlargeState(combo[:n], combo[n:2 * n], combo[-1])
        if band[0] * target <= _macs(family, s) <= band[1] * target:
            out.add(s)
    return out


def test_every_step_keeps_the_subcomponent_constraint_and_band(ghost_base: NetworkSpec) -> None:
    m0 = count_network(ghost_base).macs
    cfg = EnlargeConfig(resolution_steps=(0, 4, 8), num_candidates=12, seed=3)
    result = greedy_enlarge(ghost_base, [2 * m0, 4 * m0], EntropyEvaluator(), cfg)
    assert [s.search for s in result.steps] == ["sample", "sample"]
    parents = [result.path[0].state]
    for step in result.steps:
        assert step.candidates
        for c in step.candidates:
            assert c.state.contains(parents[c.parent])
            assert step.low <= c.macs <= step.high == step.target
            assert c.macs == count_network(family_for(ghost_base).build(c.state)).macs
        parents = [step.candidates[i].state for i in step.chosen]
    for prev, point in zip(result.path, result.path[1:]):
        assert point.state.contains(prev.state) and point.in_band
    assert result.spec == family_for(ghost_base).build(result.path[-1].state)


def test_greedy_equals_exhaustive_over_the_same_candidate_sets(tiny_base: NetworkSpec) -> None:
    family, ev = family_for(tiny_base), EntropyEvaluator()
    m0 = count_network(tiny_base).macs
    targets = [int(1.8 * m0), int(3.2 * m0), int(5.5 * m0)]
    result = greedy_enlarge(tiny_base, targets, ev, TINY)
    parent = result.path[0].state
    for step in result.steps:
        brute = _brute_step(family, parent, step.target, TINY.band)
        assert {c.state for c in step.candidates} == brute
        scored = {s: ev.evaluate([family.build(s)])[0] for s in brute}
        best = max(scored.values())
        assert step.candidates[step.chosen[0]].score == pytest.approx(best)
        parent = step.candidates[step.chosen[0]].state


def test_full_beam_equals_exhaustive_search_over_all_paths(tiny_base: NetworkSpec) -> None:
    family, ev = family_for(tiny_base), EntropyEvaluator()
    m0 = count_network(tiny_base).macs
    targets = [int(1.8 * m0), int(3.2 * m0), int(5.5 * m0)]

    def best_final(state: EnlargeState, rest: list[int]) -> float:
        if not rest:
            return ev.evaluate([family.build(state)])[0]
        nxt = _brute_step(family, state, rest[0], TINY.band)
        return max((best_final(s, rest[1:]) for s in nxt), default=-math.inf)

    exhaustive = best_final(family.state_of(tiny_base), targets)
    beam = greedy_enlarge(tiny_base, targets, ev, EnlargeConfig(**{**TINY.__dict__, "top_k": 10_000}))
    assert beam.path[-1].score == pytest.approx(exhaustive)
    greedy = greedy_enlarge(tiny_base, targets, ev, TINY)
    assert greedy.path[-1].score <= beam.path[-1].score + 1e-9


def test_reproducible_and_json(tiny_base: NetworkSpec, ghost_base: NetworkSpec, tmp_path) -> None:  # noqa: ANN001
    m0 = count_network(ghost_base).macs
    cfg = EnlargeConfig(resolution_steps=(0, 4), num_candidates=6, seed=7)
    a = greedy_enlarge(ghost_base, [2 * m0], EntropyEvaluator(), cfg)
    b = greedy_enlarge(ghost_base, [2 * m0], EntropyEvaluator(), cfg)
    assert a.steps == b.steps and a.spec == b.spec
    path = tmp_path / "r.json"
    path.write_text(json.dumps(a.to_dict()))
    assert load_spec_json(path) == a.spec
    data = json.loads(path.read_text())
    assert data["evaluator"]["backends_used"] == ["generic"] and data["config"]["seed"] == 7
    assert len(data["steps"][0]["candidates"]) == len(a.steps[0].candidates)


def test_unreachable_band_is_infeasible(tiny_base: NetworkSpec) -> None:
    m0 = count_network(tiny_base).macs
    with pytest.raises(InfeasibleError, match="step 1: no candidate"):
        greedy_enlarge(tiny_base, [100 * m0], EntropyEvaluator(), TINY)
    with pytest.raises(DeepmadError, match="depth_steps"):
        EnlargeConfig(depth_steps=(1, 2))
