"""Torch blocks, one class per spec block kind, and the kind -> class map.

Each class mirrors its cost twin in :mod:`deepmad.cost.trace` layer by layer. Shortcut rules
are documented in :mod:`deepmad.spec.blocks`.
"""

from __future__ import annotations

import torch
from torch import nn

from deepmad.layers.conv_bn_act import ConvBN, get_act_layer
from deepmad.spec.blocks import StageSpec, se_channels

__all__ = ["BLOCKS", "ResK1KXK1", "ResKXKX", "ResK1DWK1", "SqueezeExcite", "make_shortcut"]


def make_shortcut(st: StageSpec, cin: int, stride: int, first: bool, projectable: bool) -> nn.Module | None:
    """The shortcut branch of a block, or ``None`` when the block has no residual."""
    c = st.out_channels
    if st.shortcut == "torchvision":
        if stride != 1 or cin != c:
            return ConvBN(cin, c, 1, stride)
        return nn.Identity()
    layers: list[nn.Module] = []
    if projectable or cin == c:
        if stride == 2:
            layers.append(nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False))
        if projectable and (cin != c or (first and st.kind.projection == "first")):
            layers.append(ConvBN(cin, c, 1))
        return nn.Sequential(*layers) if layers else nn.Identity()
    return None


class _Residual(nn.Module):
    """``act(body(x) + shortcut(x))`` (or ``act(body(x))`` without a shortcut)."""

    body: nn.Sequential
    shortcut: nn.Module | None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.act(out)

    def zero_init_last_bn(self) -> None:
        """Zero the last BN's scale so the block starts as (a projection of) the identity."""
        if self.shortcut is not None:
            nn.init.zeros_(self.body[-1].bn.weight)


class ResK1KXK1(_Residual):
    """Bottleneck: 1x1 c_in->b, kxk b->b (stride), 1x1 b->c; add; act."""

    def __init__(self, st: StageSpec, cin: int, stride: int, first: bool) -> None:
        super().__init__()
        b, c, k = st.bottleneck_channels, st.out_channels, st.kernel_size
        self.body = nn.Sequential(
            ConvBN(cin, b, 1), get_act_layer(st.activation),
            ConvBN(b, b, k, stride, conv_type=st.conv), get_act_layer(st.activation),
            ConvBN(b, c, 1),
        )
        self.shortcut = make_shortcut(st, cin, stride, first, projectable=True)
        self.act = get_act_layer(st.activation)


class ResKXKX(_Residual):
    """Basic block: kxk c_in->b (stride), kxk b->c; add; act."""

    def __init__(self, st: StageSpec, cin: int, stride: int, first: bool) -> None:
        super().__init__()
        b, c, k = st.bottleneck_channels, st.out_channels, st.kernel_size
        self.body = nn.Sequential(
            ConvBN(cin, b, k, stride, conv_type=st.conv), get_act_layer(st.activation),
            ConvBN(b, c, k, conv_type=st.conv),
        )
        self.shortcut = make_shortcut(st, cin, stride, first, projectable=True)
        self.act = get_act_layer(st.activation)


class SqueezeExcite(nn.Module):
    """TinyNAS SE: avg-pool -> 1x1 conv+BN -> SiLU -> 1x1 conv+BN -> sigmoid -> scale."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        se = se_channels(channels)
        self.conv1 = ConvBN(channels, se, 1)
        self.act = nn.SiLU(inplace=True)
        self.conv2 = ConvBN(se, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.conv2(self.act(self.conv1(s))))


class ResK1DWK1(_Residual):
    """Inverted bottleneck: 1x1 c_in->b, depthwise kxk (stride), [SE], 1x1 b->c; [+x]; act."""

    def __init__(self, st: StageSpec, cin: int, stride: int, first: bool) -> None:
        super().__init__()
        b, c, k = st.bottleneck_channels, st.out_channels, st.kernel_size
        layers: list[nn.Module] = [
            ConvBN(cin, b, 1), get_act_layer(st.activation),
            ConvBN(b, b, k, stride, groups=b, conv_type=st.conv), get_act_layer(st.activation),
        ]
        if st.kind.se:
            layers.append(SqueezeExcite(b))
        layers.append(ConvBN(b, c, 1))
        self.body = nn.Sequential(*layers)
        self.shortcut = make_shortcut(st, cin, stride, first, projectable=False)
        self.act = get_act_layer(st.activation)


BLOCKS: dict[str, type[_Residual]] = {
    "res_k1kxk1": ResK1KXK1,
    "res_kxkx": ResKXKX,
    "res_k1dwk1": ResK1DWK1,
    "res_k1dwsek1": ResK1DWK1,
}
