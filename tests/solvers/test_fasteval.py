"""The solvers' closed-form costs and scores equal count_network and score_spec exactly."""

from __future__ import annotations

import random

import pytest

from deepmad.cost import count_network
from deepmad.scores.entropy import ScoreConfig, score_spec
from deepmad.solvers import (
    Bottleneck,
    Channels,
    Design,
    DesignSpace,
    StageRange,
    design_to_spec,
    spec_to_design,
)
from deepmad.solvers.fasteval import geometry, network_costs, score_design, score_layout
from deepmad.spec import get_preset

KINDS = ("res_k1kxk1", "res_kxkx", "res_k1dwk1", "res_k1dwsek1")


def _random_case(rng: random.Random) -> tuple[DesignSpace, Design]:
    n = rng.randint(1, 5)
    kind = rng.choice(KINDS)
    shortcut = rng.choice(("tinynas", "torchvision"))
    stages, rows = [], []
    for _ in range(n):
        stride = rng.choice((1, 2))
        stages.append(StageRange(kind, stride, Channels(1, 4096, step=1), Bottleneck(1, 8192, step=1),
                                 (1, 3, 5, 7), (1, 50), shortcut))
        c = rng.randint(1, 300)
        rows.append((c, rng.randint(1, 700), rng.randint(1, 6), rng.choice((1, 3, 5, 7))))
    final = rng.choice((None, rng.randint(8, 900)))
    space = DesignSpace(stem=Channels(1, 512, step=1), stages=tuple(stages),
                        final_conv=None if final is None else Channels.fixed(final),
                        resolutions=(rng.choice((32, 63, 64, 97, 128, 224, 225, 288)),),
                        num_classes=rng.choice((0, 10, 1000)), nondecreasing=False, bottleneck_le_width=False)
    return space, Design(space.resolutions[0], rng.randint(1, 64), tuple(rows), final)


@pytest.mark.parametrize("seed", range(6))
def test_costs_equal_count_network_on_random_designs(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        space, d = _random_case(rng)
        spec = design_to_spec(space, d)
        fast = network_costs(space, d, geometry(space, d.resolution))
        torch_r, tn = count_network(spec, "torch"), count_network(spec, "tinynas")
        assert (fast.params_torch, fast.macs_torch, fast.activations, fast.layers) == (
            torch_r.params, torch_r.macs, torch_r.activations, torch_r.layers), spec
        assert (fast.params_tinynas, fast.macs_tinynas) == (tn.params, tn.macs), spec


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_scores_equal_score_spec_on_random_designs(seed: int, mode: str) -> None:
    rng = random.Random(100 + seed)
    for _ in range(40):
        space, d = _random_case(rng)
        if any(k == 1 for *_, k in d.stages):
            continue
        spec = design_to_spec(space, d)
        n_stages = len(score_spec(spec, mode, depth_penalty=0).stage_terms)
        cfg = ScoreConfig(mode, stage_weights=tuple(rng.uniform(0, 8) for _ in range(n_stages)),
                          half=rng.choice((None, True, False)), penalty_rule=rng.choice((None, "all", "skip_first")))
        obj, ent, pen, rho, terms = score_design(space, d, cfg, score_layout(space, d.resolution, cfg))
        ref = score_spec(spec, cfg)
        assert obj == pytest.approx(ref.objective, rel=1e-12, abs=1e-9)
        assert rho == pytest.approx(ref.rho, rel=1e-12)
        assert terms == pytest.approx(ref.stage_terms, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("name", ["deepmad_r18", "deepmad_r34", "deepmad_r50", "deepmad_29m_224",
                                  "deepmad_29m_288", "deepmad_50m", "deepmad_89m"])
def test_presets_round_trip_through_designs(name: str) -> None:
    spec = get_preset(name)
    d = spec_to_design(spec)
    space = DesignSpace(stem=Channels(1, 64, step=1),
                        stages=tuple(StageRange(s.block, s.stride, Channels(1, 4096, step=1),
                                                Bottleneck(1, 8192, step=1), (3, 5), (1, 20)) for s in spec.stages),
                        final_conv=None if spec.final_conv is None else Channels.fixed(spec.final_conv.out_channels),
                        resolutions=(spec.resolution,), nondecreasing=False, bottleneck_le_width=False)
    assert design_to_spec(space, d).to_dict()["stages"] == spec.to_dict()["stages"]
    fast = network_costs(space, d, geometry(space, spec.resolution))
    assert fast.params_tinynas == count_network(spec, "tinynas").params
