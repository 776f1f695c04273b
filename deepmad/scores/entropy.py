"""DeepMAD's closed-form expressiveness (multi-scale entropy), effectiveness rho and depth penalty.

Paper: Shen et al., "DeepMAD: Mathematical Architecture Design for Deep Convolutional Neural
Network", CVPR 2023, arXiv 2303.02165. Reference implementation: alibaba/lightweight-neural-
architecture-search (TinyNAS) @ 8ccaf88, ``tinynas/scores/compute_deepmad.py``,
``tinynas/models/cnnnet.py`` (``get_stage_info``, ``get_efficient_score``) and
``tinynas/strategy/strategy.py`` (depth penalty).

Every conv layer ``l`` has a width ``w_l = c_in * k^2 / g``. A network is a list of units
(the stem, every block of every stage, the final conv); unit ``b`` contributes

    h_b = f * sum_l (alpha1 * ln(c_in,l / g_l) + 2 * alpha2 * ln k_l)        (paper Eq. for H_F)

where ``f = 0.5`` in the reference (the log of the standard-deviation gain, issue #34) and
``f = 1`` in the paper. Score stages are delimited as in ``get_stage_info``: a new stage starts
before every top-level unit (stem, stage, final conv) with stride 2, except the stem. For each
stage ``s`` (prefix sums from the network input):

    S_s   = sum of h_b over all units up to the end of stage s
    H_s   = (ln C_s + ln r_s^2) * S_s                  C_s channels, r_s side at the stage end
    score = sum_s alpha_s * H_s                         alpha = (1, 1, 1, 1, 8) by default
    rho_s = D_s / exp(sum_{l <= s} ln w_l / D_s)       D_s = counted conv layers up to s
    rho   = max_s rho_s                                 (DeepMAD effectiveness, Sec. 3.3)
    Q     = beta * exp(std(L))                          depth-uniformity penalty, beta = 10
    objective = score - Q

Modes (``ScoreConfig.mode``, always explicit):

* ``"reference"`` -- TinyNAS exactly: ``f = 0.5``; sides walked with floor division; the side is
  1 after any DW-SE block (``SE.get_output_resolution`` returns 1, a reference defect); the
  L-list rule of ``strategy.py`` for the penalty (drop the first stage depth twice when stage 1
  is a K1KXK1 block, once more for KXKX, keep all for depthwise stages).
* ``"paper"`` -- true feature-map sides everywhere, ``f = 1`` by default (``half=True`` restores
  0.5), penalty over every stage depth except the first (the reference's stated intent: the first
  stage is capped at L <= 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from deepmad.errors import DeepmadError
from deepmad.spec.blocks import BLOCK_KINDS, ConvBNAct, StageSpec
from deepmad.spec.network import NetworkSpec, conv_out_size

__all__ = [
    "MODES",
    "PENALTY_RULES",
    "ScoreConfig",
    "ScoreReport",
    "StageInfo",
    "Unit",
    "register_block_layers",
    "network_units",
    "stage_info",
    "multi_scale_entropy",
    "effectiveness",
    "feature_sides",
    "population_std",
    "penalty_depths",
    "penalty_stage_indices",
    "depth_penalty",
    "score_spec",
]

MODES = ("paper", "reference")
PENALTY_RULES = ("reference", "skip_first", "all")
Layer = tuple[int, int, int]  # (c_in, k, groups) of one counted conv layer


@dataclass(frozen=True)
class ScoreConfig:
    """Objective settings. ``mode`` has no default on purpose (reference note, item 3)."""

    mode: Literal["paper", "reference"]
    stage_weights: tuple[float, ...] | None = None  # alpha_s; None -> (1, ..., 1, 8)
    half: bool | None = None  # the 0.5 (sqrt) factor f; None -> True (reference), False (paper)
    alpha1: float = 1.0  # exponent on channels
    alpha2: float = 1.0  # exponent on kernel size
    depth_penalty: float = 10.0  # beta
    penalty_rule: Literal["reference", "skip_first", "all"] | None = None  # None -> mode's rule
    resolution: int | None = None  # score resolution; None -> spec.resolution (see §9.1)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DeepmadError(f"mode={self.mode!r} is invalid; allowed: {', '.join(MODES)}")
        if self.penalty_rule is not None and self.penalty_rule not in PENALTY_RULES:
            raise DeepmadError(
                f"penalty_rule={self.penalty_rule!r} is invalid; allowed: {', '.join(PENALTY_RULES)}")
        if self.stage_weights is not None:
            object.__setattr__(self, "stage_weights", tuple(float(w) for w in self.stage_weights))
        if self.depth_penalty < 0:
            raise DeepmadError(f"depth_penalty={self.depth_penalty} is invalid; expected >= 0")

    @property
    def factor(self) -> float:
        """The factor f on the sum of log widths (0.5 or 1)."""
        half = (self.mode == "reference") if self.half is None else self.half
        return 0.5 if half else 1.0

    @property
    def rule(self) -> str:
        """The penalty L-list rule in effect."""
        if self.penalty_rule is not None:
            return self.penalty_rule
        return "reference" if self.mode == "reference" else "skip_first"

    def weights(self, num_stages: int) -> tuple[float, ...]:
        """Stage weights for ``num_stages`` score stages; an explicit tuple must match."""
        if self.stage_weights is None:
            return (1.0,) * (num_stages - 1) + (8.0,)
        if len(self.stage_weights) != num_stages:
            raise DeepmadError(
                f"stage_weights has {len(self.stage_weights)} entries but the network has "
                f"{num_stages} score stages; give exactly {num_stages} weights")
        return self.stage_weights


def as_config(mode: str | ScoreConfig, **overrides: Any) -> ScoreConfig:
    """A :class:`ScoreConfig` from a mode name or a config, with field overrides."""
    if isinstance(mode, ScoreConfig):
        return replace(mode, **overrides) if overrides else mode
    return ScoreConfig(mode=mode, **overrides)  # type: ignore[arg-type]


# --- units: per top-level block, its counted conv layers ---------------------------------
def _k1kxk1_layers(st: StageSpec, cin: int) -> list[Layer]:
    b = st.bottleneck_channels
    return [(cin, 1, 1), (b, st.kernel_size, 1), (b, 1, 1)]


def _kxkx_layers(st: StageSpec, cin: int) -> list[Layer]:
    return [(cin, st.kernel_size, 1), (st.bottleneck_channels, st.kernel_size, 1)]


def _k1dwk1_layers(st: StageSpec, cin: int) -> list[Layer]:
    b = st.bottleneck_channels
    return [(cin, 1, 1), (b, st.kernel_size, b), (b, 1, 1)]


BLOCK_LAYERS: dict[str, Callable[[StageSpec, int], list[Layer]]] = {
    "res_k1kxk1": _k1kxk1_layers,
    "res_kxkx": _kxkx_layers,  # generic rule (the reference has no DeepMAD method for KXKX)
    "res_k1dwk1": _k1dwk1_layers,
    "res_k1dwsek1": _k1dwk1_layers,  # SE convs are not counted
}


def register_block_layers(kind: str, layers: Callable[[StageSpec, int], list[Layer]]) -> None:
    """Declare the counted conv layers ``[(c_in, k, groups), ...]`` of a new block kind.

    The entropy and rho of any block follow from its layers by the generic rule above, so a new
    kind (e.g. a Ghost block) only needs this function of ``(stage, block input channels)``.
    """
    if kind in BLOCK_LAYERS:
        raise ValueError(f"block kind {kind!r} already has a layer rule")
    BLOCK_LAYERS[kind] = layers


@dataclass(frozen=True)
class Unit:
    """One top-level unit as the score sees it: a conv, or one block of a stage."""

    stride: int  # stride of this unit
    out_channels: int  # C after the unit
    layers: tuple[Layer, ...]  # counted conv layers
    dwse: bool  # a DW-SE block (reference side defect)
    top: int  # index of the top-level block (0 = stem, 1.. stages, last = final conv)


def _stem_layers(spec: NetworkSpec) -> tuple[Layer, ...]:
    stem = spec.stem
    g = stem.groups if isinstance(stem, ConvBNAct) else 1
    return ((spec.in_channels, stem.kernel_size, g),)


def network_units(spec: NetworkSpec) -> list[Unit]:
    """Units in network order: stem, every block of every stage, final conv."""
    units = [Unit(spec.stem.stride, spec.stem.out_channels, _stem_layers(spec), False, 0)]
    for i, st in enumerate(spec.stages):
        rule = BLOCK_LAYERS.get(st.block)
        if rule is None:
            raise DeepmadError(
                f"block kind {st.block!r} has no entropy rule; allowed: {', '.join(sorted(BLOCK_LAYERS))} "
                "(add one with deepmad.scores.entropy.register_block_layers)")
        for j in range(st.depth):
            cin = spec.stage_in_channels(i) if j == 0 else st.out_channels
            units.append(Unit(st.stride if j == 0 else 1, st.out_channels, tuple(rule(st, cin)),
                              st.kind.se, i + 1))
    if spec.final_conv is not None:
        fc = spec.final_conv
        cin = spec.stage_in_channels(len(spec.stages))
        units.append(Unit(fc.stride, fc.out_channels, ((cin, fc.kernel_size, fc.groups),), False,
                          len(spec.stages) + 1))
    return units


def feature_sides(strides: Sequence[int], se_units: Sequence[bool], resolution: int, mode: str) -> list[int]:
    """Spatial side after every unit, given each unit's stride (and whether it is a DW-SE block).

    ``paper``: true sides ``(r - 1) // s + 1`` (odd kernels padded by ``k // 2``; a ResNet stem is
    one unit of stride 4, ``ceil(ceil(r/2)/2) = ceil(r/4)``). ``reference``: TinyNAS's walk
    ``r // s``, and 1 after any DW-SE block (``SE.get_output_resolution``, a reference defect).
    """
    sides: list[int] = []
    r = resolution
    for s, se in zip(strides, se_units):
        if mode == "paper":
            r = conv_out_size(r, 3, s)
        else:
            r = 1 if se else r // s
        sides.append(r)
    return sides


def _unit_sides(units: Sequence[Unit], resolution: int, mode: str) -> list[int]:
    """Spatial side after every unit (true sizes in paper mode; TinyNAS walk in reference)."""
    return feature_sides([u.stride for u in units], [u.dwse for u in units], resolution, mode)


@dataclass(frozen=True)
class StageInfo:
    """Stage bookkeeping of ``get_stage_info``: cumulative from the network input."""

    unit_count: tuple[int, ...]  # cum. number of h_b terms at each stage end
    layer_count: tuple[int, ...]  # cum. counted conv layers D_s
    channels: tuple[int, ...]  # C_s
    sides: tuple[int, ...]  # r_s


def stage_info(spec: NetworkSpec, config: ScoreConfig, units: Sequence[Unit] | None = None) -> StageInfo:
    """Stage boundaries (before every stride-2 top-level unit except the stem) and prefixes."""
    units = network_units(spec) if units is None else units
    res = config.resolution or spec.resolution
    sides = _unit_sides(units, res, config.mode)
    ends = [i - 1 for i, u in enumerate(units)
            if i > 0 and u.stride == 2 and units[i - 1].top != u.top]
    ends.append(len(units) - 1)
    layers = [len(u.layers) for u in units]
    return StageInfo(
        unit_count=tuple(e + 1 for e in ends),
        layer_count=tuple(sum(layers[: e + 1]) for e in ends),
        channels=tuple(units[e].out_channels for e in ends),
        sides=tuple(sides[e] for e in ends),
    )


def block_terms(units: Sequence[Unit], config: ScoreConfig) -> tuple[float, ...]:
    """h_b per unit: ``f * sum_l (alpha1 ln(c_in/g) + 2 alpha2 ln k)`` (DeepMAD Sec. 3.2)."""
    f, a1, a2 = config.factor, config.alpha1, config.alpha2
    return tuple(f * sum(a1 * math.log(c / g) + 2 * a2 * math.log(k) for c, k, g in u.layers)
                 for u in units)


def multi_scale_entropy(terms: Sequence[float], info: StageInfo,
                        weights: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Prefix sums S_s and weighted stage terms ``alpha_s (ln C_s + ln r_s^2) S_s``."""
    prefix = [0.0]
    for t in terms:
        prefix.append(prefix[-1] + t)
    sums = tuple(prefix[n] for n in info.unit_count)
    stage = tuple(
        0.0 if w == 0 else w * (math.log(c) + math.log(r * r)) * s
        for w, c, r, s in zip(weights, info.channels, info.sides, sums))
    return sums, stage


def effectiveness(units: Sequence[Unit], info: StageInfo) -> tuple[float, ...]:
    """rho_s = D_s / geometric mean of the layer widths c_in k^2 / g up to stage s (Sec. 3.3)."""
    logw = [sum(math.log(c * k * k / g) for c, k, g in u.layers) for u in units]
    prefix = [0.0]
    for v in logw:
        prefix.append(prefix[-1] + v)
    return tuple(math.exp(math.log(d) - prefix[n] / d)
                 for n, d in zip(info.unit_count, info.layer_count))


def penalty_stage_indices(blocks: Sequence[str], rule: str) -> tuple[int, ...]:
    """Indices of the stages whose depths the penalty sees, given each stage's block kind.

    ``reference`` (``strategy.py``): all stages; if stage 1 is K1KXK1 drop the first, and
    if stage 1 is K1KXK1 or KXKX drop the first again. ``skip_first``: all but stage 1.
    ``all``: every stage.
    """
    idx = list(range(len(blocks)))
    if rule == "all":
        return tuple(idx)
    if rule == "skip_first":
        return tuple(idx[1:])
    skip = BLOCK_KINDS[blocks[0]].penalty_skip if blocks else 0
    return tuple(idx[skip:])


def penalty_depths(spec: NetworkSpec, rule: str) -> tuple[int, ...]:
    """The stage depths the penalty sees (rule: see :func:`penalty_stage_indices`)."""
    return tuple(spec.depths[i] for i in penalty_stage_indices([st.block for st in spec.stages], rule))


def depth_penalty(depths: Sequence[int], beta: float) -> float:
    """Q = beta * exp(population std of ``depths``); an empty list counts as std 0."""
    if not depths:
        return beta
    return beta * math.exp(population_std(depths))


def population_std(xs: Sequence[Any], sqrt: Callable[[Any], Any] = math.sqrt, eps: float = 0.0) -> Any:
    """``sqrt(sum (x - mean)^2 / n + eps)``: numbers, or solver expressions with their ``sqrt``."""
    n = len(xs)
    mean = sum(xs) / n
    return sqrt(sum((x - mean) ** 2 for x in xs) / n + eps)


@dataclass(frozen=True)
class ScoreReport:
    """Everything the score computes for one spec."""

    config: ScoreConfig
    objective: float  # entropy - penalty (the reference's fitness)
    entropy: float  # sum_s alpha_s H_s
    penalty: float  # beta * exp(std(L))
    rho: float  # max_s rho_s
    stage_terms: tuple[float, ...]  # alpha_s H_s
    stage_sums: tuple[float, ...]  # S_s
    stage_rho: tuple[float, ...]  # rho_s
    block_terms: tuple[float, ...]  # h_b per unit
    info: StageInfo = field(repr=False)
    depths: tuple[int, ...] = ()  # depths the penalty used

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "mode": self.config.mode, "objective": self.objective, "entropy": self.entropy,
            "penalty": self.penalty, "rho": self.rho, "stage_terms": list(self.stage_terms),
            "stage_sums": list(self.stage_sums), "stage_rho": list(self.stage_rho),
            "stage_channels": list(self.info.channels), "stage_sides": list(self.info.sides),
            "stage_units": list(self.info.unit_count), "stage_layers": list(self.info.layer_count),
            "penalty_depths": list(self.depths),
        }


def score_spec(spec: NetworkSpec, mode: str | ScoreConfig, **overrides: Any) -> ScoreReport:
    """Score ``spec`` with DeepMAD's objective.

    Args:
        spec: The network.
        mode: ``"paper"`` or ``"reference"`` (or a full :class:`ScoreConfig`).
        **overrides: :class:`ScoreConfig` fields, e.g. ``stage_weights``, ``half``, ``resolution``.

    Returns:
        A :class:`ScoreReport`; ``objective = entropy - penalty``.

    Raises:
        DeepmadError: a block kind without an entropy rule, or stage weights of the wrong length.
    """
    config = as_config(mode, **overrides)
    units = network_units(spec)
    info = stage_info(spec, config, units)
    terms = block_terms(units, config)
    sums, stage = multi_scale_entropy(terms, info, config.weights(len(info.unit_count)))
    rhos = effectiveness(units, info)
    depths = penalty_depths(spec, config.rule)
    pen = depth_penalty(depths, config.depth_penalty) if config.depth_penalty else 0.0
    entropy = sum(stage)
    return ScoreReport(config, entropy - pen, entropy, pen, max(rhos), stage, sums, rhos, terms,
                       info, depths)
