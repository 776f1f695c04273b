"""Compound scaling hits its targets; entropy evaluator backends agree; train evaluator caches."""

from __future__ import annotations

import math

import pytest

from deepmad.cost import count_network
from deepmad.enlarge import (
    CompoundConfig,
    EntropyEvaluator,
    ScaledFamily,
    compound_scale,
    family_for,
    generic_entropy,
    make_evaluator,
)
from deepmad.enlarge.train_eval import TrainEvaluator
from deepmad.errors import DeepmadError
from deepmad.spec import ConvBNAct, HeadSpec, NetworkSpec, StageSpec, get_preset


@pytest.mark.parametrize(("name", "resolution"), [("ghostnet_1_0", 224), ("ghostnet_1_0", 32),
                                                  ("resnet18", 224), ("deepmad_29m_224", 224)])
def test_compound_scaling_hits_its_targets(name: str, resolution: int) -> None:
    base = get_preset(name).replace(resolution=resolution)
    m0 = count_network(base).macs
    cfg = CompoundConfig()
    result = compound_scale(base, [2 * m0, 4 * m0, 8 * m0], cfg)
    family = family_for(base)
    for point, phi in zip(result.path[1:], result.config["phi"]):
        assert point.in_band and 0.95 * point.target <= point.macs <= point.target
        assert point.state.contains(result.path[0].state)
        # uniform rule: every depth is ceil(d0 alpha^phi) for the one phi of this target
        d0 = result.path[0].state.depths
        assert point.state.depths == tuple(math.ceil(d * cfg.alpha ** phi - 1e-9) for d in d0)
        assert point.macs == count_network(family.build(point.state)).macs


def test_scaled_family_keeps_bottleneck_ratios() -> None:
    base = get_preset("deepmad_r18")
    family = ScaledFamily(base)
    state = family.state_of(base)
    assert family.build(state) == base
    wide = family.build(state.__class__(state.depths, tuple(2 * w for w in state.widths), 224))
    for a, b in zip(base.stages, wide.stages):
        assert b.bottleneck_channels == 2 * a.bottleneck_channels
    with pytest.raises(DeepmadError, match="S-GhostNet"):
        ScaledFamily(get_preset("ghostnet_1_0").with_stage(0, depth=2).with_stage(1, bottleneck_channels=8))


@pytest.mark.parametrize("name", ["deepmad_r18", "deepmad_29m_224", "resnet50"])
def test_generic_entropy_equals_the_scores_module(name: str) -> None:
    scores = pytest.importorskip("deepmad.scores.entropy")
    spec = get_preset(name)
    want = scores.score_spec(spec, "paper", depth_penalty=10.0).objective
    assert generic_entropy(spec, depth_penalty=10.0) == pytest.approx(want, rel=1e-9)
    ev = EntropyEvaluator()
    assert ev.evaluate([spec]) == [pytest.approx(want, rel=1e-9)]
    assert ev.settings()["backends_used"] == ["scores"]


def test_entropy_scores_ghost_nets_with_the_generic_rule() -> None:
    ev = make_evaluator("entropy")
    small, big = get_preset("ghostnet_1_0"), get_preset("s_ghostnet_b1")
    a, b = ev.evaluate([small, big])
    assert b > a > 0
    assert ev.settings()["backends_used"] == ["generic"]
    with pytest.raises(DeepmadError, match="evaluator='zen'"):
        make_evaluator("zen")


def _tiny_digit_net(width: int) -> NetworkSpec:
    return NetworkSpec(stem=ConvBNAct(8, 3, 1), stages=(StageSpec("res_kxkx", width, width, 1, stride=2),),
                       head=HeadSpec(10), resolution=8, name=f"w{width}")


def test_train_evaluator_trains_once_per_candidate(tmp_path) -> None:  # noqa: ANN001
    pytest.importorskip("torch")
    kwargs = dict(data="digits", epochs=1, train_subset=256, val_subset=128, batch_size=64,
                  device="cpu", cache_dir=str(tmp_path))
    ev = TrainEvaluator(**kwargs)
    specs = [_tiny_digit_net(8), _tiny_digit_net(16)]
    first = ev.evaluate(specs)
    assert ev.trained == 2 and all(0 <= s <= 100 for s in first)
    assert len(list(tmp_path.glob("*.json"))) == 2
    again = TrainEvaluator(**kwargs)
    assert again.evaluate(specs) == first and again.trained == 0
    assert again.key(specs[0]) != TrainEvaluator(**{**kwargs, "epochs": 2}).key(specs[0])
    with pytest.raises(DeepmadError, match="exceeds"):
        TrainEvaluator(**{**kwargs, "train_subset": 5000}).evaluate(specs[:1])
