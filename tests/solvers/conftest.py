"""Shared fixtures for solver tests: tiny spaces that brute force can enumerate."""

from __future__ import annotations

import functools
import itertools

import numpy as np

from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import (
    Bottleneck,
    Budget,
    Channels,
    Design,
    DesignProblem,
    DesignSpace,
    StageRange,
)
from deepmad.solvers._bound import Box, Context


def tiny_resnet(budgets: tuple[Budget, ...] | None = None, mode: str = "reference") -> DesignProblem:
    """3 K1KXK1 stages, ~10^5 designs."""
    space = DesignSpace(
        stem=Channels(16, 32),
        stages=(StageRange("res_k1kxk1", 2, Channels(32, 64, step=32), Bottleneck(8, 24), (3, 5), (1, 2)),
                StageRange("res_k1kxk1", 2, Channels(64, 128, step=32), Bottleneck(16, 32, step=16), (3, 5), (1, 3)),
                StageRange("res_k1kxk1", 2, Channels(128, 256, step=64), Bottleneck(16, 48, step=16), (3,), (1, 3))),
        resolutions=(64,), num_classes=10)
    budgets = budgets or (Budget("macs", upper=20e6, convention="tinynas"), Budget("params", upper=0.6e6),
                          Budget("rho", upper=0.4))
    return DesignProblem(space, ScoreConfig(mode), budgets, name="tiny_resnet")


def tiny_mobile(mode: str = "paper") -> DesignProblem:
    """3 DW-SE stages with ratio bottlenecks and a final 1x1 conv."""
    space = DesignSpace(
        stem=Channels(16, 24),
        stages=(StageRange("res_k1dwsek1", 2, Channels(16, 24), Bottleneck(2.0, 3.0, ratio=True), (3, 5), (1, 2)),
                StageRange("res_k1dwsek1", 2, Channels(32, 40), Bottleneck(2.0, 3.0, ratio=True), (3,), (1, 2)),
                StageRange("res_k1dwsek1", 1, Channels(48, 56), Bottleneck(3.0, 4.0, ratio=True, extra=(100,)),
                           (3, 5), (1, 2))),
        final_conv=Channels.fixed(256), resolutions=(64, 80), num_classes=10)
    budgets = (Budget("flops", upper=16e6, convention="torch"), Budget("params", upper=80e3, convention="tinynas"),
               Budget("rho", upper=0.5), Budget("activations", upper=260e3, lower=150e3))
    return DesignProblem(space, ScoreConfig(mode), budgets, name="tiny_mobile")


def all_designs(problem: DesignProblem):
    """Every design of the space (brute force)."""
    sp = problem.space
    stage_opts = []
    for i, rng in enumerate(sp.stages):
        opts = [(c, b, d, k) for c in rng.width.values() for b in sp.bottleneck_values(i, c)
                for d in range(rng.depth[0], rng.depth[1] + 1) for k in rng.kernels]
        stage_opts.append(opts)
    finals = sp.final_conv.values() if sp.final_conv is not None else (None,)
    for res, stem, final in itertools.product(sp.resolutions, sp.stem.values(), finals):
        for stages in itertools.product(*stage_opts):
            d = Design(res, stem, stages, final)
            if sp.contains(d) is None:
                yield d


def brute_force(problem: DesignProblem) -> tuple[Design | None, float]:
    """Best feasible design and its objective."""
    best, obj = None, float("-inf")
    for d in all_designs(problem):
        ev = problem.evaluate(d)
        if ev.feasible and (ev.objective > obj or (ev.objective == obj and d < best)):
            best, obj = d, ev.objective
    return best, obj


def root_box(ctx: Context) -> Box:
    """The whole space as one branch-and-bound box (every width, depth and kernel allowed)."""
    sp = ctx.space
    widths = [np.array(sp.stem.values())] + [np.array(s.width.values()) for s in sp.stages]
    if sp.final_conv is not None:
        widths.append(np.array(sp.final_conv.values()))
    return Box(widths, [s.depth for s in sp.stages], [s.kernels for s in sp.stages], [(1, 10**9)] * len(sp.stages))


CASES = {"resnet-reference": (tiny_resnet, "reference"), "resnet-paper": (tiny_resnet, "paper"),
         "mobile-reference": (tiny_mobile, "reference"), "mobile-paper": (tiny_mobile, "paper")}


def case_problem(case: str) -> DesignProblem:
    """The problem of a :data:`CASES` key."""
    make, mode = CASES[case]
    return make(mode=mode)


@functools.cache
def feasible_designs(case: str) -> tuple[tuple[Design, float], ...]:
    """(design, objective) of every feasible design of a :data:`CASES` problem (brute force, cached)."""
    problem = case_problem(case)
    return tuple((d, ev.objective) for d in all_designs(problem) if (ev := problem.evaluate(d)).feasible)
