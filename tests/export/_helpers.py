"""Small specs of every block kind, and weights that make an export comparison meaningful."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from deepmad.models import create_model
from deepmad.spec import NetworkSpec, get_preset

RESOLUTION = 32


def shrunk(preset: str, block: str | None = None) -> NetworkSpec:
    """``preset`` at 32 px with every stage one block deep (optionally another block kind)."""
    spec = get_preset(preset)
    stages = tuple(replace(s, depth=1, block=block or s.block) for s in spec.stages)
    return spec.replace(stages=stages, resolution=RESOLUTION)


def randomised(spec: NetworkSpec, num_classes: int = 10, seed: int = 0) -> nn.Module:
    """The network in eval mode with random BN statistics and affines.

    Freshly built networks zero the last BN of every residual block (each block starts as the
    identity), which would hide a wrong residual branch in an export; these weights do not.
    """
    model = create_model(spec, num_classes=num_classes)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
    return model.eval()


def inputs(spec: NetworkSpec, batch: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, spec.in_channels, spec.resolution, spec.resolution, generator=gen)
