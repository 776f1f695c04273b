"""IC-style conv: a k x k convolution with a gated, piecewise-linear extra branch.

Paper: Junyi An, Fengshan Liu, Jian Zhao, Furao Shen, *IC Networks: Remodeling the Basic Unit
for Convolutional Neural Networks*, arXiv 2102.03495 (2021); predecessors *IC-Network: Efficient
Structure for Convolutional Neural Networks*, arXiv 1911.08252, and *IC Neuron: An Efficient
Unit to Construct Neural Networks*, arXiv 2011.11271 (Neural Networks 145, 2022). No public code.

**Not the paper's formula.** Only the abstracts of these papers could be found (searched again
on 2026-11-23), so the exact IC ("Inter-layer Collision") equation is unknown. This module is
the project's own design that meets the abstracts' description: "nonlinearity and feature
recalibration in the linear convolution operation" (2102.03495) and a unit that "divides the
input space into multiple subspaces used to represent different linear transformations"
(2011.11271). Results obtained with it are not a reproduction of the paper. It is selected by
the spec field ``conv="ic"`` through :func:`deepmad.layers.create.create_conv`, so the paper's
unit can replace it there (a new ``conv`` value) without touching the backbones.

The unit (design, following the placeholder in ``shared/reference/ic_networks.md`` C.2)::

    y = W * x + gamma . (V * ReLU(U * x + c))

* ``W``: the plain conv's weight (same shape and state-dict key ``weight`` as ``nn.Conv2d``,
  so a plain network's weights load into it);
* ``U, c``: k x k conv c_in -> m with bias, same stride / padding / dilation / groups as ``W``;
  its m hyperplanes ``U_j . x_patch + c_j = 0`` split each receptive field's input space into
  regions;
* ``V``: 1 x 1 conv m -> c_out (groups g); ``gamma``: per-output-channel gain, zero at init
  (stored as ``proj.weight`` and ``proj.gain``).

On the region where the active set of the ReLU is ``D`` (a 0/1 diagonal), the unit is the linear
map ``W + diag(gamma) V D U`` plus ``diag(gamma) V D c``: a different linear transformation
per sub-space, which re-weights ("recalibrates") the input directions ``U_j`` that cross their
threshold. With ``gamma = 0`` (the initial state) or ``V = 0`` it is exactly the plain conv.
Hidden width ``m`` and the closed-form costs are in :mod:`deepmad.cost.ic`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from deepmad.spec.blocks import IC_HIDDEN_RATIO, ic_hidden_channels

__all__ = ["ICConv2d"]

_size = int | tuple[int, int]


class _GainConv1x1(nn.Conv2d):
    """Bias-free 1 x 1 conv whose output channel o is scaled by ``gain[o]`` (``V`` and ``gamma``).

    The gain multiplies the (c_out, m/g) weight rather than the (B, c_out, H, W) output.
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__(in_channels, out_channels, 1, groups=groups, bias=False, device=device, dtype=dtype)
        self.gain = nn.Parameter(torch.zeros(out_channels, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.gain.view(-1, 1, 1, 1), groups=self.groups)


class ICConv2d(nn.Conv2d):
    """IC-style conv (project design, not arXiv 2102.03495's formula); see the module docstring.

    A subclass of ``nn.Conv2d`` with the same signature plus ``hidden_ratio``: ``weight`` and
    ``bias`` are the plain conv's, so weight initialisers and state dicts of plain networks apply.

    Args:
        in_channels: c_in.
        out_channels: c_out.
        kernel_size: k.
        stride: s.
        padding: zero padding (also used by the gate conv ``U``).
        dilation: dilation of ``W`` and ``U``.
        groups: g, shared by ``W``, ``U`` and ``V``.
        bias: learnable bias of the main conv ``W``.
        padding_mode: as ``nn.Conv2d``.
        hidden_ratio: m / c_out of the branch (rounded to a multiple of g, at least g).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _size, stride: _size = 1,
                 padding: _size | str = 0, dilation: _size = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None, *, hidden_ratio: float = IC_HIDDEN_RATIO) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype)
        self.hidden_channels = ic_hidden_channels(out_channels, groups, hidden_ratio)
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        self.gate = nn.Conv2d(in_channels, self.hidden_channels, kernel_size, stride, padding,
                              dilation, groups, True, padding_mode, **kw)  # U, c
        self.proj = _GainConv1x1(self.hidden_channels, out_channels, groups, **kw)  # V, gamma
        self.reset_branch()

    @property
    def gamma(self) -> nn.Parameter:
        """The per-output-channel gain of the branch (stored as ``proj.gain``)."""
        return self.proj.gain

    def reset_branch(self) -> None:
        """Zero the gate bias ``c`` and the gain ``gamma``: the unit starts as the plain conv."""
        nn.init.zeros_(self.gate.bias)
        nn.init.zeros_(self.proj.gain)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The extra term ``gamma . (V * ReLU(U * x + c))``, shape (B, c_out, H', W')."""
        return self.proj(F.relu(self.gate(x), inplace=True))  # ReLU output: (B, m, H', W')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the main term is exactly nn.Conv2d.forward, so a zeroed branch is bit-identical to it
        return self._conv_forward(x, self.weight, self.bias) + self.branch(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", hidden_channels={self.hidden_channels}"
