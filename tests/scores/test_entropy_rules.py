"""Generic per-layer rule, stems, penalty rules, custom block kinds, and errors."""

from __future__ import annotations

import math

import pytest

from deepmad.errors import DeepmadError
from deepmad.scores.entropy import (
    BLOCK_LAYERS,
    ScoreConfig,
    network_units,
    penalty_depths,
    register_block_layers,
    score_spec,
    stage_info,
)
from deepmad.spec import ConvBNAct, NetworkSpec, StageSpec, get_preset


def test_generic_rule_for_kxkx_blocks() -> None:
    # h_b = f * sum over layers of ln(c_in k^2 / g): conv1 (c_in, k), conv2 (b, k)
    units = network_units(get_preset("resnet18"))
    rep = score_spec(get_preset("resnet18"), "paper")
    cin, b, k = 64, 64, 3
    assert units[1].layers == ((cin, k, 1), (b, k, 1))
    assert rep.block_terms[1] == pytest.approx(math.log(cin * k * k) + math.log(b * k * k))


def test_torchvision_stem_and_four_stages() -> None:
    spec = get_preset("resnet50")
    info = stage_info(spec, ScoreConfig("paper"))
    # stem (stride 4) + stage 1 (stride 1) form the first stage; three stride-2 stages follow
    assert info.sides == (56, 28, 14, 7) and info.channels == (256, 512, 1024, 2048)
    rep = score_spec(spec, "paper")
    assert len(rep.stage_terms) == 4 and rep.config.weights(4) == (1.0, 1.0, 1.0, 8.0)
    assert stage_info(spec, ScoreConfig("reference")).sides == (56, 28, 14, 7)


def test_paper_mode_uses_true_sides_at_odd_resolutions() -> None:
    spec = get_preset("deepmad_r50", ).replace(resolution=225)
    assert stage_info(spec, ScoreConfig("paper")).sides == (113, 57, 29, 15, 8)
    assert stage_info(spec, ScoreConfig("reference")).sides == (112, 56, 28, 14, 7)


def test_penalty_rules() -> None:
    r50 = get_preset("deepmad_r50")
    assert penalty_depths(r50, "reference") == (12, 13, 15)
    assert penalty_depths(r50, "skip_first") == (11, 12, 13, 15)
    assert penalty_depths(r50, "all") == (1, 11, 12, 13, 15)
    assert penalty_depths(get_preset("resnet18"), "reference") == (2, 2, 2)  # KXKX: one drop
    assert penalty_depths(get_preset("deepmad_50m"), "reference") == (7, 9, 7, 3, 1)
    assert score_spec(r50, "paper").depths == (11, 12, 13, 15)
    assert score_spec(r50, "reference", depth_penalty=0).penalty == 0.0


def test_half_factor_option_in_paper_mode() -> None:
    spec = get_preset("deepmad_r50")
    assert score_spec(spec, "paper").entropy == pytest.approx(2 * score_spec(spec, "paper", half=True).entropy)
    assert score_spec(spec, "reference", half=False).config.factor == 1.0


def test_unknown_block_kind_is_a_clear_error_and_can_be_registered(monkeypatch) -> None:
    spec = NetworkSpec(stem=ConvBNAct(16), stages=(StageSpec("res_k1kxk1", 32, 8, 2, stride=2),))
    monkeypatch.delitem(BLOCK_LAYERS, "res_k1kxk1")
    with pytest.raises(DeepmadError, match="block kind 'res_k1kxk1' has no entropy rule"):
        score_spec(spec, "paper")
    register_block_layers("res_k1kxk1", lambda st, cin: [(cin, 1, 1)])
    assert score_spec(spec, "paper").block_terms[1] == pytest.approx(math.log(16))
    with pytest.raises(ValueError, match="already has a layer rule"):
        register_block_layers("res_k1kxk1", lambda st, cin: [])


def test_alpha_exponents() -> None:
    spec = get_preset("deepmad_r50")
    rep = score_spec(spec, "reference", alpha1=2.0, alpha2=0.0)
    assert rep.block_terms[0] == pytest.approx(0.5 * 2 * math.log(3))


def test_score_report_to_dict() -> None:
    d = score_spec(get_preset("deepmad_r50"), "reference").to_dict()
    assert d["mode"] == "reference" and d["stage_layers"] == [1, 4, 37, 112, 157]
