"""Conv -> BatchNorm -> activation, the unit every block is made of."""

from __future__ import annotations

import torch
from torch import nn

from deepmad.errors import SpecError
from deepmad.layers.create import create_conv

__all__ = ["get_act_layer", "ConvBN", "ConvBNActLayer"]


def get_act_layer(name: str) -> nn.Module:
    """Activation module by name: relu, silu, hswish or none (identity)."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "silu":
        return nn.SiLU(inplace=True)
    if name == "hswish":
        return nn.Hardswish(inplace=True)
    if name == "none":
        return nn.Identity()
    raise SpecError(f"activation {name!r} is not supported; allowed: relu, silu, hswish, none")


class ConvBN(nn.Sequential):
    """Bias-free conv followed by BatchNorm (TinyNAS ``ConvKXBN``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, conv_type: str = "plain") -> None:
        super().__init__()
        self.conv = create_conv(in_channels, out_channels, kernel_size, stride, groups, conv_type)
        self.bn = nn.BatchNorm2d(out_channels)


class ConvBNActLayer(nn.Module):
    """Conv -> BN -> activation (TinyNAS ``ConvKXBNRELU``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, act: str = "relu", conv_type: str = "plain") -> None:
        super().__init__()
        self.conv = create_conv(in_channels, out_channels, kernel_size, stride, groups, conv_type)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = get_act_layer(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))
