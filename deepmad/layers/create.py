"""``create_conv``: the one place that maps a spec's ``conv`` field to a conv implementation.

``"plain"`` is ``nn.Conv2d``; ``"ic"`` is :class:`deepmad.layers.ic_conv.ICConv2d`, the
project's IC-style unit (its own design, not the formula of arXiv 2102.03495; see that module).
"""

from __future__ import annotations

from torch import nn

from deepmad.errors import SpecError
from deepmad.layers.ic_conv import ICConv2d

__all__ = ["create_conv"]


def create_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                groups: int = 1, conv_type: str = "plain") -> nn.Module:
    """A bias-free conv with padding ``(k-1)//2`` of the requested implementation."""
    if conv_type == "plain":
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                         padding=(kernel_size - 1) // 2, groups=groups, bias=False)
    if conv_type == "ic":
        return ICConv2d(in_channels, out_channels, kernel_size, stride,
                        padding=(kernel_size - 1) // 2, groups=groups, bias=False)
    raise SpecError(f"conv={conv_type!r} is not available; allowed: plain, ic")
