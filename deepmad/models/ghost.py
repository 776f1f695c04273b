"""Torch modules of the GhostNet block kinds, registered into :data:`deepmad.models.blocks.BLOCKS`.

Papers: GhostNet (Han et al., CVPR 2020, arXiv 1911.11907) and S-GhostNet / Greedy Network
Enlarging (Liu et al., arXiv 2108.00177). Reference: ``mindspore-ai/models``
``research/cv/S-GhostNet/src/big_net.py`` (``GhostModule``, ``SeModule``, ``GhostBottleneck``
and the head of ``GhostNet``). Each class mirrors its cost twin in :mod:`deepmad.cost.ghost`
layer by layer; the structure is documented in :mod:`deepmad.spec.ghost`. Drop-path is not
built (a training option of the reference, outside the spec).
"""

from __future__ import annotations

import torch
from torch import nn

from deepmad.layers.conv_bn_act import ConvBN, ConvBNActLayer, get_act_layer
from deepmad.models.blocks import BLOCKS
from deepmad.spec.blocks import StageSpec
from deepmad.spec.ghost import GHOST, GHOST_HEAD, check_ghost_stage, ghost_se_channels

__all__ = ["GhostModule", "GhostSqueezeExcite", "GhostBottleneck", "GhostHead"]


class GhostModule(nn.Module):
    """``cat(x1, cheap(x1))`` with ``x1 = primary(x)``: 1x1 conv to c/2, then 3x3 depthwise."""

    def __init__(self, in_channels: int, out_channels: int, act: str) -> None:
        super().__init__()
        half = out_channels // 2
        self.primary = ConvBNActLayer(in_channels, half, 1, act=act)
        self.cheap = ConvBNActLayer(half, half, 3, groups=half, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary(x)  # (B, c/2, H, W)
        return torch.cat([x1, self.cheap(x1)], dim=1)  # (B, c, H, W)


class GhostSqueezeExcite(nn.Module):
    """S-GhostNet SE: pool -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) -> hard-sigmoid -> scale."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        reduced = ghost_se_channels(channels, ratio)
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * self.gate(self.conv_expand(self.act(self.conv_reduce(s))))


class GhostBottleneck(nn.Module):
    """ghost1 -> [depthwise kxk, stride 2] -> [SE] -> ghost2 (no act); + shortcut; no final act."""

    def __init__(self, st: StageSpec, cin: int, stride: int, first: bool) -> None:
        super().__init__()
        check_ghost_stage(st)
        b, c, k = st.hidden_width(first), st.out_channels, st.kernel_size
        self.ghost1 = GhostModule(cin, b, st.activation)
        self.dw = ConvBN(b, b, k, stride, groups=b) if stride > 1 else nn.Identity()
        self.se = GhostSqueezeExcite(b, st.se_ratio) if st.se_ratio is not None else nn.Identity()
        self.ghost2 = GhostModule(b, c, "none")
        self.shortcut: nn.Module = nn.Identity()
        if cin != c or stride != 1:
            self.shortcut = nn.Sequential(ConvBN(cin, cin, k, stride, groups=cin), ConvBN(cin, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.ghost2(self.se(self.dw(self.ghost1(x))))
        return out + self.shortcut(x)

    def zero_init_last_bn(self) -> None:
        """Zero ghost2's BN scales so the block starts as its shortcut."""
        nn.init.zeros_(self.ghost2.primary.bn.weight)
        nn.init.zeros_(self.ghost2.cheap.bn.weight)


class GhostHead(nn.Module):
    """1x1 conv+BN+ReLU ``c_in -> b``, global average pool, 1x1 conv (bias) ``b -> c``, act."""

    def __init__(self, st: StageSpec, cin: int, stride: int, first: bool) -> None:
        super().__init__()
        check_ghost_stage(st)
        self.conv = ConvBNActLayer(cin, st.bottleneck_channels, 1, act="relu")
        self.head_conv = nn.Conv2d(st.bottleneck_channels, st.out_channels, 1, bias=True)
        self.act = get_act_layer(st.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x).mean((2, 3), keepdim=True)  # (B, b, 1, 1)
        return self.act(self.head_conv(x))  # (B, c, 1, 1)


BLOCKS[GHOST] = GhostBottleneck  # type: ignore[assignment]
BLOCKS[GHOST_HEAD] = GhostHead  # type: ignore[assignment]
