"""IC-style conv (project design): shapes, gradients, zeroed branch == plain conv, exact costs."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch
from torch import nn

from deepmad.cost import count_network
from deepmad.cost.ic import ic_branch_cost, ic_hidden_channels
from deepmad.errors import SpecError
from deepmad.layers import ICConv2d, create_conv
from deepmad.models import build_model, create_model
from deepmad.spec import ConvBNAct, NetworkSpec, ResNetStem, StageSpec, get_preset
from deepmad.testing import measure_torch_costs, random_spec

CASES = [  # (cin, cout, k, stride, padding, dilation, groups)
    (8, 16, 3, 1, 1, 1, 1),
    (8, 16, 3, 2, 1, 1, 2),
    (12, 12, 5, 2, 2, 1, 12),  # depthwise
    (6, 10, 1, 1, 0, 1, 1),
    (4, 8, 3, 1, 2, 2, 1),  # dilated
    (3, 7, 7, 2, 3, 1, 1),
]


def _pair(case: tuple[int, ...], bias: bool = False) -> tuple[ICConv2d, nn.Conv2d]:
    cin, cout, k, s, p, d, g = case
    ic = ICConv2d(cin, cout, k, s, p, d, g, bias=bias)
    plain = nn.Conv2d(cin, cout, k, s, p, d, g, bias=bias)
    plain.load_state_dict(ic.state_dict(), strict=False)
    return ic, plain


@pytest.mark.parametrize("case", CASES)
def test_shape_matches_conv2d_and_zero_branch_is_exactly_plain(case: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    ic, plain = _pair(case, bias=True)
    x = torch.randn(2, case[0], 13, 11)
    y = ic(x)
    assert y.shape == plain(x).shape
    assert torch.equal(y, plain(x))  # gamma = 0 at init: bit-identical
    nn.init.normal_(ic.gamma)
    nn.init.zeros_(ic.proj.weight)  # V = 0 also switches the branch off exactly
    assert torch.equal(ic(x), plain(x))


@pytest.mark.parametrize("case", CASES[:3])
def test_active_branch_changes_output_and_is_piecewise_linear(case: tuple[int, ...]) -> None:
    torch.manual_seed(1)
    ic, plain = _pair(case)
    nn.init.normal_(ic.gamma)
    x = torch.randn(2, case[0], 9, 9)
    assert not torch.allclose(ic(x), plain(x))
    # c = 0: positively homogeneous (f(2x) = 2 f(x)) but not linear (f(-x) != -f(x))
    assert torch.allclose(ic(2 * x), 2 * ic(x), atol=1e-5)
    assert not torch.allclose(ic(-x), -ic(x), atol=1e-4)


def test_gradients_are_correct_and_reach_every_parameter() -> None:
    torch.manual_seed(2)
    ic = ICConv2d(3, 4, 3, 2, 1, groups=1, bias=True, hidden_ratio=0.5).double()
    nn.init.normal_(ic.gamma)
    nn.init.constant_(ic.gate.bias, 0.1)
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ic, (x,))
    ic(x).square().sum().backward()
    for name, p in ic.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_zero_gamma_at_init_still_trains_the_branch() -> None:
    torch.manual_seed(3)
    ic = ICConv2d(4, 8, 3, padding=1, bias=False)
    opt = torch.optim.SGD(ic.parameters(), lr=0.1)
    x, target = torch.randn(4, 4, 8, 8), torch.randn(4, 8, 8, 8)
    gate0 = ic.gate.weight.detach().clone()
    for _ in range(2):
        opt.zero_grad()
        (ic(x) - target).square().mean().backward()
        opt.step()
    assert ic.gamma.abs().sum() > 0
    assert not torch.equal(ic.gate.weight, gate0)


def test_plain_state_dict_loads_into_the_shared_weight() -> None:
    plain = nn.Conv2d(8, 16, 3, padding=1, bias=False)
    ic = ICConv2d(8, 16, 3, padding=1, bias=False)
    missing, unexpected = ic.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["gate.bias", "gate.weight", "proj.gain", "proj.weight"]
    assert not unexpected and torch.equal(ic.weight, plain.weight)


def test_hidden_width_rule_and_errors() -> None:
    assert ic_hidden_channels(64) == 8
    assert ic_hidden_channels(512) == 64
    assert ic_hidden_channels(12, groups=12) == 12  # depthwise: one hidden unit per group
    assert ic_hidden_channels(3) == 1
    assert ICConv2d(16, 32, 3, groups=4).hidden_channels == 4
    with pytest.raises(SpecError, match="hidden_ratio"):
        ic_hidden_channels(8, ratio=0)
    with pytest.raises(SpecError, match="allowed: plain, ic"):
        create_conv(4, 4, 3, conv_type="paper")
    assert isinstance(create_conv(4, 4, 3, conv_type="ic"), ICConv2d)
    assert type(create_conv(4, 4, 3)) is nn.Conv2d


def _all_ic(spec: NetworkSpec) -> NetworkSpec:
    stem = spec.stem if isinstance(spec.stem, ResNetStem) else dataclasses.replace(spec.stem, conv="ic")
    final = None if spec.final_conv is None else dataclasses.replace(spec.final_conv, conv="ic")
    return spec.replace(stem=stem, final_conv=final,
                        stages=tuple(dataclasses.replace(s, conv="ic") for s in spec.stages))


@pytest.mark.parametrize("seed", range(40))
def test_random_ic_specs_match_flop_counter_and_numel(seed: int) -> None:
    spec = _all_ic(random_spec(random.Random(1000 + seed)))
    ours, theirs = count_network(spec), measure_torch_costs(spec)
    assert (2 * ours.macs, ours.params, ours.activations) == (theirs.flops, theirs.params, theirs.activations)


@pytest.mark.parametrize("name", ["deepmad_r18", "deepmad_29m_224"])
def test_ic_variants_of_deepmad_presets(name: str) -> None:
    model = create_model(name, resolution=64, conv="ic")
    spec = model.spec
    assert all(s.conv == "ic" for s in spec.stages) and spec.stem.conv == "plain"
    n_ic = sum(isinstance(m, ICConv2d) for m in model.modules())
    kxk_per_block = 2 if spec.stages[0].block == "res_kxkx" else 1
    assert n_ic == kxk_per_block * sum(s.depth for s in spec.stages)
    assert type(model.stem.conv) is nn.Conv2d
    ours, theirs = count_network(spec), measure_torch_costs(spec)
    assert (2 * ours.macs, ours.params, ours.activations) == (theirs.flops, theirs.params, theirs.activations)


def test_ic_resnet_presets_replace_every_3x3_block_conv() -> None:
    for name in ("ic_resnet18", "ic_resnet50"):
        model = create_model(name, resolution=32)
        assert sum(isinstance(m, ICConv2d) for m in model.modules()) == 16
        plain_3x3 = [n for n, m in model.named_modules() if type(m) is nn.Conv2d
                     and m.kernel_size == (3, 3) and not n.endswith(".gate")]  # U is part of the unit
        assert plain_3x3 == [], f"{name}: plain 3x3 convs left in the blocks"
    plain, ic = count_network(get_preset("resnet18")), count_network(get_preset("ic_resnet18"))
    assert 1.10 < ic.macs / plain.macs < 1.16 and 1.10 < ic.params / plain.params < 1.16


def test_tinynas_convention_adds_the_documented_branch_rate() -> None:
    def net(conv: str) -> NetworkSpec:
        return NetworkSpec(stem=ConvBNAct(16, 3, 2, conv=conv),
                           stages=(StageSpec("res_kxkx", 32, 24, 1, stride=2, conv=conv),),
                           resolution=32)

    plain, ic = count_network(net("plain"), "tinynas"), count_network(net("ic"), "tinynas")
    # stem 3->16 k3 s2 at input 32; conv1 16->24 k3 s2 at input 16; conv2 24->32 k3 s1 at 8x8
    expected_params = expected_flops = 0.0
    for cin, cout, in_side, s in ((3, 16, 32, 2), (16, 24, 16, 2), (24, 32, 8, 1)):
        m = ic_hidden_channels(cout)
        out_px = (in_side // s) ** 2
        expected_params += m * cin * 9 + m + cout * m + cout
        expected_flops += (m * cin * 9 + cout * m + m + cout) * out_px
    assert ic.params - plain.params == round(expected_params)
    assert ic.macs - plain.macs == round(expected_flops)
    branch = ic_branch_cost(24, 32, 3, 1, 8)
    torch_diff = count_network(net("ic")).macs - count_network(net("plain")).macs
    assert torch_diff == (ic_branch_cost(3, 16, 3, 1, 16).macs + ic_branch_cost(16, 24, 3, 1, 8).macs
                          + branch.macs)


def test_build_model_conv_override_leaves_stem_and_final_conv() -> None:
    spec = get_preset("deepmad_29m_224")
    model = build_model(spec, conv="ic", resolution=32)
    assert model.spec.final_conv.conv == "plain" and type(model.final_conv.conv) is nn.Conv2d
    dw = [m for m in model.modules() if isinstance(m, ICConv2d)]
    assert dw and all(m.groups == m.in_channels == m.out_channels for m in dw)
