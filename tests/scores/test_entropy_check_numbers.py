"""Every check number of the reference note's §8 (DeepMAD scores), both modes, to 1e-3 relative."""

from __future__ import annotations

import math

import pytest

from deepmad.errors import DeepmadError
from deepmad.scores.entropy import (
    ScoreConfig,
    block_terms,
    depth_penalty,
    network_units,
    score_spec,
    stage_info,
)
from deepmad.spec import get_preset

REL = 1e-3

# model -> (channels, cum. h_b count, cum. layers, true feature side)
BOOKKEEPING = {
    "deepmad_r18": ((32, 96, 384, 1024, 672), (1, 2, 8, 27, 39), (1, 4, 22, 79, 115), (112, 56, 28, 14, 7)),
    "deepmad_r34": ((24, 128, 512, 1024, 616), (1, 2, 12, 36, 50), (1, 4, 34, 106, 148), (112, 56, 28, 14, 7)),
    "deepmad_r50": ((32, 128, 512, 1024, 1232), (1, 2, 13, 38, 53), (1, 4, 37, 112, 157), (112, 56, 28, 14, 7)),
    "deepmad_29m_224": ((40, 85, 134, 201, 1792), (3, 7, 13, 19, 25), (7, 19, 37, 55, 71), (112, 56, 28, 14, 7)),
    "deepmad_29m_288": ((40, 61, 96, 217, 1792), (1, 5, 9, 20, 25), (1, 13, 25, 58, 71), (144, 72, 36, 18, 9)),
    "deepmad_50m": ((48, 112, 168, 252, 2048), (1, 8, 17, 24, 29), (1, 22, 49, 70, 83), (112, 56, 28, 14, 7)),
    "deepmad_89m": ((56, 136, 204, 326, 2560), (1, 11, 20, 27, 33), (1, 31, 58, 79, 95), (112, 56, 28, 14, 7)),
}

# model -> (reference stage terms, reference total, true-resolution total)
SCORES = {
    "deepmad_r18": ((21.26, 109.49, 726.98, 2782.78, 28479.70), 32120.203, 32120.203),
    "deepmad_r34": ((20.79, 103.54, 1204.20, 3946.29, 37867.85), 43142.673, 43142.673),
    "deepmad_r50": ((21.26, 111.98, 1323.61, 4178.82, 43283.60), 48919.277, 48919.277),
    "deepmad_29m_224": ((51.78, 184.19, 419.43, 701.57, 10558.40), 11915.370, 19135.928),
    "deepmad_29m_288": ((22.46, 114.75, 255.44, 754.74, 10557.75), 11705.137, 19349.383),
    "deepmad_50m": ((21.93, 244.38, 616.17, 974.80, 12975.93), 14833.203, 23605.337),
    "deepmad_89m": ((22.18, 370.34, 774.28, 1177.03, 15676.55), 18020.379, 28445.337),
}

# model -> (L list used, penalty, fitness)
PENALTIES = {
    "deepmad_r18": ((9, 10, 12), 34.807, 32085.397),
    "deepmad_r34": ((13, 11, 14), 34.807, 43107.866),
    "deepmad_r50": ((12, 13, 15), 34.807, 48884.470),
    "deepmad_29m_224": ((2, 4, 6, 6, 5), 44.668, 11870.70),
    "deepmad_29m_288": ((4, 4, 5, 6, 4), 22.255, 11682.88),
    "deepmad_50m": ((7, 9, 7, 3, 1), 189.043, 14644.16),
    "deepmad_89m": ((10, 9, 7, 4, 1), 274.013, 17746.37),
}

RHO = {
    "deepmad_r18": (0.0370, 0.0522, 0.1167, 0.2464, 0.2991),
    "deepmad_r50": (0.0370, 0.0522, 0.1445, 0.2483, 0.2998),
    "deepmad_29m_224": (0.1269, 0.2418, 0.3613, 0.4479, 0.4965),
    "deepmad_50m": (0.0370, 0.1984, 0.3619, 0.4546, 0.4930),
}

H_29M_224 = (1.648, 6.194, 6.194, 6.573, 6.95, 6.95, 6.95, 7.173, 7.401, 7.401, 7.401, 7.401, 7.401,
             7.607, 7.809, 7.809, 7.809, 7.809, 7.809, 8.028, 8.248, 8.248, 8.248, 8.248, 2.872)


def close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=5e-3)


def test_stem_term_is_one_and_a_half_ln3() -> None:
    terms = block_terms(network_units(get_preset("deepmad_r50")), ScoreConfig("reference"))
    assert close(terms[0], 1.5 * math.log(3)) and close(terms[0], 1.6479)


def test_29m_224_block_terms() -> None:
    terms = block_terms(network_units(get_preset("deepmad_29m_224")), ScoreConfig("reference"))
    assert len(terms) == 25
    assert all(close(a, b) for a, b in zip(terms, H_29M_224)), terms
    assert close(terms[-1], 0.5 * math.log(312))


@pytest.mark.parametrize("name", sorted(BOOKKEEPING))
def test_stage_bookkeeping(name: str) -> None:
    channels, units, layers, sides = BOOKKEEPING[name]
    info = stage_info(get_preset(name), ScoreConfig("paper"))
    assert (info.channels, info.unit_count, info.layer_count, info.sides) == (channels, units, layers, sides)


@pytest.mark.parametrize("name", sorted(SCORES))
def test_scores_both_modes(name: str) -> None:
    terms, ref_total, true_total = SCORES[name]
    spec = get_preset(name)
    ref = score_spec(spec, "reference")
    assert all(close(a, b) for a, b in zip(ref.stage_terms, terms)), ref.stage_terms
    assert close(ref.entropy, ref_total)
    assert close(score_spec(spec, "paper", half=True).entropy, true_total)
    # without the 0.5 factor every term doubles exactly; the penalty does not change
    full = score_spec(spec, "paper")
    assert close(full.entropy, 2 * true_total)
    assert full.penalty == pytest.approx(score_spec(spec, "paper", half=True).penalty)


def test_29m_224_true_resolution_stage_terms() -> None:
    rep = score_spec(get_preset("deepmad_29m_224"), "paper", half=True)
    assert all(close(a, b) for a, b in zip(rep.stage_terms, (184.24, 517.96, 990.14, 1399.81, 16043.78)))


def test_reference_mode_se_sides_are_one() -> None:
    assert stage_info(get_preset("deepmad_29m_224"), ScoreConfig("reference")).sides == (1, 1, 1, 1, 1)
    assert stage_info(get_preset("deepmad_50m"), ScoreConfig("reference")).sides == (112, 1, 1, 1, 1)


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_and_fitness(name: str) -> None:
    depths, penalty, fitness = PENALTIES[name]
    rep = score_spec(get_preset(name), "reference")
    assert rep.depths == depths
    assert close(rep.penalty, penalty) and close(depth_penalty(depths, 10.0), penalty)
    assert close(rep.objective, fitness)


@pytest.mark.parametrize("name", sorted(RHO))
def test_rho_per_stage(name: str) -> None:
    rep = score_spec(get_preset(name), "reference")
    assert all(close(a, b) for a, b in zip(rep.stage_rho, RHO[name])), rep.stage_rho
    assert rep.rho == max(rep.stage_rho) == rep.stage_rho[-1]


@pytest.mark.parametrize("name,rho", [("deepmad_r18", 0.2991), ("deepmad_r34", 0.3000), ("deepmad_r50", 0.2998),
                                      ("deepmad_29m_224", 0.4965), ("deepmad_29m_288", 0.4966),
                                      ("deepmad_50m", 0.4930), ("deepmad_89m", 0.4951)])
def test_published_models_sit_at_the_rho_bound(name: str, rho: float) -> None:
    assert close(score_spec(get_preset(name), "paper").rho, rho)


def test_29m_288_scored_at_224_like_the_shipped_searcher() -> None:
    rep = score_spec(get_preset("deepmad_29m_288"), "reference", resolution=224)
    assert close(rep.entropy, 11704.309)
    assert all(close(a, b) for a, b in zip(rep.stage_terms, (21.63, 114.75, 255.44, 754.74, 10557.75)))


def test_worked_example_r50_stage_one() -> None:
    rep = score_spec(get_preset("deepmad_r50"), "reference")
    assert close(rep.stage_terms[0], (math.log(32) + math.log(112 ** 2)) * 1.5 * math.log(3))


def test_mode_is_required_and_checked() -> None:
    with pytest.raises(DeepmadError, match="mode='nope' is invalid"):
        score_spec(get_preset("deepmad_r50"), "nope")
    with pytest.raises(TypeError):
        ScoreConfig()  # type: ignore[call-arg]


def test_stage_weights_must_match_the_stage_count() -> None:
    with pytest.raises(DeepmadError, match="5 score stages"):
        score_spec(get_preset("deepmad_r50"), "paper", stage_weights=(1, 8))
    custom = score_spec(get_preset("deepmad_r50"), "reference", stage_weights=(0, 0, 0, 0, 1))
    assert custom.entropy == pytest.approx(43283.60 / 8, rel=REL)
