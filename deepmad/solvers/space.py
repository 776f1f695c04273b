"""The DeepMAD design space: a fixed stage layout with per-stage ranges (no torch).

DeepMAD (Shen et al., CVPR 2023, arXiv 2303.02165) designs a CNN by choosing, for a fixed
layout of stages (block kind and stride per stage, as in the seeds of the reference's configs
``configs/classification/deepmad_*.py``), the widths ``c``, bottlenecks ``b``, kernels ``k`` and
depths ``L`` of every stage and the stem width. A :class:`DesignSpace` holds those ranges, and a
:class:`Design` is one point of it (a compact tuple the solvers can hash and mutate fast);
:func:`design_to_spec` turns it into a :class:`~deepmad.spec.NetworkSpec`.

Channels are multiples of a quantum (8 by default) rounded with :func:`smart_round`, the
reference's ``smart_round(x, 8) = max(8, round(x / 8) * 8)``; a range may add ``extra`` values
(e.g. the unmutated widths of a reference seed, which are not multiples of 8).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from deepmad.errors import DeepmadError
from deepmad.spec.blocks import BLOCK_KINDS, BlockKind, ConvBNAct, StageSpec
from deepmad.spec.network import HeadSpec, NetworkSpec

__all__ = [
    "Channels",
    "Bottleneck",
    "StageRange",
    "DesignSpace",
    "Design",
    "StageChoice",
    "smart_round",
    "design_to_spec",
    "spec_to_design",
]

def smart_round(x: float, quantum: int = 8) -> int:
    """The reference's channel rounder: ``max(q, round(x / q) * q)`` (Python's round-half-even)."""
    return max(quantum, int(round(x / float(quantum))) * quantum)


@dataclass(frozen=True)
class Channels:
    """Allowed channel counts: multiples of ``step`` in ``[lo, hi]``, plus ``extra`` values."""

    lo: int  # smallest value
    hi: int  # largest value
    step: int = 8  # channel quantum
    extra: tuple[int, ...] = ()  # additional allowed values (any integers >= 1)

    def __post_init__(self) -> None:
        if not (isinstance(self.lo, int) and isinstance(self.hi, int) and isinstance(self.step, int)):
            raise DeepmadError(f"channel range {self.lo}..{self.hi} step {self.step} must be integers")
        if self.step < 1 or self.lo < 1 or self.hi < self.lo:
            raise DeepmadError(
                f"channel range lo={self.lo}, hi={self.hi}, step={self.step} is invalid; "
                "expected 1 <= lo <= hi and step >= 1")
        if not self.values():
            raise DeepmadError(f"channel range {self.lo}..{self.hi} holds no multiple of {self.step}")

    @functools.lru_cache(maxsize=1024)  # noqa: B019 -- frozen and small; called in every local-search move
    def values(self) -> tuple[int, ...]:
        """All allowed values, sorted."""
        first = -(-self.lo // self.step) * self.step
        return tuple(sorted(set(range(first, self.hi + 1, self.step)) | set(self.extra)))

    @classmethod
    def fixed(cls, value: int) -> Channels:
        """A single allowed value."""
        return cls(value, value, step=1)


@dataclass(frozen=True)
class Bottleneck:
    """Allowed bottleneck (mid / expansion) channels of a stage, given its width ``c``.

    Absolute: multiples of ``step`` in ``[lo, hi]``. Ratio (``ratio=True``): multiples of
    ``step`` in ``[smart_round(lo * c), smart_round(hi * c)]`` -- a superset of the reference's
    ``smart_round(c * r)`` for r in the ratio list. ``extra`` values are always allowed.
    """

    lo: float  # smallest bottleneck (or ratio)
    hi: float  # largest bottleneck (or ratio)
    step: int = 8  # channel quantum
    ratio: bool = False  # lo/hi are ratios b/c
    extra: tuple[int, ...] = ()  # additional allowed values

    def __post_init__(self) -> None:
        if self.step < 1 or self.lo <= 0 or self.hi < self.lo:
            raise DeepmadError(
                f"bottleneck range lo={self.lo}, hi={self.hi}, step={self.step} is invalid; "
                "expected 0 < lo <= hi and step >= 1")

    def bounds(self, width: int) -> tuple[int, int]:
        """Integer ``[lo, hi]`` for stage width ``width`` (before the b <= c rule)."""
        if self.ratio:  # widened by 1e-9 so that rounding ties of the reference's float ratios stay inside
            return (smart_round(self.lo * width * (1 - 1e-9), self.step),
                    smart_round(self.hi * width * (1 + 1e-9), self.step))
        return math.ceil(self.lo), math.floor(self.hi)

    @functools.lru_cache(maxsize=65536)  # noqa: B019 -- frozen and small; called in every local-search move
    def values(self, width: int, cap: int | None = None) -> tuple[int, ...]:
        """Allowed values for width ``width``, optionally capped at ``cap`` (b <= c)."""
        lo, hi = self.bounds(width)
        if cap is not None:
            hi = min(hi, cap)
        first = -(-lo // self.step) * self.step
        vals = set(range(first, hi + 1, self.step)) | {e for e in self.extra if cap is None or e <= cap}
        return tuple(sorted(v for v in vals if v >= 1))


@dataclass(frozen=True)
class StageRange:
    """Ranges of one stage; block kind, stride and shortcut rule are fixed (the layout)."""

    block: str  # block kind (deepmad.spec.BLOCK_KINDS)
    stride: int  # stride of the first block
    width: Channels  # out channels c
    bottleneck: Bottleneck  # b
    kernels: tuple[int, ...] = (3, 5)  # kernel set K
    depth: tuple[int, int] = (1, 16)  # [L_min, L_max]
    shortcut: Literal["tinynas", "torchvision"] = "tinynas"
    kind: BlockKind = field(init=False, repr=False, compare=False)  # BLOCK_KINDS[block]

    def __post_init__(self) -> None:
        if self.block not in BLOCK_KINDS or not BLOCK_KINDS[self.block].designable:
            allowed = ", ".join(k for k, v in BLOCK_KINDS.items() if v.designable)
            raise DeepmadError(f"block kind {self.block!r} is not designable; allowed: {allowed}")
        if self.stride not in (1, 2):
            raise DeepmadError(f"stage stride={self.stride} is invalid; allowed: 1 or 2")
        if not self.kernels or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise DeepmadError(f"kernels={self.kernels} is invalid; expected odd sizes like (3, 5, 7)")
        object.__setattr__(self, "kernels", tuple(sorted(set(self.kernels))))
        lo, hi = self.depth
        if not (1 <= lo <= hi):
            raise DeepmadError(f"depth range {self.depth} is invalid; expected 1 <= min <= max")
        object.__setattr__(self, "depth", (int(lo), int(hi)))
        object.__setattr__(self, "kind", BLOCK_KINDS[self.block])


@dataclass(frozen=True)
class DesignSpace:
    """A fixed stage layout with per-stage ranges, a stem range and the input resolution(s)."""

    stem: Channels  # stem width c_0
    stages: tuple[StageRange, ...]  # the body
    final_conv: Channels | None = None  # width of a final 1x1 conv (mobile nets); None: none
    resolutions: tuple[int, ...] = (224,)  # allowed input sides
    stem_kernel: int = 3
    stem_stride: int = 2
    in_channels: int = 3
    num_classes: int = 1000
    nondecreasing: bool = True  # c_0 <= c_1 <= ... <= c_J (paper guideline 3)
    bottleneck_le_width: bool = True  # b <= c (K1KXK1 / KXKX stages only)
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "resolutions", tuple(sorted(set(self.resolutions))))
        if not self.stages:
            raise DeepmadError("a design space needs at least one stage")
        if not self.resolutions or min(self.resolutions) < 8:
            raise DeepmadError(f"resolutions={self.resolutions} is invalid; expected sides >= 8")

    def caps_bottleneck(self, index: int) -> bool:
        """Whether ``b <= c`` applies to stage ``index``."""
        return self.bottleneck_le_width and not self.stages[index].kind.depthwise

    def bottleneck_values(self, index: int, width: int) -> tuple[int, ...]:
        """Allowed bottlenecks of stage ``index`` at width ``width``."""
        cap = width if self.caps_bottleneck(index) else None
        return self.stages[index].bottleneck.values(width, cap)

    def contains(self, design: Design) -> str | None:
        """None if ``design`` lies in the space, else a one-line reason."""
        if design.resolution not in self.resolutions:
            return f"resolution {design.resolution} not in {self.resolutions}"
        if design.stem not in self.stem.values():
            return f"stem width {design.stem} not allowed"
        if len(design.stages) != len(self.stages):
            return f"{len(design.stages)} stages, space has {len(self.stages)}"
        prev = design.stem
        for i, (rng, (c, b, depth, k)) in enumerate(zip(self.stages, design.stages)):
            if c not in rng.width.values():
                return f"stage {i + 1} width {c} not allowed"
            if b not in self.bottleneck_values(i, c):
                return f"stage {i + 1} bottleneck {b} not allowed at width {c}"
            if not rng.depth[0] <= depth <= rng.depth[1]:
                return f"stage {i + 1} depth {depth} outside {rng.depth}"
            if k not in rng.kernels:
                return f"stage {i + 1} kernel {k} not in {rng.kernels}"
            if self.nondecreasing and c < prev:
                return f"stage {i + 1} width {c} < previous width {prev} (non-decreasing widths)"
            prev = c
        if (self.final_conv is None) != (design.final is None):
            return "final conv presence does not match the space"
        if self.final_conv is not None and design.final not in self.final_conv.values():
            return f"final conv width {design.final} not allowed"
        return None


class StageChoice(NamedTuple):
    """One stage of a :class:`Design` (a tuple: hashable and cheap in the solvers' hot loops)."""

    width: int  # c
    bottleneck: int  # b
    depth: int  # L
    kernel: int  # k


@dataclass(frozen=True, order=True)
class Design:
    """One point of a :class:`DesignSpace` (hashable, ordered for deterministic ties)."""

    resolution: int
    stem: int  # c_0
    stages: tuple[StageChoice, ...]  # (c, b, L, k) per stage
    final: int | None = field(default=None)  # final conv width

    def __post_init__(self) -> None:
        for st in self.stages:  # stages given as plain (c, b, L, k) tuples become StageChoice
            if type(st) is not StageChoice:
                object.__setattr__(self, "stages", tuple(StageChoice(*s) for s in self.stages))
                return


def design_to_spec(space: DesignSpace, design: Design, name: str = "") -> NetworkSpec:
    """The :class:`NetworkSpec` of ``design`` in ``space``'s layout."""
    stages = tuple(
        StageSpec(block=rng.block, out_channels=c, bottleneck_channels=b, depth=depth,
                  stride=rng.stride, kernel_size=k, shortcut=rng.shortcut)
        for rng, (c, b, depth, k) in zip(space.stages, design.stages))
    final = None if design.final is None else ConvBNAct(out_channels=design.final, kernel_size=1)
    return NetworkSpec(
        stem=ConvBNAct(out_channels=design.stem, kernel_size=space.stem_kernel, stride=space.stem_stride),
        stages=stages, final_conv=final, head=HeadSpec(num_classes=space.num_classes),
        resolution=design.resolution, in_channels=space.in_channels, name=name)


def spec_to_design(spec: NetworkSpec) -> Design:
    """The compact :class:`Design` of a spec (layout facts are dropped)."""
    return Design(
        resolution=spec.resolution, stem=spec.stem.out_channels,
        stages=tuple((s.out_channels, s.bottleneck_channels, s.depth, s.kernel_size) for s in spec.stages),
        final=None if spec.final_conv is None else spec.final_conv.out_channels)
