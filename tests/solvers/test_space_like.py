"""Design space, --like presets (budgets, seeds of §8, reachable structures) and templates."""

from __future__ import annotations

import numpy as np
import pytest

from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.scores.entropy import ScoreConfig, score_spec
from deepmad.solvers import (
    LIKE_PRESETS,
    Bottleneck,
    Budget,
    Channels,
    DesignSpace,
    like,
    smart_round,
    template,
)
from deepmad.solvers.evolution import _Mutator
from deepmad.solvers.space import design_to_spec
from deepmad.solvers.templates import depth_cap, kernel_rule

# §8 seeds: params (code), FLOPs (code), rho, score
SEEDS = {
    "deepmad_r50": (9.640e6, 1.687e9, 0.0532, 5228.01),
    "deepmad_29m_224": (10.443e6, 0.976e9, 0.1629, 2600.34),
    "deepmad_29m_288": (1.621e6, 0.359e9, 0.2974, None),
    "deepmad_50m": (13.432e6, 1.338e9, 0.1475, None),
    "deepmad_89m": (28.259e6, 3.081e9, 0.1132, None),
}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_check_numbers(name: str) -> None:
    params, flops, rho, score = SEEDS[name]
    problem = like(name, ScoreConfig("reference"))
    spec = design_to_spec(problem.space, LIKE_PRESETS[name].seed)
    tn = count_network(spec, "tinynas")
    assert tn.params == pytest.approx(params, rel=1e-3)
    assert tn.macs == pytest.approx(flops, rel=1e-3)
    rep = score_spec(spec, "reference")
    assert rep.rho == pytest.approx(rho, rel=1e-3)
    if score is not None:
        assert rep.entropy == pytest.approx(score, rel=1e-3)
    if name == "deepmad_r50":
        assert tn.layers == 16


def test_like_r50_budgets_and_layout() -> None:
    p = like("deepmad_r50", ScoreConfig("reference"))
    got = {(b.name, b.upper) for b in p.budgets}
    assert got == {("macs[tinynas]", 4.13e9), ("params[tinynas]", 25.55e6), ("rho", 0.3)}
    assert p.space.resolutions == (224,)
    assert [s.stride for s in p.space.stages] == [2, 2, 2, 1, 2]
    assert p.space.stages[0].depth == (1, 3)
    assert all(s.kernels == (3, 5) for s in p.space.stages)


def test_like_29m_224_last_stage_kernel_follows_the_reference_rule() -> None:
    p = like("deepmad_29m_224", ScoreConfig("reference"))
    assert p.space.stages[-1].kernels == (3,)  # 1.5 k <= 7
    assert p.space.final_conv.values() == (1792,)
    assert kernel_rule((3, 5, 7), 14.0) == (3, 5, 7)


@pytest.mark.parametrize("name", sorted(LIKE_PRESETS))
def test_like_space_contains_everything_the_mutators_reach(name: str) -> None:
    p = like(name, ScoreConfig("reference"))
    rng = np.random.default_rng(7)
    mut = _Mutator(p.space, rng)
    frontier = [LIKE_PRESETS[name].seed] * 8
    for step in range(1500):
        i = step % len(frontier)
        frontier[i] = mut.mutate(frontier[i])
        reason = p.space.contains(frontier[i])
        if reason:
            pytest.fail(f"{frontier[i]} not in the --like space: {reason}")


def test_ratio_bottlenecks_contain_the_reference_values() -> None:
    ratios = np.arange(1.5, 6.01, 0.1)
    bn = Bottleneck(1.5, 6.0, ratio=True)
    for c in range(8, 1281, 8):
        allowed = set(bn.values(c))
        assert {smart_round(c * r) for r in ratios} <= allowed, c


def test_channels_and_validation() -> None:
    assert Channels(8, 32).values() == (8, 16, 24, 32)
    assert Channels(10, 30, extra=(84,)).values() == (16, 24, 84)
    with pytest.raises(DeepmadError, match="lo=40, hi=32"):
        Channels(40, 32)
    with pytest.raises(DeepmadError, match="not designable"):
        template("resnet").stages[0].__class__("conv", 2, Channels(8, 16), Bottleneck(8, 16))


def test_templates_and_depth_cap() -> None:
    sp = template("mobile-se", resolution=224)
    assert [s.block for s in sp.stages] == ["res_k1dwsek1"] * 5 and sp.final_conv is not None
    with pytest.raises(DeepmadError, match="allowed: resnet, mobile-se"):
        template("vit")
    # AM-GM: params >= c_min D^2 / rho0
    cap = depth_cap(template("resnet"), (Budget("params", upper=8e5), Budget("rho", upper=0.5)))
    assert cap == int((0.5 * 8e5 / 8) ** 0.5)
    assert depth_cap(template("resnet"), (Budget("layers", upper=50),)) == 50
    assert depth_cap(template("resnet"), (Budget("params", upper=1e6),)) is None


def test_space_contains_reports_the_reason() -> None:
    sp: DesignSpace = like("deepmad_r50", ScoreConfig("paper")).space
    seed = LIKE_PRESETS["deepmad_r50"].seed
    assert sp.contains(seed) is None
    bad = seed.__class__(seed.resolution, 64, seed.stages, None)
    assert "stem width 64" in sp.contains(bad)
