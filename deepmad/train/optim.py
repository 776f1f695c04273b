"""Optimiser, learning-rate schedule and EMA of weights.

- Parameter groups: weight decay on conv / linear weights only, never on BN parameters or
  biases (Goyal et al., "Accurate, Large Minibatch SGD", arXiv 1706.02677, Sec. 5.1 / He et al.
  "Bag of Tricks", arXiv 1812.01187, Sec. 3.1 "no bias decay").
- Schedule: linear warm-up for ``W`` steps, then cosine decay (Loshchilov & Hutter, SGDR,
  arXiv 1608.03983, Eq. 5) to ``min_lr`` at the last step.
- EMA: ``theta_ema <- d * theta_ema + (1 - d) * theta`` after every step, with the warm-up
  ``d_t = min(d, (1 + t) / (10 + t))`` used by TensorFlow's ExponentialMovingAverage and timm.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["param_groups", "build_optimizer", "CosineWarmup", "build_scheduler", "ModelEma"]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights with decay (ndim > 1) and BN / bias parameters without."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float,
                    momentum: float = 0.9, fused: bool = False) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum, or AdamW; ``fused`` kernels on CUDA."""
    groups = param_groups(model, weight_decay)
    extra = {"fused": True} if fused else {}
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0, **extra)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), **extra)


@dataclass
class CosineWarmup:
    """Learning-rate multiplier of step ``s`` for ``LambdaLR``.

    ``m(s) = (s + 1) / W`` for ``s < W``; afterwards with ``u = (s - W) / (S - W)``,
    ``m(s) = rho + (1 - rho) * (1 + cos(pi * u)) / 2``, where ``rho = min_lr / lr``.
    """

    total_steps: int
    warmup_steps: int
    min_ratio: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(self.total_steps - self.warmup_steps, 1)
        u = min((step - self.warmup_steps) / span, 1.0)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * u))


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                    lr: float, min_lr: float) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` stepped once per optimiser step with :class:`CosineWarmup`."""
    fn = CosineWarmup(total_steps, min(warmup_steps, total_steps), min_lr / lr)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


class ModelEma:
    """Exponential moving average of a model's parameters and buffers.

    Args:
        model: the model to follow (the unwrapped one, not DDP / compiled).
        decay: ``d`` in ``theta_ema <- d * theta_ema + (1 - d) * theta``.
        warmup: use ``min(d, (1 + t) / (10 + t))`` at step ``t``.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.warmup = warmup

    def decay_at(self, step: int) -> float:
        """The decay used at step ``step``."""
        return min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Move the average towards ``model``; integer buffers are copied."""
        d = self.decay_at(step)
        ema_float, new_float = [], []
        for e, m in zip(self.module.state_dict().values(), model.state_dict().values()):
            if e.is_floating_point():
                ema_float.append(e)
                new_float.append(m.detach())
            else:
                e.copy_(m)
        if ema_float:
            torch._foreach_lerp_(ema_float, new_float, 1.0 - d)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights (same keys as the model)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the averaged weights."""
        self.module.load_state_dict(state)
