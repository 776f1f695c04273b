"""Training tasks in the timm style: ``forward(input, target)`` returns a dict of losses.

A task owns the trainable model (and, for distillation, a frozen teacher) and computes the loss;
the loop only does ``out = task(x, y); out["loss"].backward()``. Keys: ``loss`` (what is
back-propagated), ``output`` (student logits), ``task_loss`` and, for distillation, ``kd_loss``
and ``kd_weight``. ``prepare_distributed`` wraps only the trainable part in DDP, as timm's
``TrainingTask`` does.

Logit distillation follows Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural
Network" (arXiv 1503.02531): ``kd = T^2 * KL(softmax(t/T) || softmax(s/T))``, averaged over the
batch. The weight of the term is a schedule of training progress, so a "weak" distillation
whose weight decays over training is one more :data:`WeightSchedule`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Progress", "WeightSchedule", "CosineDecayWeight", "TrainingTask", "ClassificationTask",
    "DistillationTask", "logit_kd_loss",
]


@dataclass(frozen=True)
class Progress:
    """Where training stands when a step starts."""

    step: int  # optimiser steps already taken
    total_steps: int  # steps of the whole run
    steps_per_epoch: int

    @property
    def epoch(self) -> float:
        """Fractional epoch (0.5 = half-way through the first epoch)."""
        return self.step / max(self.steps_per_epoch, 1)

    @property
    def fraction(self) -> float:
        """Share of training done, in [0, 1]."""
        return min(self.step / max(self.total_steps, 1), 1.0)


WeightSchedule = Callable[[Progress], float]


@dataclass(frozen=True)
class CosineDecayWeight:
    """Weight decaying from ``start`` to ``end`` along a half cosine over training.

    ``w(p) = end + (start - end) * (1 + cos(pi * p)) / 2`` with ``p`` the fraction done.
    """

    start: float = 1.0
    end: float = 0.0

    def __call__(self, progress: Progress) -> float:
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * progress.fraction))


def logit_kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """Hinton's distillation term, batch mean.

    ``kd = T^2 / B * sum_b sum_k p_bk (log p_bk - log q_bk)`` with ``p = softmax(t/T)`` (teacher)
    and ``q = softmax(s/T)`` (student); the ``T^2`` keeps gradient sizes independent of ``T``
    (Hinton et al., 2015, Sec. 2).
    """
    t = temperature
    log_q = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True) * (t * t)


class TrainingTask(nn.Module):
    """Base task: holds ``model`` (the trainable network) and the training progress."""

    def __init__(self, model: nn.Module, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.label_smoothing = label_smoothing
        self.progress = Progress(step=0, total_steps=1, steps_per_epoch=1)

    def set_progress(self, progress: Progress) -> None:
        """Called by the loop before every step (schedules of loss weights read it)."""
        self.progress = progress

    def prepare_distributed(self, device_ids: list[int] | None = None) -> None:
        """Wrap the trainable model, and only it, in ``DistributedDataParallel``."""
        from torch.nn.parallel import DistributedDataParallel

        self.model = DistributedDataParallel(self.model, device_ids=device_ids)

    def task_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy with label smoothing."""
        return F.cross_entropy(output, target, label_smoothing=self.label_smoothing)


class ClassificationTask(TrainingTask):
    """Plain supervised classification: ``loss = CE(model(x), y)``."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        output = self.model(input)
        loss = self.task_loss(output, target)
        return {"loss": loss, "output": output, "task_loss": loss}


class DistillationTask(TrainingTask):
    """Logit distillation from a frozen teacher.

    ``loss = task_weight * CE(s, y) + w(progress) * kd(s, t; T)``.

    Args:
        model: the student.
        teacher: the teacher; it is frozen, kept in eval mode and run under no-grad.
        kd_weight: a constant or a :data:`WeightSchedule` of :class:`Progress`.
        temperature: the softmax temperature ``T``.
        task_weight: weight of the supervised term.
        label_smoothing: label smoothing of the supervised term.
    """

    def __init__(self, model: nn.Module, teacher: nn.Module, kd_weight: float | WeightSchedule = 1.0,
                 temperature: float = 4.0, task_weight: float = 1.0, label_smoothing: float = 0.0) -> None:
        super().__init__(model, label_smoothing)
        self.teacher = teacher.eval().requires_grad_(False)
        self.kd_weight = kd_weight
        self.temperature = temperature
        self.task_weight = task_weight

    def train(self, mode: bool = True) -> DistillationTask:
        super().train(mode)
        self.teacher.eval()
        return self

    def current_kd_weight(self) -> float:
        """The distillation weight at the current progress."""
        w = self.kd_weight
        return float(w(self.progress)) if callable(w) else float(w)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        output = self.model(input)
        with torch.no_grad():
            teacher_logits = self.teacher(input)
        task_loss = self.task_loss(output, target)
        kd_loss = logit_kd_loss(output, teacher_logits, self.temperature)
        weight = self.current_kd_weight()
        loss = self.task_weight * task_loss + weight * kd_loss
        return {"loss": loss, "output": output, "task_loss": task_loss, "kd_loss": kd_loss,
                "kd_weight": torch.tensor(weight)}
