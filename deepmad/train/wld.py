"""Weak logit distillation (WLD-style) for IC networks: a plain teacher, a fading KD weight.

Paper: An, Liu, Zhao, Shen, *IC Networks: Remodeling the Basic Unit for Convolutional Neural
Networks*, arXiv 2102.03495, which proposes "weak logit distillation (WLD) ... to speed up the
training of IC networks by extracting knowledge from pre-trained basic models". Only the
abstract was available (searched again on 2026-11-23): the WLD loss, its temperature, weights and
schedule are unknown. **What follows is the project's own design**, not the paper's method, and
results obtained with it are not a reproduction:

* teacher: a trained *plain* network of the same backbone (e.g. ``resnet18`` for an
  ``ic_resnet18`` student), frozen, in eval mode, under no-grad;
* loss (Hinton et al., arXiv 1503.02531, via :class:`deepmad.train.tasks.DistillationTask`)::

      L = CE(s, y) + w(p) * T^2 * KL(softmax(t / T) || softmax(s / T))

* "weak": ``w(p)`` decays from ``w0`` to 0 over the first ``end_fraction`` of training
  (``p`` = fraction of optimiser steps done) and stays 0 afterwards, so the teacher only speeds
  up early training and the end of training is plain supervised learning
  (:class:`WeakKDWeight`, linear / cosine / step);
* optional initialisation: every tensor the student shares with the teacher by name and shape
  (the IC convs' ``weight``, BN, shortcuts, stem, classifier) is copied from the teacher
  (:func:`init_student_from_teacher`). With the IC unit's gain ``gamma = 0`` at init, the
  student then starts as an exact copy of the teacher.

The task is chosen with ``deepmad train ... --teacher CKPT --teacher-model PRESET --kd weak``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from deepmad.errors import DeepmadError
from deepmad.train.config import WLD_SCHEDULES, TrainConfig
from deepmad.train.tasks import DistillationTask, Progress

__all__ = ["WLD_SCHEDULES", "WeakKDWeight", "WeakDistillationTask", "build_weak_task",
           "init_student_from_teacher"]


@dataclass(frozen=True)
class WeakKDWeight:
    """KD weight ``w(p)`` that falls from ``start`` to 0 at ``end_fraction`` of training.

    With ``q = p / end_fraction`` (``p`` the fraction of steps done) and ``w = 0`` for ``q >= 1``:

    * ``linear``: ``w = start * (1 - q)``
    * ``cosine``: ``w = start * (1 + cos(pi q)) / 2``
    * ``step``:   ``w = start`` (switched off at ``q = 1``)
    """

    start: float = 1.0  # w0
    end_fraction: float = 0.5  # p at which w reaches 0
    schedule: str = "cosine"  # linear | cosine | step

    def __post_init__(self) -> None:
        if self.schedule not in WLD_SCHEDULES:
            raise DeepmadError(f"kd_schedule={self.schedule!r} is invalid; allowed: {', '.join(WLD_SCHEDULES)}")
        if not 0.0 < self.end_fraction <= 1.0:
            raise DeepmadError(f"kd_end={self.end_fraction!r} is invalid; expected 0 < x <= 1")
        if self.start < 0:
            raise DeepmadError(f"kd_weight={self.start!r} is invalid; expected a number >= 0")

    def __call__(self, progress: Progress) -> float:
        q = progress.fraction / self.end_fraction
        if q >= 1.0:
            return 0.0
        if self.schedule == "linear":
            return self.start * (1.0 - q)
        if self.schedule == "cosine":
            return self.start * 0.5 * (1.0 + math.cos(math.pi * q))
        return self.start


@torch.no_grad()
def init_student_from_teacher(student: nn.Module, teacher: nn.Module) -> list[str]:
    """Copy every teacher tensor into the student tensor of the same name and shape.

    The student must hold all of the teacher's tensors (same backbone; an IC student adds only
    its branches), otherwise a one-line :class:`DeepmadError` names the first mismatch.

    Returns:
        The copied state-dict keys.
    """
    own = student.state_dict()
    src = teacher.state_dict()
    missing = [k for k in src if k not in own]
    wrong = [k for k in src if k in own and own[k].shape != src[k].shape]
    if missing or wrong:
        first = (missing or wrong)[0]
        raise DeepmadError(f"the teacher is not the student's backbone: {len(missing)} teacher tensors "
                           f"missing, {len(wrong)} of another shape (first: {first!r})")
    for k, v in src.items():
        own[k].copy_(v)
    return list(src)


class WeakDistillationTask(DistillationTask):
    """WLD-style distillation (project design): :class:`DistillationTask` with a fading weight.

    Args:
        model: the student (typically an IC network).
        teacher: the trained plain network of the same backbone.
        weight: the KD weight schedule.
        temperature: softmax temperature ``T``.
        label_smoothing: label smoothing of the CE term.
        init_from_teacher: copy the teacher's shared tensors into the student first.
    """

    def __init__(self, model: nn.Module, teacher: nn.Module, weight: WeakKDWeight | None = None,
                 temperature: float = 4.0, label_smoothing: float = 0.0,
                 init_from_teacher: bool = False) -> None:
        weight = weight if weight is not None else WeakKDWeight()
        super().__init__(model, teacher, kd_weight=weight, temperature=temperature,
                         label_smoothing=label_smoothing)
        self.copied: list[str] = init_student_from_teacher(model, teacher) if init_from_teacher else []

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.current_kd_weight() > 0.0:
            return super().forward(input, target)
        output = self.model(input)  # weight 0: the teacher is not run at all
        loss = self.task_loss(output, target)
        zero = torch.zeros((), device=loss.device)
        return {"loss": loss, "output": output, "task_loss": loss, "kd_loss": zero,
                "kd_weight": torch.tensor(0.0)}


def build_weak_task(config: TrainConfig, model: nn.Module, teacher: nn.Module) -> WeakDistillationTask:
    """The task ``--kd weak`` asks for: ``kd_weight`` decays to 0 at ``kd_end`` by ``kd_schedule``."""
    weight = WeakKDWeight(config.kd_weight, config.kd_end, config.kd_schedule)
    return WeakDistillationTask(model, teacher, weight, config.kd_temperature, config.label_smoothing,
                                init_from_teacher=config.init_from_teacher)
