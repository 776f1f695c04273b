"""Closed-form costs and DeepMAD scores of a :class:`~deepmad.solvers.space.Design` (no torch).

The solvers evaluate millions of candidates, so they cannot afford to build a
:class:`~deepmad.spec.NetworkSpec` and walk it with :func:`deepmad.cost.count_network` (0.7 ms)
each time. This module writes the same costs as polynomials in the stage variables
``(c_in, c, b, k, L)`` at the feature sides fixed by the layout and resolution. Every function
here works on Python numbers and on numpy arrays alike (broadcasting), so the exact solver
uses the very same expressions, vectorised. ``tests/solvers/test_fasteval.py`` checks them
against ``count_network`` (both conventions) and :func:`deepmad.scores.entropy.score_spec`
(both modes) on every preset and on hundreds of random designs, so the two cannot drift.

Per block of a stage (first block: input ``c_in``, stride ``s``; the ``L - 1`` others: ``c -> c``,
stride 1), with ``ri``/``ro`` the true input/output sides and ``rf`` the reference's float side:

* K1KXK1: convs ``c_in*b``, ``b*b*k^2`` (stride), ``b*c``, + projection ``c_in*c`` on the first block;
* K1DW(SE)K1: convs ``c_in*b``, depthwise ``b*k^2``, ``b*c``, + SE ``2*b*se`` (``se`` = se_channels(b));
* KXKX: convs ``c_in*b*k^2`` (stride), ``b*c*k^2``, + projection when ``c_in != c``;

each conv with BN (2 params per channel); TinyNAS FLOPs add BN (2/element), ReLU (1/element)
and the 2x2 average-pool shortcut, as in :mod:`deepmad.cost.tinynas`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepmad.scores.entropy import ScoreConfig, penalty_stage_indices
from deepmad.solvers.space import Design, DesignSpace
from deepmad.spec.network import conv_out_size

__all__ = [
    "Geometry",
    "Costs",
    "KIND_TERMS",
    "se_of",
    "geometry",
    "block_costs",
    "stage_costs",
    "network_costs",
    "ScoreLayout",
    "score_layout",
    "score_design",
    "log_width_prefixes",
    "depth_penalty",
]

# Per kind: (layers per block, n_b, n_k, depthwise): h_b = f (a1 ln c_in + a1 n_b ln b + a2 n_k ln k).
KIND_TERMS: dict[str, tuple[int, int, int, bool]] = {
    "res_k1kxk1": (3, 2, 2, False),
    "res_kxkx": (2, 1, 4, False),
    "res_k1dwk1": (3, 1, 2, True),
    "res_k1dwsek1": (3, 1, 2, True),
}


def se_of(b: Any) -> Any:
    """SE reduction width ``max(1, round(b / 4) // 8) * 8`` (TinyNAS), scalar or array."""
    if isinstance(b, np.ndarray):
        return np.maximum(1, np.round(0.25 * b) // 8) * 8
    return max(1, round(0.25 * b) // 8) * 8


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


@dataclass(frozen=True)
class Costs:
    """Network costs in both conventions (``tinynas`` params exclude the classifier)."""

    params_torch: int
    params_tinynas: int
    macs_torch: int
    macs_tinynas: int
    activations: int
    layers: int

    def get(self, quantity: str, convention: str) -> int:
        """``quantity`` in params / macs / flops / activations / layers, in ``convention``."""
        if quantity == "params":
            return self.params_torch if convention == "torch" else self.params_tinynas
        if quantity in ("macs", "flops"):
            macs = self.macs_torch if convention == "torch" else self.macs_tinynas
            return 2 * macs if quantity == "flops" else macs
        if quantity == "activations":
            return self.activations
        if quantity == "layers":
            return self.layers
        raise KeyError(quantity)


def _conv(cin: Any, cout: Any, k: Any, g: Any = 1) -> Any:
    return cin * cout * k * k / g


def block_costs(kind: str, shortcut: str, cin: Any, c: Any, b: Any, k: Any, s: int,
                ri: int, ro: int, first: bool, se: Any = None, pool: bool = True) -> tuple[Any, Any, Any, Any]:
    """(params, torch MACs, TinyNAS FLOPs per input pixel, activations) of one block.

    Multiply the third entry by the block's float input side squared for TinyNAS FLOPs.
    ``se`` overrides the SE width; ``pool=False`` leaves out the average-pool shortcut term
    (the only cost that is not monotone in the channels; the exact solver bounds it apart).
    """
    s2 = s * s
    proj = _proj(kind, shortcut, cin, c, s, first)
    if kind == "res_k1kxk1":
        params = cin * b + b * b * k * k + b * c + 4 * b + 2 * c
        macs = ri * ri * cin * b + ro * ro * (b * b * k * k + b * c)
        acts = ri * ri * b + ro * ro * (b + c)
        rate = cin * b + 2 * b + (b * b * k * k + 2 * b + b * c + 2 * c) / s2 + b + (b + c) / s2
    elif kind == "res_kxkx":
        params = cin * b * k * k + b * c * k * k + 2 * b + 2 * c
        macs = ro * ro * (cin * b * k * k + b * c * k * k)
        acts = ro * ro * (b + c)
        rate = (cin * b * k * k + 2 * b + b * c * k * k + 2 * c + b + c) / s2
    else:
        params = cin * b + b * k * k + b * c + 4 * b + 2 * c
        macs = ri * ri * cin * b + ro * ro * (b * k * k + b * c)
        acts = ri * ri * b + ro * ro * (b + c)
        rate = cin * b + 2 * b + (b * k * k + 2 * b + b * c + 2 * c) / s2 + b + (b + c) / s2
        if kind == "res_k1dwsek1":
            se = se_of(b) if se is None else se
            params = params + 2 * b * se + 2 * se + 2 * b
            macs = macs + 2 * b * se
            acts = acts + se + b
    if proj is not None:
        params = params + proj * (cin * c + 2 * c)
        macs = macs + proj * ro * ro * cin * c
        acts = acts + proj * ro * ro * c
        rate = rate + proj * (cin * c + 3 * c) / s2
    if pool:
        rate = rate + _pool(kind, shortcut, cin, c, s)
    return params, macs, rate, acts


def _proj(kind: str, shortcut: str, cin: Any, c: Any, s: int, first: bool) -> Any:
    """1 where the block has a 1x1 projection shortcut, else 0 (None: never)."""
    def differ() -> Any:  # the non-first blocks pass the same object twice
        return 0 if cin is c else (cin != c) * 1

    if shortcut == "torchvision":
        return 1 if s != 1 else differ()
    if kind == "res_k1kxk1":
        return 1 if first else differ()
    if kind == "res_kxkx":
        return differ()
    return None


def _pool(kind: str, shortcut: str, cin: Any, c: Any, s: int) -> Any:
    """TinyNAS FLOPs per input pixel of the 2x2 average-pool shortcut (stride-2 residuals)."""
    if s != 2 or shortcut == "torchvision":
        return 0
    if kind in ("res_k1dwk1", "res_k1dwsek1"):
        return cin * (cin == c)
    return cin


def stage_costs(kind: str, shortcut: str, cin: Any, c: Any, b: Any, depth: Any, k: Any, s: int,
                ri: int, ro: int, rf: float, se: Any = None, pool: bool = True) -> tuple[Any, Any, Any, Any]:
    """(params, torch MACs, TinyNAS FLOPs, activations) of a whole stage of ``depth`` blocks."""
    p1, m1, f1, a1 = block_costs(kind, shortcut, cin, c, b, k, s, ri, ro, True, se, pool)
    p2, m2, f2, a2 = block_costs(kind, shortcut, c, c, b, k, 1, ro, ro, False, se, pool)
    n = depth - 1
    return p1 + n * p2, m1 + n * m2, f1 * rf * rf + n * f2 * (rf / s) ** 2, a1 + n * a2


# stage costs of integer designs, remembered: local search scores neighbours that differ from the
# current design in one stage, so the other stages' costs repeat
_scalar_stage_costs = functools.lru_cache(maxsize=1 << 16)(stage_costs)


def _conv_act(cin: int, cout: int, k: int, s: int, side_in: int, rf: float) -> tuple[float, int, float, int]:
    out = conv_out_size(side_in, k, s)
    w = _conv(cin, cout, k)
    return w + 2 * cout, int(w) * out * out, (w + 3 * cout) / (s * s) * rf * rf, cout * out * out


def network_costs(space: DesignSpace, design: Design, geo: Geometry) -> Costs:
    """Integer costs of ``design``, equal to ``count_network`` in both conventions."""
    p, m, f, a = _conv_act(space.in_channels, design.stem, space.stem_kernel, space.stem_stride,
                           geo.resolution, geo.resolution)
    layers = 1
    cin = design.stem
    for j, (rng, (c, b, depth, k)) in enumerate(zip(space.stages, design.stages)):
        sp, sm, sf, sa = _scalar_stage_costs(rng.block, rng.shortcut, cin, c, b, depth, k, rng.stride,
                                             geo.stage_in[j], geo.stage_out[j], geo.stage_rf[j])
        p, m, f, a = p + sp, m + sm, f + sf, a + sa
        layers += depth * KIND_TERMS[rng.block][0]
        cin = c
    if design.final is not None:
        fp, fm, ff, fa = _conv_act(cin, design.final, 1, 1, geo.stage_out[-1], geo.final_rf)
        p, m, f, a = p + fp, m + fm, f + ff, a + fa
        layers += 1
        cin = design.final
    nc = space.num_classes
    head_p = cin * nc + nc if nc else 0
    return Costs(int(round(p + head_p)), int(round(p)), int(round(m + cin * nc)), int(round(f)),
                 int(a + nc), layers)


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
    dwse = [False] + [s.block == "res_k1dwsek1" for s in space.stages]
    if mode == "paper":
        sides, r = [], res
        for s in strides:
            r = conv_out_size(r, 3, s)
            sides.append(r)
    else:  # the stage's first block strides, then floor walk; DW-SE -> 1 (reference defect)
        sides, r = [], res
        for s, d in zip(strides, dwse):
            r = 1 if d else r // s
            sides.append(r)
    if space.final_conv is not None:
        sides.append(sides[-1])
    return sides


def _penalty_stages(space: DesignSpace, rule: str) -> tuple[int, ...]:
    return penalty_stage_indices([st.block for st in space.stages], rule)


def _unit_terms(space: DesignSpace, design: Design, config: ScoreConfig):
    """Per unit (stem, stages, final): entropy term h, sum of log layer widths, layers, channels."""
    f, a1, a2 = config.factor, config.alpha1, config.alpha2
    terms = [f * (a1 * math.log(space.in_channels) + 2 * a2 * math.log(space.stem_kernel))]
    logw = [math.log(space.in_channels * space.stem_kernel ** 2)]
    layers = [1]
    channels = [design.stem]
    cin = design.stem
    for rng, (c, b, depth, k) in zip(space.stages, design.stages):
        nl, nb, nk, _ = KIND_TERMS[rng.block]
        lc, lb, lk = math.log(c), math.log(b), math.log(k)
        terms.append(f * (a1 * (math.log(cin) + (depth - 1) * lc) + depth * (a1 * nb * lb + a2 * nk * lk)))
        logw.append(math.log(cin) + (depth - 1) * lc + depth * (nb * lb + nk * lk))
        layers.append(nl * depth)
        channels.append(c)
        cin = c
    if design.final is not None:
        terms.append(f * a1 * math.log(cin))
        logw.append(math.log(cin))
        layers.append(1)
        channels.append(design.final)
    return terms, logw, layers, channels


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
    """``Q(L) = beta exp(std of the penalised stages' depths)`` (DeepMAD §1.4 of our reference note)."""
    if not beta:
        return 0.0
    ds = [depths[i] for i in layout.penalty_stages]
    if not ds:
        return beta
    mean = sum(ds) / len(ds)
    return beta * math.exp(math.sqrt(sum((d - mean) ** 2 for d in ds) / len(ds)))
