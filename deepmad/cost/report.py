"""Frozen cost records: per layer, per block, per stage, and the network total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["LayerRecord", "BlockCost", "StageCost", "CostReport", "Convention", "CONVENTIONS"]

Convention = Literal["torch", "tinynas"]
CONVENTIONS: tuple[str, ...] = ("torch", "tinynas")


@dataclass(frozen=True)
class LayerRecord:
    """One conv / linear / BN layer with its true shapes and its costs (torch convention).

    ``width`` is DeepMAD's layer width ``c_in * k^2 / g`` (paper Sec. 3, Eq. for H_F); ``counted``
    marks the layers TinyNAS counts in ``get_layers`` and in rho (main-path convs and stems;
    not SE, shortcut projections, BN or the classifier).
    """

    stage: str  # "stem", "stage1".., "final_conv", "head"
    block: int  # block index within the stage (0 for stem/final/head)
    name: str  # e.g. "conv1", "conv2", "se.conv1", "shortcut", "fc"
    op: Literal["conv", "bn", "linear"]
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    groups: int
    in_size: int  # input spatial side
    out_size: int  # output spatial side
    params: int
    macs: int
    counted: bool

    @property
    def width(self) -> float:
        """DeepMAD layer width ``c_in * k^2 / g``."""
        return self.in_channels * self.kernel_size**2 / self.groups


@dataclass(frozen=True)
class BlockCost:
    """Costs of one block (or stem / final conv / head)."""

    stage: str
    index: int
    params: int
    macs: int
    activations: int
    layers: int
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int


@dataclass(frozen=True)
class StageCost:
    """Costs of one stage (sums of its blocks)."""

    name: str
    params: int
    macs: int
    activations: int
    layers: int
    depth: int
    out_channels: int
    out_size: int


@dataclass(frozen=True)
class CostReport:
    """Closed-form costs of a network in one convention.

    ``torch``: MACs of conv + linear (bias excluded), params = every parameter; equal to
    ``torch.utils.flop_counter.FlopCounterMode`` total / 2 and ``sum(p.numel())``.
    ``tinynas``: the DeepMAD reference's convention (BN 2/element, ReLU 1/element, avg-pool
    shortcut, SE MACs not counted, no classifier in params or MACs).
    ``flops`` is always ``2 * macs``. ``activations`` counts the output elements of every conv
    and linear layer for one image (the feature maps a training step stores, pycls "acts").
    """

    convention: str
    resolution: int
    params: int
    macs: int
    activations: int
    layers: int
    stages: tuple[StageCost, ...]
    blocks: tuple[BlockCost, ...]
    layer_records: tuple[LayerRecord, ...]

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs (PyTorch's flop_counter convention)."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: totals and a per-stage list."""
        return {
            "convention": self.convention,
            "resolution": self.resolution,
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "activations": self.activations,
            "layers": self.layers,
            "stages": [
                {"name": s.name, "params": s.params, "macs": s.macs, "flops": 2 * s.macs,
                 "activations": s.activations, "layers": s.layers, "depth": s.depth,
                 "out_channels": s.out_channels, "out_size": s.out_size}
                for s in self.stages
            ],
        }
