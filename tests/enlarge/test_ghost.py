"""GhostNet family: spec rules, exact costs against PyTorch, TinyNAS-convention rates, builder."""

from __future__ import annotations

import random

import pytest
import torch

from deepmad.cost import count_network
from deepmad.errors import SpecError
from deepmad.models import build_model
from deepmad.spec import NetworkSpec, StageSpec, get_preset
from deepmad.spec.ghost import is_s_ghostnet, make_divisible, s_ghostnet
from deepmad.testing import measure_torch_costs

GHOST_PRESETS = ["ghostnet_1_0", "s_ghostnet_b1", "s_ghostnet_b4"]


def _assert_equal(spec: NetworkSpec) -> None:
    ours, theirs = count_network(spec), measure_torch_costs(spec)
    assert (2 * ours.macs, ours.params, ours.activations) == (theirs.flops, theirs.params, theirs.activations)


def _random_ghost(rng: random.Random) -> NetworkSpec:
    layers = [rng.randint(1, 3) for _ in range(6)]
    channels = [rng.randint(2, 20) * 4 for _ in range(6)]
    spec = s_ghostnet(layers, channels, resolution=rng.randint(17, 70), num_classes=rng.choice([10, 0]),
                      in_channels=rng.choice([1, 3]))
    i = rng.randrange(6)  # vary one stage off the S-GhostNet rules: no SE, odd kernel, stride
    return spec.with_stage(i, se_ratio=rng.choice([None, 0.25]), kernel_size=rng.choice([3, 5, 7]),
                           stride=rng.choice([1, 2]), first_bottleneck_channels=rng.choice([None, 8]))


@pytest.mark.parametrize("name", GHOST_PRESETS)
def test_presets_equal_flop_counter_and_numel(name: str) -> None:
    _assert_equal(get_preset(name))


@pytest.mark.parametrize("seed", range(12))
def test_random_ghost_specs_equal_flop_counter(seed: int) -> None:
    _assert_equal(_random_ghost(random.Random(seed)))


def test_preset_figures() -> None:
    # pinned: ghostnet_1_0 is within 0.2% of the GhostNet paper's 141M MACs (5.2M params differ by SE)
    figures = {n: (count_network(get_preset(n)).macs, count_network(get_preset(n)).params) for n in GHOST_PRESETS}
    assert figures == {"ghostnet_1_0": (141_184_432, 4_691_824),
                       "s_ghostnet_b1": (582_774_650, 11_938_476),
                       "s_ghostnet_b4": (4_499_328_576, 31_986_130)}
    # the note's 536M for b1 assumes floor(240/32) = 7 at the last stage; the true padded side is 8
    rep = count_network(get_preset("s_ghostnet_b1"))
    at8 = sum(r.macs for r in rep.layer_records if r.out_size == 8)
    assert abs(rep.macs - at8 * (1 - 49 / 64) - 536e6) / 536e6 < 0.005


def test_stage_rules_of_the_note() -> None:
    spec = get_preset("ghostnet_1_0")
    hidden = [(s.first_bottleneck_channels, s.bottleneck_channels) for s in spec.stages[:6]]
    assert hidden == [(16, 16), (48, 72), (72, 120), (240, 200), (480, 672), (672, 960)]
    assert [s.kernel_size for s in spec.stages[:6]] == [3, 3, 5, 3, 3, 5]
    assert [s.stride for s in spec.stages[:6]] == [1, 2, 2, 2, 1, 2]
    assert all(s.se_ratio == 0.1 for s in spec.stages[:6])
    head = spec.stages[-1]
    assert (head.block, head.bottleneck_channels, head.out_channels) == ("ghost_head", 960, 1280)
    assert spec.stem.act == "hswish" and spec.stem.out_channels == 16
    assert get_preset("s_ghostnet_b4").stages[-1].out_channels == max(1280, 5 * 336)
    assert make_divisible(350) == 352 and make_divisible(17.6) == 16 and make_divisible(3) == 4


def test_tinynas_convention_follows_the_reference_rules() -> None:
    spec = get_preset("ghostnet_1_0")  # 224: every side is even, so the float walk is exact
    torch_rep, tn = count_network(spec), count_network(spec, "tinynas")
    recs = torch_rep.layer_records
    post_pool = [r for r in recs if r.name in ("head_conv", "fc")]
    assert tn.params == torch_rep.params - sum(r.params for r in post_pool)
    conv_macs = sum(r.macs for r in recs if r.op == "conv" and not r.name.startswith(("se.", "head_conv")))
    bn = sum(2 * r.out_channels * r.out_size**2 for r in recs if r.op == "bn")
    acts = sum(r.out_channels * r.out_size**2 for r in recs
               if r.op == "conv" and (r.stage == "stem" or r.name.startswith("ghost1") or r.name == "conv"))
    assert tn.macs == conv_macs + bn + acts


def test_spec_validation_is_one_line() -> None:
    with pytest.raises(SpecError, match="se_ratio=0.25 is not used by block 'res_k1kxk1'"):
        StageSpec("res_k1kxk1", 64, 16, 1, se_ratio=0.25)
    with pytest.raises(SpecError, match="first_bottleneck_channels"):
        StageSpec("res_kxkx", 64, 16, 1, first_bottleneck_channels=32)
    with pytest.raises(SpecError, match="se_ratio=1.5"):
        StageSpec("ghost", 64, 16, 1, se_ratio=1.5)
    base = get_preset("ghostnet_1_0")
    for bad, match in ((base.with_stage(2, out_channels=41), "even width"),
                       (base.with_stage(6, depth=2), "ghost_head stage"),
                       (base.with_stage(1, conv="ic"), "conv='ic'")):
        with pytest.raises(SpecError, match=match):
            count_network(bad)
        with pytest.raises(SpecError, match=match):
            build_model(bad)


def test_json_round_trip_and_old_files() -> None:
    for name in GHOST_PRESETS:
        spec = get_preset(name)
        assert NetworkSpec.from_dict(spec.to_dict()) == spec
    old = get_preset("resnet18").to_dict()
    for st in old["stages"]:  # a file written before the optional fields existed
        del st["first_bottleneck_channels"], st["se_ratio"]
    assert NetworkSpec.from_dict(old) == get_preset("resnet18")


def test_is_s_ghostnet() -> None:
    spec = get_preset("s_ghostnet_b1")
    assert is_s_ghostnet(spec)
    assert not is_s_ghostnet(spec.with_stage(3, bottleneck_channels=400))
    assert not is_s_ghostnet(get_preset("resnet18"))


def test_forward_backward_and_zero_init() -> None:
    torch.manual_seed(0)
    spec = s_ghostnet([1, 2, 1, 2, 1, 2], [8, 12, 16, 24, 32, 40], resolution=40, num_classes=5)
    model = build_model(spec)
    x = torch.randn(4, 3, 40, 40)
    out = model(x)
    assert out.shape == (4, 5) and torch.isfinite(out).all()
    out.logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model = build_model(spec, zero_init_last_bn=True).eval()
    block = model.stages[1][1]  # stride 1, c_in == c_out: identity shortcut
    y = torch.randn(2, 12, 10, 10)
    assert torch.allclose(block(y), y)


def test_original_ghostnet_layout_matches_the_paper() -> None:
    # GhostNet-1.0x (Han et al., Table 1): per-block (k, hidden, out, SE, stride), one stage per block
    cfgs = [(3, 16, 16, 0, 1), (3, 48, 24, 0, 2), (3, 72, 24, 0, 1), (5, 72, 40, .25, 2), (5, 120, 40, .25, 1),
            (3, 240, 80, 0, 2), (3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1),
            (3, 480, 112, .25, 1), (3, 672, 112, .25, 1), (5, 672, 160, .25, 2), (5, 960, 160, 0, 1),
            (5, 960, 160, .25, 1), (5, 960, 160, 0, 1), (5, 960, 160, .25, 1)]
    stages = [StageSpec("ghost", c, b, 1, stride=s, kernel_size=k, se_ratio=se or None) for k, b, c, se, s in cfgs]
    spec = get_preset("ghostnet_1_0").replace(stages=(*stages, get_preset("ghostnet_1_0").stages[-1]))
    rep = count_network(spec)
    assert abs(rep.macs - 141e6) / 141e6 < 0.002 and abs(rep.params - 5.18e6) / 5.18e6 < 0.002
