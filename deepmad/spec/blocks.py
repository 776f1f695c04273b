"""Frozen, typed block and stage specs (pure data, no torch).

A network is a stem, a tuple of stages and an optional final conv (see
:mod:`deepmad.spec.network`). Every stage repeats one block kind ``depth`` times; the first
block carries the stride and the channel change, the others map ``out_channels`` to itself,
exactly as TinyNAS's ``BaseSuperBlock`` does (reference: alibaba/lightweight-neural-architecture-search,
``tinynas/models/blocks_cnn_2d/blocks_basic.py``).

Block kinds (``StageSpec.block``):

* ``res_k1kxk1``  -- ResNet bottleneck: 1x1 c_in->b, kxk b->b (stride), 1x1 b->c, add, act.
* ``res_kxkx``    -- basic block: kxk c_in->b (stride), kxk b->c, add, act.
* ``res_k1dwk1``  -- inverted bottleneck: 1x1 c_in->b, depthwise kxk (stride), 1x1 b->c.
* ``res_k1dwsek1``-- as ``res_k1dwk1`` with squeeze-excitation on the depthwise output (SiLU).

Shortcut rules (``StageSpec.shortcut``):

* ``"tinynas"``: residual blocks downsample the shortcut with a 2x2 average pool when the stride
  is 2; K1KXK1 and KXKX project with a 1x1 conv+BN when c_in != c_out, and K1KXK1 always projects
  on a stage's first block (``force_resproj``). The depthwise kinds have a shortcut only when
  c_in == c_out (no projection at all).
* ``"torchvision"``: a 1x1 conv (with the stride) + BN projection when stride != 1 or
  c_in != c_out, identity otherwise, as ``torchvision.models.resnet``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from deepmad.errors import SpecError

__all__ = [
    "ACTIVATIONS",
    "BLOCK_KINDS",
    "CONV_TYPES",
    "SHORTCUTS",
    "BlockKind",
    "ConvBNAct",
    "IC_HIDDEN_RATIO",
    "ResNetStem",
    "StageSpec",
    "ic_hidden_channels",
    "register_block_kind",
    "se_channels",
]

ACTIVATIONS = ("relu", "silu", "hswish", "none")
CONV_TYPES = ("plain", "ic")
SHORTCUTS = ("tinynas", "torchvision")

Activation = Literal["relu", "silu", "hswish", "none"]


@dataclass(frozen=True)
class BlockKind:
    """Static facts about a block kind, shared by the cost model, scores and builder."""

    name: str  # registry key, e.g. "res_k1kxk1"
    tinynas_class: str | None  # TinyNAS super-block class name, None if TinyNAS has none
    default_act: Activation  # activation used when StageSpec.act is None
    layers_per_block: int  # conv layers per block as TinyNAS counts them (get_layers)
    depthwise: bool = False  # True when the kxk conv is depthwise (groups = b)
    stage_options: tuple[str, ...] = ()  # optional StageSpec fields this kind reads (see StageSpec)
    se: bool = False  # squeeze-excitation on the bottleneck (TinyNAS: the score side walk ends at 1)
    # (n_b, n_k) of the DeepMAD block term h_b = f (a1 ln c_in + a1 n_b ln b + a2 n_k ln k) (one
    # block; DeepMAD Sec. 3.2 summed over its counted layers). None: no closed-form solver terms,
    # so the design solvers do not offer the kind (deepmad.solvers.terms writes the costs).
    entropy_exponents: tuple[int, int] | None = None
    # the first-block shortcut projection under the "tinynas" rule: "first" (always on a stage's
    # first block, and when c_in != c), "change" (when c_in != c), "none" (identity when
    # c_in == c, no shortcut otherwise)
    projection: Literal["first", "change", "none"] = "none"
    # leading stages the reference's depth-penalty rule drops when this kind is stage 1
    # (TinyNAS strategy.py: twice for K1KXK1, once for KXKX)
    penalty_skip: int = 0

    @property
    def designable(self) -> bool:
        """Whether the DeepMAD solvers can design stages of this kind."""
        return self.entropy_exponents is not None


BLOCK_KINDS: dict[str, BlockKind] = {}


def register_block_kind(kind: BlockKind) -> BlockKind:
    """Add a block kind to the registry; registering a name twice is an error."""
    if kind.name in BLOCK_KINDS:
        raise ValueError(f"block kind {kind.name!r} is already registered")
    BLOCK_KINDS[kind.name] = kind
    return kind


register_block_kind(BlockKind("res_k1kxk1", "SuperResK1KXK1", "relu", 3, entropy_exponents=(2, 2),
                              projection="first", penalty_skip=2))
register_block_kind(BlockKind("res_kxkx", "SuperResKXKX", "relu", 2, entropy_exponents=(1, 4),
                              projection="change", penalty_skip=1))
register_block_kind(BlockKind("res_k1dwk1", "SuperResK1DWK1", "relu", 3, depthwise=True,
                              entropy_exponents=(1, 2)))
register_block_kind(BlockKind("res_k1dwsek1", "SuperResK1DWSEK1", "silu", 3, depthwise=True, se=True,
                              entropy_exponents=(1, 2)))


IC_HIDDEN_RATIO = 0.125  # m / c_out: width of an IC conv's branch relative to the conv's output


def ic_hidden_channels(out_channels: int, groups: int = 1, ratio: float = IC_HIDDEN_RATIO) -> int:
    """Hidden width ``m = g * max(1, round(ratio * c_out / g))`` of the IC branch (``conv="ic"``).

    A multiple of ``groups`` so that the branch keeps the conv's grouping; a depthwise conv
    (``g = c_out``) gets ``m = c_out``. Shared by the cost model and the builder
    (:mod:`deepmad.cost.ic`, :mod:`deepmad.layers.ic_conv`).
    """
    if ratio <= 0:
        raise SpecError(f"IC hidden_ratio={ratio!r} is invalid; expected a number > 0")
    if groups <= 0 or out_channels % groups:
        raise SpecError(f"IC groups={groups!r} must divide out_channels={out_channels!r}")
    return groups * max(1, int(ratio * out_channels / groups + 0.5))


def se_channels(bottleneck_channels: int, ratio: float = 0.25) -> int:
    """SE reduction width as TinyNAS computes it: ``max(1, round(ratio * b) // 8) * 8``."""
    return max(1, round(bottleneck_channels * ratio) // 8) * 8


def _check_positive_int(owner: str, name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise SpecError(f"{owner}.{name}={value!r} is invalid; expected a positive integer")


def _check_stride(owner: str, value: int) -> None:
    if value not in (1, 2):
        raise SpecError(f"{owner}.stride={value!r} is invalid; allowed: 1 or 2")


def _check_kernel(owner: str, value: int) -> None:
    _check_positive_int(owner, "kernel_size", value)
    if value % 2 == 0:
        raise SpecError(f"{owner}.kernel_size={value} is invalid; expected an odd kernel (1, 3, 5, 7, ...)")


def _check_choice(owner: str, name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(f"{owner}.{name}={value!r} is invalid; allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class ConvBNAct:
    """k x k conv (no bias) -> BN -> activation: stems and the mobile nets' final 1x1 conv."""

    type: ClassVar[str] = "conv_bn_act"
    out_channels: int  # c_out
    kernel_size: int = 3  # k
    stride: int = 1  # s
    groups: int = 1  # g (must divide c_in and c_out)
    act: Activation = "relu"
    conv: Literal["plain", "ic"] = "plain"  # conv implementation (IC networks)

    def __post_init__(self) -> None:
        owner = "ConvBNAct"
        _check_positive_int(owner, "out_channels", self.out_channels)
        _check_kernel(owner, self.kernel_size)
        _check_stride(owner, self.stride)
        _check_positive_int(owner, "groups", self.groups)
        if self.out_channels % self.groups:
            raise SpecError(
                f"ConvBNAct.groups={self.groups} does not divide out_channels={self.out_channels}"
            )
        _check_choice(owner, "act", self.act, ACTIVATIONS)
        _check_choice(owner, "conv", self.conv, CONV_TYPES)


@dataclass(frozen=True)
class ResNetStem:
    """torchvision ResNet stem: 7x7 stride-2 conv -> BN -> ReLU -> 3x3 stride-2 max-pool."""

    type: ClassVar[str] = "resnet_stem"
    out_channels: int = 64  # c_out
    kernel_size: int = 7  # k of the conv
    stride: int = field(default=4, init=False)  # total stride (conv 2 x pool 2)

    def __post_init__(self) -> None:
        _check_positive_int("ResNetStem", "out_channels", self.out_channels)
        _check_kernel("ResNetStem", self.kernel_size)


@dataclass(frozen=True)
class StageSpec:
    """``depth`` blocks of one kind; the first carries the stride and the channel change."""

    block: str  # block kind, a key of BLOCK_KINDS
    out_channels: int  # c: output channels of every block of the stage
    bottleneck_channels: int  # b: bottleneck / expansion / mid channels
    depth: int  # L: number of blocks
    stride: int = 1  # s: stride of the first block
    kernel_size: int = 3  # k: kernel of the kxk (or depthwise) conv
    shortcut: Literal["tinynas", "torchvision"] = "tinynas"  # shortcut rules, see module doc
    act: Activation | None = None  # None -> the block kind's default
    conv: Literal["plain", "ic"] = "plain"  # kxk conv implementation (IC networks)
    # Optional per-stage fields, read only by the kinds whose BlockKind.stage_options name them
    # (None everywhere else; deepmad/spec/ghost.py documents the Ghost bottleneck's use).
    first_bottleneck_channels: int | None = None  # b_1: hidden width of the first block; None -> b
    se_ratio: float | None = None  # SE reduction ratio; None -> no SE

    def __post_init__(self) -> None:
        owner = "StageSpec"
        if self.block not in BLOCK_KINDS:
            raise SpecError(
                f"StageSpec.block={self.block!r} is not a known block kind; allowed: "
                + ", ".join(sorted(BLOCK_KINDS))
            )
        _check_positive_int(owner, "out_channels", self.out_channels)
        _check_positive_int(owner, "bottleneck_channels", self.bottleneck_channels)
        _check_positive_int(owner, "depth", self.depth)
        _check_stride(owner, self.stride)
        _check_kernel(owner, self.kernel_size)
        _check_choice(owner, "shortcut", self.shortcut, SHORTCUTS)
        if self.act is not None:
            _check_choice(owner, "act", self.act, ACTIVATIONS)
        _check_choice(owner, "conv", self.conv, CONV_TYPES)
        self._check_stage_options()

    def _check_stage_options(self) -> None:
        """Optional fields must be None unless the block kind reads them, and valid when set."""
        for name in ("first_bottleneck_channels", "se_ratio"):
            value = getattr(self, name)
            if value is not None and name not in self.kind.stage_options:
                users = sorted(k.name for k in BLOCK_KINDS.values() if name in k.stage_options)
                raise SpecError(f"StageSpec.{name}={value!r} is not used by block {self.block!r}; "
                                f"leave it None (it applies to: {', '.join(users) or 'no kind'})")
        if self.first_bottleneck_channels is not None:
            _check_positive_int("StageSpec", "first_bottleneck_channels", self.first_bottleneck_channels)
        r = self.se_ratio
        if r is not None and (isinstance(r, bool) or not isinstance(r, int | float) or not 0 < r <= 1):
            raise SpecError(f"StageSpec.se_ratio={r!r} is invalid; expected 0 < se_ratio <= 1 or None")

    @property
    def kind(self) -> BlockKind:
        """The registered :class:`BlockKind` of this stage."""
        return BLOCK_KINDS[self.block]

    def hidden_width(self, first: bool) -> int:
        """Bottleneck width of a block: ``first_bottleneck_channels`` on the first block if set."""
        if first and self.first_bottleneck_channels is not None:
            return self.first_bottleneck_channels
        return self.bottleneck_channels

    @property
    def activation(self) -> Activation:
        """The activation in effect (the kind's default when ``act`` is None)."""
        return self.act if self.act is not None else self.kind.default_act
