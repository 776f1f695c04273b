"""Test utilities shared by deepmad's own tests and by users checking their extensions.

``measure_torch_costs`` is the oracle the closed-form costs are checked against: PyTorch's own
``torch.utils.flop_counter.FlopCounterMode`` (FLOPs = 2 x MACs of conv/matmul ops),
``sum(p.numel())`` and the output elements of every conv / linear module, all from one forward
on the ``meta`` device (no memory, no compute). ``random_spec`` draws valid specs for property
tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from deepmad.spec.blocks import BLOCK_KINDS, ConvBNAct, ResNetStem, StageSpec
from deepmad.spec.network import HeadSpec, NetworkSpec

__all__ = ["TorchCosts", "measure_torch_costs", "random_spec"]


@dataclass(frozen=True)
class TorchCosts:
    """What PyTorch itself reports for one image."""

    flops: int
    params: int
    activations: int


def measure_torch_costs(spec: NetworkSpec, **build_kwargs: object) -> TorchCosts:
    """Build ``spec`` on the meta device and measure it with PyTorch's own counters."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from deepmad.models import build_model

    with torch.device("meta"):
        model = build_model(spec, **build_kwargs).eval()  # type: ignore[arg-type]
    acts = 0

    def hook(_m: torch.nn.Module, _i: object, out: torch.Tensor) -> None:
        nonlocal acts
        acts += out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    x = torch.empty(1, spec.in_channels, spec.resolution, spec.resolution, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    params = sum(p.numel() for p in model.parameters())
    return TorchCosts(int(counter.get_total_flops()), int(params), acts)


_BASE_KINDS = ("res_k1kxk1", "res_kxkx", "res_k1dwk1", "res_k1dwsek1")


def random_spec(rng: random.Random, kinds: tuple[str, ...] = _BASE_KINDS) -> NetworkSpec:
    """A random valid spec: 1-5 stages, mixed kinds/shortcuts, odd and even resolutions."""
    kinds = tuple(k for k in kinds if k in BLOCK_KINDS)
    if rng.random() < 0.2:
        stem: ConvBNAct | ResNetStem = ResNetStem(out_channels=rng.choice([8, 16, 24]))
    else:
        stem = ConvBNAct(out_channels=rng.choice([8, 12, 16, 32]), kernel_size=rng.choice([1, 3, 5]),
                         stride=rng.choice([1, 2]), act=rng.choice(["relu", "silu"]))
    stages = tuple(
        StageSpec(block=rng.choice(kinds), out_channels=rng.randint(1, 12) * 8,
                  bottleneck_channels=rng.randint(1, 16) * 4, depth=rng.randint(1, 3),
                  stride=rng.choice([1, 2]), kernel_size=rng.choice([1, 3, 5, 7]),
                  shortcut=rng.choice(["tinynas", "torchvision"]))
        for _ in range(rng.randint(1, 5))
    )
    final = ConvBNAct(out_channels=rng.randint(1, 16) * 16, kernel_size=1) if rng.random() < 0.4 else None
    return NetworkSpec(stem=stem, stages=stages, final_conv=final,
                       head=HeadSpec(num_classes=rng.choice([0, 10, 1000])),
                       resolution=rng.randint(16, 80), in_channels=rng.choice([1, 3]))
