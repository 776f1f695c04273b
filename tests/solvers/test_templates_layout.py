"""Template layouts for the input size, in/out channels in the designed spec, and the design() API."""

from __future__ import annotations

import pytest

from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import LIKE_PRESETS, Budget, design, layout, like, template
from deepmad.solvers.space import design_to_spec
from deepmad.solvers.templates import depth_cap, space_problem


@pytest.mark.parametrize(("res", "name", "stem", "strides", "final"), [
    (224, "resnet", 2, (2, 2, 2, 1, 2), 7),  # the ImageNet layout is unchanged
    (224, "mobile-se", 2, (2, 2, 2, 2, 1), 7),
    (64, "resnet", 1, (2, 2, 2, 1, 2), 4),  # one 2 dropped: the stem's
    (32, "resnet", 1, (1, 2, 2, 1, 2), 4),  # CIFAR: stem and stage 1 at 32 px
    (32, "mobile-se", 1, (1, 2, 2, 2, 1), 4),
    (28, "resnet", 1, (1, 2, 2, 1, 2), 4),  # 28 -> 14 -> 7 -> 4 (ceil)
])
def test_layout_rule_keeps_the_final_map_at_least_4px(res, name, stem, strides, final) -> None:
    lay = layout(name, res)
    assert (lay.stem_stride, lay.strides, lay.final_side) == (stem, strides, final)
    sp = template(name, resolution=res)
    assert sp.stem_stride == stem and tuple(s.stride for s in sp.stages) == strides
    # the spec's own integer sides agree with the layout
    d = design_to_spec(sp, _smallest(sp))
    assert d.feature_sizes()[-1] == final


def _smallest(sp):
    from deepmad.solvers.space import Design

    return Design(sp.resolutions[0], sp.stem.values()[0],
                  tuple((s.width.values()[-1], 8, 1, s.kernels[0]) for s in sp.stages),
                  None if sp.final_conv is None else sp.final_conv.values()[0])


def test_min_final_side_and_explicit_strides() -> None:
    assert layout("resnet", 32, min_final_side=1).strides == (2, 2, 2, 1, 2)  # the 32x layout, 1 px
    assert layout("resnet", 32, min_final_side=8).final_side == 8
    lay = layout("resnet", 32, strides=(1, 1, 1, 2, 1, 2))
    assert (lay.stem_stride, lay.strides, lay.sides) == (1, (1, 1, 2, 1, 2), (32, 32, 32, 16, 16, 8))


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"strides": (1, 2, 2, 1, 2)}, ["strides=1,2,2,1,2 has 5 values", "needs 6", "1,1,2,2,1,2"]),
    ({"strides": (1, 3, 2, 1, 1, 1)}, ["strides=1,3,2,1,1,1", "1 or 2"]),
    ({"strides": (2, 2, 2, 2, 1, 2)}, ["final feature map of 1 px", "min_final_side=4"]),
    ({"min_final_side": 0}, ["min_final_side=0"]),
])
def test_bad_layouts_are_refused_with_one_line(kwargs, words) -> None:
    with pytest.raises(DeepmadError) as exc:
        layout("resnet", 32, **kwargs)
    msg = str(exc.value)
    assert "\n" not in msg and "--" not in msg and all(w in msg for w in words), msg


def test_resolution_below_the_final_side_is_refused() -> None:
    with pytest.raises(DeepmadError, match="resolution=3 is below min_final_side=4"):
        layout("resnet", 3)


@pytest.mark.parametrize("name", ["resnet", "mobile-se"])
def test_channels_and_classes_flow_into_spec_and_costs(name) -> None:
    budgets = (Budget("params", upper=2e6), Budget("macs", upper=60e6))
    p = space_problem(name, ScoreConfig("paper"), budgets, resolution=28, in_channels=1, num_classes=10)
    d = _smallest(p.space)
    spec = p.to_spec(d)
    assert spec.in_channels == 1 and spec.head.num_classes == 10 and spec.resolution == 28
    fast, ind = p.evaluate(d), p.verify(spec)
    assert fast.costs == ind.costs  # the solver's costs are count_network's (torch: stem + head)
    c3 = count_network(spec.replace(in_channels=3), "torch")
    assert ind.costs.params_torch == c3.params - 2 * 9 * spec.stem.out_channels  # 1 channel, 3x3 stem
    head = count_network(spec, "torch").stages[-1]
    assert head.name == "head" and head.params == spec.num_features * 10 + 10


def test_designed_costs_equal_the_built_model() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from deepmad.models import build_model

    result = design(space="resnet", resolution=28, in_channels=1, num_classes=10, time_limit=1, gap=0.1,
                    budgets=(Budget("params", upper=0.2e6), Budget("macs", upper=20e6)))
    assert result.verified and result.spec.in_channels == 1 and result.spec.head.num_classes == 10
    model = build_model(result.spec).eval()
    assert sum(p.numel() for p in model.parameters()) == result.evaluation.costs.params_torch
    with FlopCounterMode(display=False) as fc:
        out = model(torch.zeros(1, 1, 28, 28))
    assert out.shape == (1, 10)
    assert fc.get_total_flops() // 2 == result.evaluation.costs.macs_torch
    assert result.evaluation.costs.params_torch <= 0.2e6


def test_like_problems_are_unchanged() -> None:
    """--like keeps the reference's layout (stem stride 2, 32x, 3 channels, 1000 classes)."""
    for name, preset in LIKE_PRESETS.items():
        sp = like(name, ScoreConfig("paper")).space
        assert sp.stem_stride == 2 and tuple(s.stride for s in sp.stages) == preset.strides
        assert (sp.in_channels, sp.num_classes) == (3, 1000)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({}, ["exactly one of like=PRESET", "neither"]),
    ({"like": "deepmad_r18", "space": "resnet"}, ["both"]),
    ({"like": "deepmad_r18", "num_classes": 10}, ["num_classes", "space= templates only"]),
    ({"like": "deepmad_r18", "strides": (1, 1, 2, 2, 1, 2)}, ["strides", "space= templates only"]),
    ({"space": "resnet"}, ["needs budgets"]),
    ({"space": "resnet", "resolution": 32, "strides": (2, 2, 2, 2, 2, 2),
      "budgets": (Budget("params", upper=1e6),)}, ["strides=2,2,2,2,2,2", "1 px"]),
])
def test_design_api_refuses_ambiguous_calls_without_cli_words(kwargs, words) -> None:
    with pytest.raises(DeepmadError) as exc:
        design(**kwargs)
    msg = str(exc.value)
    assert "--" not in msg and all(w in msg for w in words), msg


def test_design_api_space_path_uses_the_task_layout() -> None:
    r = design(space="mobile-se", resolution=32, num_classes=10, time_limit=2, gap=0.05,
               budgets=(Budget("params", upper=1e6), Budget("macs", upper=50e6)))
    assert r.verified and r.spec.stem.stride == 1 and r.spec.feature_sizes()[-1] == 4
    assert r.spec.head.num_classes == 10 and r.evaluation.costs.params_torch <= 1e6


def test_depth_cap_uses_the_layouts_smallest_side() -> None:
    """With a stride-1 stem at 32 px the smallest side is 4 (not 2): MACs >= c_min 4^2 D^2 / rho0."""
    sp = template("resnet", resolution=32)
    budgets = (Budget("macs", upper=40e6), Budget("rho", upper=0.3))
    assert depth_cap(sp, budgets) == int((0.3 * 40e6 / (8 * 4 * 4)) ** 0.5)


def test_like_resolution_is_set_before_the_depth_caps() -> None:
    """The depth caps bound MACs at the smallest side: at 96 px they must be those of 96 px, not
    the config's 224 px (which would cut designs that meet the budgets out of the space)."""
    from dataclasses import replace

    from deepmad.solvers.templates import cap_depths

    budgets = (Budget("macs", upper=1.8e9, convention="tinynas"), Budget("rho", upper=0.3))
    at224 = like("deepmad_r18", ScoreConfig("paper"), budgets)
    at96 = like("deepmad_r18", ScoreConfig("paper"), budgets, resolution=96)
    assert at224.space.resolutions == (224,) and at96.space.resolutions == (96,)
    assert at96.space.stages[1].depth[1] > at224.space.stages[1].depth[1]
    wide = replace(at96.space, stages=tuple(replace(s, depth=(s.depth[0], 10**6)) for s in at96.space.stages))
    assert [s.depth for s in cap_depths(wide, budgets).stages[1:]] == [s.depth for s in at96.space.stages[1:]]
