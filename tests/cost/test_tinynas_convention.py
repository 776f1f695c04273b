"""The ``tinynas`` convention reproduces the DeepMAD reference's bookkeeping (note §5.2, §7)."""

from __future__ import annotations

import pytest

from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.spec import get_preset

# name: (code params M, +FC params M, code FLOPs G, conv MACs G, layers) from §5.2
TABLE_5_2 = {
    "deepmad_r18": (11.153, 11.826, 1.837, 1.811, 115),
    "deepmad_r34": (21.073, 21.690, 3.675, 3.634, 148),
    "deepmad_r50": (24.208, 25.441, 4.087, 4.042, 157),
    "deepmad_29m_224": (26.877, 28.670, 4.449, 4.307, 71),
    "deepmad_29m_288": (26.911, 28.704, 4.435, 4.305, 71),
    "deepmad_50m": (47.360, 49.409, 8.611, 8.421, 83),
    "deepmad_89m": (85.765, 88.326, 15.257, 14.973, 95),
}


@pytest.mark.parametrize("name", sorted(TABLE_5_2))
def test_code_params_and_flops_match_reference(name: str) -> None:
    params, params_fc, flops, conv_macs, layers = TABLE_5_2[name]
    spec = get_preset(name)
    tn = count_network(spec, "tinynas")
    torch_conv = count_network(spec)
    assert round(tn.params / 1e6, 3) == params
    assert round(tn.macs / 1e9, 3) == flops
    assert round(torch_conv.params / 1e6, 3) == params_fc
    fc = [r for r in torch_conv.layer_records if r.op == "linear"][0]
    # conv MACs = torch MACs minus the classifier, minus SE convs (excluded by the note's column)
    se = sum(r.macs for r in torch_conv.layer_records if r.name.startswith("se."))
    assert round((torch_conv.macs - fc.macs - se) / 1e9, 3) == conv_macs
    assert tn.layers == torch_conv.layers == layers


def test_r18_exceeds_its_flops_budget_as_the_note_says() -> None:
    assert count_network(get_preset("deepmad_r18"), "tinynas").macs > 1.82e9


def test_seed_structure_matches_reference_seed_numbers() -> None:
    from deepmad.spec import ConvBNAct, NetworkSpec, StageSpec

    rows = [(256, 2, 64), (512, 2, 128), (768, 2, 256), (1024, 1, 256), (2048, 2, 512)]
    seed = NetworkSpec(stem=ConvBNAct(32, 3, 2), stages=tuple(
        StageSpec("res_k1kxk1", c, b, 1, s, 3) for c, s, b in rows))
    tn = count_network(seed, "tinynas")
    assert round(tn.params / 1e6, 3) == 9.640
    assert round(tn.macs / 1e9, 3) == 1.687
    assert tn.layers == 16


def test_bad_convention_is_a_one_line_error() -> None:
    with pytest.raises(DeepmadError, match="convention='macs' is invalid; allowed: torch, tinynas"):
        count_network(get_preset("resnet18"), "macs")
