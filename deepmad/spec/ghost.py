"""GhostNet family: Ghost block kinds, the S-GhostNet stage rules and presets (pure data, no torch).

Papers: GhostNet, Han et al., "GhostNet: More Features from Cheap Operations", CVPR 2020,
arXiv 1911.11907; S-GhostNet, Liu et al., "Greedy Network Enlarging", arXiv 2108.00177.
Reference implementation: ``mindspore-ai/models``, ``research/cv/S-GhostNet/src/big_net.py``
(``GhostModule``, ``GhostBottleneck``, ``gen_cfgs_large``, ``GhostNet(large=True)``).

Block kinds registered here:

* ``ghost`` -- Ghost bottleneck. A Ghost module maps ``c_in -> m`` with a 1x1 primary conv to
  ``m/2`` channels and a 3x3 depthwise "cheap" conv on those, concatenated (ratio 2, dw 3).
  The block is ghost1 (``c_in -> b``, activation) -> depthwise kxk conv + BN when the stride is
  2 -> optional SE on ``b`` (reduce 1x1 with bias, ReLU, expand 1x1 with bias, hard-sigmoid,
  reduction width ``make_divisible(b * se_ratio, 8)``) -> ghost2 (``b -> c``, no activation),
  plus a shortcut: identity, or depthwise kxk (stride) + BN -> 1x1 + BN when ``c_in != c`` or
  the stride is 2. No activation after the add. The stage's first block uses
  ``first_bottleneck_channels`` (when set) as ``b``, the later blocks ``bottleneck_channels``.
  ``shortcut`` is not read (Ghost has one shortcut rule) and ``conv`` must be ``"plain"``.
* ``ghost_head`` -- GhostNet's head as a one-block stage: 1x1 conv + BN + ReLU ``c_in -> b``,
  global average pool, 1x1 conv with bias ``b -> c`` and the stage activation (hard-swish by
  default); the classifier of ``HeadSpec`` follows. Its output side is 1, so
  ``NetworkSpec.feature_sizes`` (which walks kernels and strides only) over-reports this last
  stage's side; :func:`deepmad.cost.count_network` reports the true side.

S-GhostNet stage rules (``gen_cfgs_large``; the reference note's table B.2): six stages of
(kernel, first-block stride) = (3,1) (3,2) (5,2) (3,2) (3,1) (5,2); hidden widths ``b_1`` (first
block) / ``b`` (later blocks) = width/width, 3 c_in/3 c, 3 c_in/3 c, 6 c_in/2.5 c, 6 c_in/6 c,
6 c_in/6 c; SE ratio 0.1 in every block; hard-swish stem (3x3, stride 2, width c_1); head
1x1 conv to the last block's hidden width, then 1x1 conv to ``max(1280, 5 c_6)``. Every width is
rounded with :func:`make_divisible` (multiples of 4). Departure: hidden widths are computed from
the *rounded* channels (the reference multiplies the raw ones; identical for multiples of 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deepmad.errors import SpecError
from deepmad.spec.blocks import BlockKind, ConvBNAct, StageSpec, register_block_kind
from deepmad.spec.network import HeadSpec, NetworkSpec
from deepmad.spec.presets import register_preset
from deepmad.spec.rounding import make_divisible

__all__ = [
    "GHOST",
    "GHOST_HEAD",
    "GHOST_STAGE_RULES",
    "GhostStageRule",
    "check_ghost_stage",
    "ghost_se_channels",
    "is_s_ghostnet",
    "make_divisible",
    "s_ghostnet",
    "s_ghostnet_layout",
]

GHOST, GHOST_HEAD = "ghost", "ghost_head"

# layers_per_block: main-path convs of a stride-1 Ghost bottleneck (2 per Ghost module; a
# stride-2 block adds its depthwise conv, which the cost records mark as counted too).
register_block_kind(BlockKind(GHOST, None, "relu", 4, depthwise=True,
                              stage_options=("first_bottleneck_channels", "se_ratio")))
register_block_kind(BlockKind(GHOST_HEAD, None, "hswish", 1))


def ghost_se_channels(hidden: int, ratio: float) -> int:
    """SE reduction width of a Ghost bottleneck: ``make_divisible(hidden * ratio, 8)``."""
    return make_divisible(hidden * ratio, 8)


def check_ghost_stage(st: StageSpec) -> None:
    """Raise :class:`SpecError` if a ``ghost``/``ghost_head`` stage breaks its kind's rules."""
    if st.conv != "plain":
        raise SpecError(f"StageSpec.conv={st.conv!r} is not available for block {st.block!r}; allowed: plain")
    if st.block == GHOST:
        widths = {"out_channels": st.out_channels, "bottleneck_channels": st.bottleneck_channels,
                  "first_bottleneck_channels": st.first_bottleneck_channels or 2}
        for name, value in widths.items():
            if value % 2:
                raise SpecError(f"StageSpec.{name}={value} is invalid for block 'ghost'; expected an even width")
    elif st.block == GHOST_HEAD and (st.depth, st.stride, st.kernel_size) != (1, 1, 1):
        raise SpecError(f"ghost_head stage has depth={st.depth}, stride={st.stride}, kernel_size="
                        f"{st.kernel_size}; expected depth 1, stride 1, kernel_size 1")


@dataclass(frozen=True)
class GhostStageRule:
    """How one S-GhostNet stage derives its block parameters from the stage widths."""

    kernel_size: int  # k of the depthwise convs
    stride: int  # stride of the first block
    first_mult: float  # b_1 = first_mult * (c_in, or c when first_from_width)
    later_mult: float  # b = later_mult * c for blocks 2..L
    first_from_width: bool = False  # stage 1: b_1 is a multiple of the stage's own width


GHOST_STAGE_RULES: tuple[GhostStageRule, ...] = (
    GhostStageRule(3, 1, 1.0, 1.0, first_from_width=True),
    GhostStageRule(3, 2, 3.0, 3.0),
    GhostStageRule(5, 2, 3.0, 3.0),
    GhostStageRule(3, 2, 6.0, 2.5),
    GhostStageRule(3, 1, 6.0, 6.0),
    GhostStageRule(5, 2, 6.0, 6.0),
)
S_GHOSTNET_SE_RATIO = 0.1


def _ghost_stage(rule: GhostStageRule, cin: int, width: int, depth: int) -> StageSpec:
    first = make_divisible(rule.first_mult * (width if rule.first_from_width else cin))
    later = make_divisible(rule.later_mult * width)
    return StageSpec(block=GHOST, out_channels=width, bottleneck_channels=later, depth=depth,
                     stride=rule.stride, kernel_size=rule.kernel_size,
                     first_bottleneck_channels=first, se_ratio=S_GHOSTNET_SE_RATIO)


def s_ghostnet(layers: Sequence[int], channels: Sequence[int], resolution: int = 224,
               num_classes: int = 1000, dropout: float = 0.0, in_channels: int = 3,
               name: str = "") -> NetworkSpec:
    """The S-GhostNet ("large") network with per-stage depths ``layers`` and widths ``channels``.

    Args:
        layers: blocks per stage ``(L_1..L_6)``, each >= 1.
        channels: output widths ``(c_1..c_6)``, rounded with :func:`make_divisible`.
        resolution: input side r.
        num_classes: classifier outputs.
        dropout: dropout before the classifier.
        in_channels: image channels.
        name: display name.

    Returns:
        The spec: hard-swish stem, six ``ghost`` stages by ``GHOST_STAGE_RULES``, a ``ghost_head``.
    """
    n = len(GHOST_STAGE_RULES)
    if len(layers) != n or len(channels) != n:
        raise SpecError(f"S-GhostNet needs {n} layers and {n} channels; got {len(layers)} and {len(channels)}")
    widths = [make_divisible(c) for c in channels]
    stages = []
    cin = widths[0]
    for rule, width, depth in zip(GHOST_STAGE_RULES, widths, layers):
        stages.append(_ghost_stage(rule, cin, width, depth))
        cin = width
    last = stages[-1]
    last_hidden = last.bottleneck_channels if last.depth > 1 else last.first_bottleneck_channels
    head = StageSpec(block=GHOST_HEAD, out_channels=max(1280, 5 * widths[-1]),
                     bottleneck_channels=last_hidden, depth=1, stride=1, kernel_size=1)
    return NetworkSpec(stem=ConvBNAct(out_channels=widths[0], kernel_size=3, stride=2, act="hswish"),
                       stages=(*stages, head), head=HeadSpec(num_classes, dropout),
                       resolution=resolution, in_channels=in_channels, name=name)


def s_ghostnet_layout(spec: NetworkSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(layers, channels)`` of an S-GhostNet spec (its six Ghost stages)."""
    body = spec.stages[:-1]
    return tuple(s.depth for s in body), tuple(s.out_channels for s in body)


def is_s_ghostnet(spec: NetworkSpec) -> bool:
    """True when ``spec`` is exactly what :func:`s_ghostnet` builds from its own layout."""
    n = len(GHOST_STAGE_RULES)
    if len(spec.stages) != n + 1 or any(s.block != GHOST for s in spec.stages[:n]):
        return False
    if spec.stages[-1].block != GHOST_HEAD:
        return False
    layers, channels = s_ghostnet_layout(spec)
    try:
        rebuilt = s_ghostnet(layers, channels, spec.resolution, spec.head.num_classes,
                             spec.head.dropout, spec.in_channels, spec.name)
    except SpecError:
        return False
    return rebuilt == spec


register_preset("ghostnet_1_0", s_ghostnet([1, 2, 2, 4, 2, 5], [16, 24, 40, 80, 112, 160], 224),
                "GhostNet-1.0x layout with S-GhostNet stage rules")
register_preset("s_ghostnet_b1", s_ghostnet([1, 2, 3, 4, 3, 6], [28, 44, 72, 140, 196, 280], 240),
                "S-GhostNet-b1")
register_preset("s_ghostnet_b4", s_ghostnet([3, 5, 5, 12, 6, 14], [36, 60, 108, 168, 232, 336], 384),
                "S-GhostNet-b4")
