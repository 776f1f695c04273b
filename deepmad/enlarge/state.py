"""Enlarging state a = (d_1..d_S, w_1..w_S, r) and the stage-parametrised families it lives in.

Paper: Liu et al., "Greedy Network Enlarging", arXiv 2108.00177. The paper enlarges width,
depth and resolution at stage level; this module is the reconstruction of the reference note
(``greedy_enlarging.md`` B.3, step 1): a state holds per-stage depth and width plus the input
resolution, and a *family* turns a state into a full :class:`NetworkSpec`:

* :class:`GhostNetFamily` -- the S-GhostNet stage rules of :func:`deepmad.spec.ghost.s_ghostnet`
  (hidden widths, kernels, SE and head follow the stage widths);
* :class:`ScaledFamily` -- any spec of the ResNet-like / mobile kinds: each stage's bottleneck
  (and first-block bottleneck) keeps its ratio to the stage width; stem, final conv and head
  stay as in the base.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any

from deepmad.errors import DeepmadError
from deepmad.spec.ghost import (
    GHOST,
    GHOST_HEAD,
    is_s_ghostnet,
    make_divisible,
    s_ghostnet,
    s_ghostnet_layout,
)
from deepmad.spec.network import NetworkSpec

__all__ = ["EnlargeState", "StageFamily", "GhostNetFamily", "ScaledFamily", "family_for"]


@dataclass(frozen=True, order=True)
class EnlargeState:
    """Stage-level architecture: a = (d_1..d_S, w_1..w_S, r)."""

    depths: tuple[int, ...]  # d_s: blocks per stage
    widths: tuple[int, ...]  # w_s: output channels per stage
    resolution: int  # r: input side

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if len(self.depths) != len(self.widths):
            raise DeepmadError(f"state has {len(self.depths)} depths but {len(self.widths)} widths; "
                               "expected one of each per stage")

    def contains(self, other: EnlargeState) -> bool:
        """Subcomponent relation: ``d_s >= d'_s``, ``w_s >= w'_s`` for every s and ``r >= r'``."""
        return (len(self.depths) == len(other.depths)
                and all(a >= b for a, b in zip(self.depths, other.depths))
                and all(a >= b for a, b in zip(self.widths, other.widths))
                and self.resolution >= other.resolution)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"depths": list(self.depths), "widths": list(self.widths), "resolution": self.resolution}


class StageFamily(ABC):
    """A stage-parametrised network family: state <-> spec."""

    name: str = ""
    width_quantum: int = 8  # widths are rounded to multiples of this

    @abstractmethod
    def state_of(self, spec: NetworkSpec) -> EnlargeState:
        """The state of ``spec`` (which must belong to the family)."""

    @abstractmethod
    def build(self, state: EnlargeState) -> NetworkSpec:
        """The spec of ``state``."""

    def round_width(self, value: float) -> int:
        """Channel quantiser shared by greedy and compound scaling."""
        return make_divisible(value, self.width_quantum)


class GhostNetFamily(StageFamily):
    """S-GhostNet: six Ghost stages built by :func:`deepmad.spec.ghost.s_ghostnet`."""

    name = "s_ghostnet"
    width_quantum = 4

    def __init__(self, base: NetworkSpec) -> None:
        if not is_s_ghostnet(base):
            raise DeepmadError("spec is not an S-GhostNet built by deepmad.spec.ghost.s_ghostnet; "
                               "rebuild it with s_ghostnet(layers, channels, resolution)")
        self.base = base

    def state_of(self, spec: NetworkSpec) -> EnlargeState:
        layers, channels = s_ghostnet_layout(spec)
        return EnlargeState(layers, channels, spec.resolution)

    def build(self, state: EnlargeState) -> NetworkSpec:
        b = self.base
        return s_ghostnet(state.depths, state.widths, state.resolution, b.head.num_classes,
                          b.head.dropout, b.in_channels, b.name)


class ScaledFamily(StageFamily):
    """Any ResNet-like / mobile spec: bottlenecks scale with their stage width."""

    name = "scaled"

    def __init__(self, base: NetworkSpec, width_quantum: int = 8) -> None:
        kinds = {st.block for st in base.stages} & {GHOST, GHOST_HEAD}
        if kinds:
            raise DeepmadError(f"stages of kind {sorted(kinds)} are enlarged only inside an S-GhostNet "
                               "(deepmad.spec.ghost.s_ghostnet); this spec is not one")
        self.base = base
        self.width_quantum = width_quantum

    def state_of(self, spec: NetworkSpec) -> EnlargeState:
        return EnlargeState(spec.depths, spec.widths, spec.resolution)

    def _scale(self, value: int | None, factor: float) -> int | None:
        if value is None or factor == 1.0:
            return value
        return max(value, self.round_width(value * factor))

    def build(self, state: EnlargeState) -> NetworkSpec:
        if len(state.depths) != len(self.base.stages):
            raise DeepmadError(f"state has {len(state.depths)} stages; the base has {len(self.base.stages)}")
        stages = []
        for st, d, w in zip(self.base.stages, state.depths, state.widths):
            f = w / st.out_channels
            stages.append(replace(st, depth=d, out_channels=w,
                                  bottleneck_channels=self._scale(st.bottleneck_channels, f),
                                  first_bottleneck_channels=self._scale(st.first_bottleneck_channels, f)))
        return self.base.replace(stages=tuple(stages), resolution=state.resolution)


def family_for(spec: NetworkSpec, width_quantum: int | None = None) -> StageFamily:
    """The family that enlarges ``spec``: S-GhostNet rules if it is one, else :class:`ScaledFamily`."""
    if is_s_ghostnet(spec):
        family: StageFamily = GhostNetFamily(spec)
        if width_quantum is not None:
            family.width_quantum = width_quantum
        return family
    return ScaledFamily(spec, 8 if width_quantum is None else width_quantum)
