"""Closed-form costs and DeepMAD scores of a :class:`~deepmad.solvers.space.Design` (no torch).

The solvers evaluate millions of candidates, so they cannot afford to build a
:class:`~deepmad.spec.NetworkSpec` and walk it with :func:`deepmad.cost.count_network` (0.7 ms)
each time. This module sums the terms of :mod:`deepmad.solvers.terms` (the costs as polynomials
in the stage variables ``(c_in, c, b, k, L)`` at the feature sides fixed by the layout and
resolution, the entropy parts per unit) over a design. ``tests/solvers/test_fasteval.py`` checks
the sums against ``count_network`` (both conventions) and
:func:`deepmad.scores.entropy.score_spec` (both modes) on every preset and on hundreds of random
designs, so the two cannot drift.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from operator import add

from deepmad.scores import entropy as _entropy
from deepmad.scores.entropy import ScoreConfig, feature_sides, penalty_stage_indices
from deepmad.solvers import terms
from deepmad.solvers.space import Design, DesignSpace
from deepmad.solvers.terms import Costs
from deepmad.spec.blocks import BLOCK_KINDS
from deepmad.spec.network import conv_out_size

__all__ = [
    "Geometry",
    "Costs",
    "geometry",
    "network_costs",
    "ScoreLayout",
    "score_layout",
    "score_design",
    "log_width_prefixes",
    "depth_penalty",
]

@dataclass(frozen=True)
class Geometry:
    """Feature sides of a layout at one resolution."""

    resolution: int
    stem_out: int  # true side after the stem
    stage_in: tuple[int, ...]  # true side entering each stage
    stage_out: tuple[int, ...]  # true side leaving each stage
    stage_rf: tuple[float, ...]  # TinyNAS float side entering each stage
    final_rf: float  # TinyNAS float side entering the final conv


def geometry(space: DesignSpace, resolution: int) -> Geometry:
    """Sides of ``space``'s layout at ``resolution`` (odd kernels: sides do not depend on k)."""
    side = conv_out_size(resolution, space.stem_kernel, space.stem_stride)
    rf = resolution / space.stem_stride
    ins, outs, rfs = [], [], []
    for st in space.stages:
        ins.append(side)
        rfs.append(rf)
        side = conv_out_size(side, 3, st.stride)
        outs.append(side)
        rf /= st.stride
    return Geometry(resolution, conv_out_size(resolution, space.stem_kernel, space.stem_stride),
                    tuple(ins), tuple(outs), tuple(rfs), rf)


@functools.lru_cache(maxsize=1 << 16)
def _scalar_stage_costs(kind: str, shortcut: str, cin: int, c: int, b: int, depth: int, k: int, s: int,
                        ri: int, ro: int, rf: float, lat: terms.LatencyTerms | None = None) -> tuple[float, ...]:
    """Stage costs of an integer design, remembered: local search scores neighbours that differ
    from the current design in one stage, so the other stages' costs repeat."""
    return terms.stage_costs(BLOCK_KINDS[kind], shortcut, cin, c, b, depth, k, s, ri, ro, rf, lat=lat)


def network_costs(space: DesignSpace, design: Design, geo: Geometry,
                  lat: terms.LatencyTerms | None = None) -> Costs:
    """Integer costs of ``design``, equal to ``count_network`` in both conventions; with ``lat``
    its predicted latency, equal to :meth:`deepmad.hardware.Calibration.predict`."""
    body = terms.conv_bn_costs(space.in_channels, design.stem, space.stem_kernel, space.stem_stride,
                               geo.stem_out, geo.resolution, lat, "stem", geo.resolution)
    layers = 1
    cin = design.stem
    for j, (rng, (c, b, depth, k)) in enumerate(zip(space.stages, design.stages)):
        body = tuple(map(add, body, _scalar_stage_costs(rng.block, rng.shortcut, cin, c, b, depth, k, rng.stride,
                                              geo.stage_in[j], geo.stage_out[j], geo.stage_rf[j], lat)))
        layers += depth * rng.kind.layers_per_block
        cin = c
    if design.final is not None:
        body = tuple(map(add, body, terms.conv_bn_costs(cin, design.final, 1, 1, geo.stage_out[-1], geo.final_rf,
                                                        lat)))
        layers += 1
        cin = design.final
    return Costs.from_body(body, layers, cin, space.num_classes, lat, geo.stage_out[-1])


@dataclass(frozen=True)
class ScoreLayout:
    """Where score stages end and their sides, for one space, resolution and score config."""

    unit_stage: tuple[int, ...]  # score stage of unit u (0 stem, 1..J stages, J+1 final)
    stage_end: tuple[int, ...]  # last unit of each score stage
    log_side2: tuple[float, ...]  # ln r_s^2 per score stage
    weights: tuple[float, ...]  # alpha_s
    penalty_stages: tuple[int, ...]  # stage indices (0-based) whose depths the penalty uses


def score_layout(space: DesignSpace, resolution: int, config: ScoreConfig) -> ScoreLayout:
    """The score-stage bookkeeping of ``space`` (it depends on strides only, not on sizes)."""
    strides = [space.stem_stride] + [s.stride for s in space.stages] + ([1] if space.final_conv else [])
    unit_stage, stage = [], 0
    for u, s in enumerate(strides):
        if u > 0 and s == 2:
            stage += 1
        unit_stage.append(stage)
    ends = tuple(max(u for u, st in enumerate(unit_stage) if st == s) for s in range(stage + 1))
    res = config.resolution or resolution
    sides = _unit_sides(space, res, config.mode)
    weights = config.weights(len(ends))
    return ScoreLayout(tuple(unit_stage), ends, tuple(math.log(sides[e] ** 2) for e in ends), weights,
                       _penalty_stages(space, config.rule))


def _unit_sides(space: DesignSpace, res: int, mode: str) -> list[int]:
    strides = [space.stem_stride] + [s.stride for s in space.stages]
    se_units = [False] + [s.kind.se for s in space.stages]
    sides = feature_sides(strides, se_units, res, mode)
    if space.final_conv is not None:
        sides.append(sides[-1])
    return sides


def _penalty_stages(space: DesignSpace, rule: str) -> tuple[int, ...]:
    return penalty_stage_indices([st.block for st in space.stages], rule)


def _unit_terms(space: DesignSpace, design: Design, config: ScoreConfig):
    """Per unit (stem, stages, final): entropy term h, sum of log layer widths, layers, channels."""
    f, a1, a2 = config.factor, config.alpha1, config.alpha2
    parts = [terms.stem_parts(space.in_channels, space.stem_kernel, math.log)]
    layers = [1]
    channels = [design.stem]
    cin = design.stem
    log = math.log
    for rng, (c, b, depth, k) in zip(space.stages, design.stages):
        kind = rng.kind
        parts.append(terms.stage_parts(kind, depth, log(cin), log(c), log(b), log(k)))
        layers.append(kind.layers_per_block * depth)
        channels.append(c)
        cin = c
    if design.final is not None:
        parts.append(terms.final_parts(log(cin)))
        layers.append(1)
        channels.append(design.final)
    hl = terms.entropy_and_log_width
    h, lw = zip(*[hl(x, y, f, a1, a2) for x, y in parts])
    return h, lw, layers, channels


def log_width_prefixes(space: DesignSpace, design: Design, config: ScoreConfig,
                       layout: ScoreLayout) -> list[tuple[int, float]]:
    """Per score stage: (layers D_s, sum of log layer widths LW_s) from the input to its end.

    ``rho_s = exp(ln D_s - LW_s / D_s)`` (DeepMAD §2.1), so ``rho_s <= r0`` iff
    ``LW_s >= D_s ln(D_s / r0)``.
    """
    _, logw, layers, _ = _unit_terms(space, design, config)
    return [(sum(layers[:end + 1]), sum(logw[:end + 1])) for end in layout.stage_end]


def score_design(space: DesignSpace, design: Design, config: ScoreConfig,
                 layout: ScoreLayout) -> tuple[float, float, float, float, tuple[float, ...]]:
    """(objective, entropy, penalty, rho, weighted stage terms); equals ``score_spec``."""
    terms, logw, layers, channels = _unit_terms(space, design, config)
    entropy, rho = 0.0, 0.0
    stage_terms = []
    acc_t = acc_w = 0.0
    acc_d = 0
    u = 0
    for s, end in enumerate(layout.stage_end):
        while u <= end:
            acc_t, acc_w, acc_d = acc_t + terms[u], acc_w + logw[u], acc_d + layers[u]
            u += 1
        w = layout.weights[s]
        term = 0.0 if w == 0 else w * (math.log(channels[end]) + layout.log_side2[s]) * acc_t
        stage_terms.append(term)
        entropy += term
        rho = max(rho, math.exp(math.log(acc_d) - acc_w / acc_d))
    penalty = _penalty(design, layout, config.depth_penalty)
    return entropy - penalty, entropy, penalty, rho, tuple(stage_terms)


def _penalty(design: Design, layout: ScoreLayout, beta: float) -> float:
    return depth_penalty([st[2] for st in design.stages], layout, beta)


def depth_penalty(depths, layout: ScoreLayout, beta: float) -> float:
    """``Q(L)`` of :func:`deepmad.scores.entropy.depth_penalty` on the layout's penalised stages."""
    if not beta:
        return 0.0
    return _entropy.depth_penalty([depths[i] for i in layout.penalty_stages], beta)
