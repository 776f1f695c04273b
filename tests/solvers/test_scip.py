"""The direct SCIP MINLP model: an independent cross-check of the exact solver."""

from __future__ import annotations

import importlib.util

import pytest

from deepmad.errors import DeepmadError
from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import (
    Bottleneck,
    Budget,
    Channels,
    DesignProblem,
    DesignSpace,
    ExactSolver,
    ScipSolver,
    StageRange,
)
from tests.solvers.conftest import tiny_mobile, tiny_resnet
from tests.solvers.test_exact import _truth

# pyscipopt is optional (pip install deepmad[scip]); .[dev] installs it, so CI runs these
needs_scip = pytest.mark.skipif(importlib.util.find_spec("pyscipopt") is None, reason="pyscipopt not installed")


@needs_scip
@pytest.mark.parametrize("mode", ["reference", "paper"])
def test_scip_equals_brute_force_on_a_resnet_space(mode: str) -> None:
    best, obj = _truth(f"resnet-{mode}")
    r = ScipSolver(gap=1e-9, time_limit=60).solve(tiny_resnet(mode=mode))
    assert r.status == "optimal" and r.verified
    assert r.objective == pytest.approx(obj, rel=1e-9) and r.design == best
    assert r.dual_bound >= obj - 1e-6 * abs(obj)


@needs_scip
def test_scip_agrees_with_the_exact_solver_on_se_blocks() -> None:
    p = tiny_mobile(mode="paper")
    s, e = ScipSolver(gap=1e-9, time_limit=60).solve(p), ExactSolver(gap=1e-9).solve(p)
    assert s.status == "optimal" and s.verified
    assert s.objective == pytest.approx(e.objective, rel=1e-9)


def test_scip_rejects_unsupported_layouts() -> None:
    space = DesignSpace(stem=Channels(16, 16), stages=(
        StageRange("res_kxkx", 2, Channels(32, 64), Bottleneck(16, 32), (3,), (1, 2)),), resolutions=(32,))
    p = DesignProblem(space, ScoreConfig("paper"), (Budget("params", upper=1e6),))
    with pytest.raises(DeepmadError, match="not supported by the scip solver"):
        ScipSolver().solve(p)
