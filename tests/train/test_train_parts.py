"""Augmentation, tasks (KD loss by hand), optimiser groups, schedule and EMA."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from deepmad.train.augment import BatchTransform, random_crop, random_flip, sample_params, step_seed
from deepmad.train.optim import CosineWarmup, ModelEma, build_optimizer, param_groups
from deepmad.train.tasks import (
    ClassificationTask,
    CosineDecayWeight,
    DistillationTask,
    Progress,
    logit_kd_loss,
)


def test_random_crop_matches_a_per_sample_loop() -> None:
    x = torch.randint(0, 256, (5, 2, 6, 7), dtype=torch.uint8)
    p = 2
    oy, ox = torch.tensor([0, 4, 2, 1, 3]), torch.tensor([4, 0, 2, 3, 1])
    out = random_crop(x, oy, ox, p)
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    for b in range(5):
        assert torch.equal(out[b], padded[b, :, oy[b]:oy[b] + 6, ox[b]:ox[b] + 7])
    flipped = random_flip(x, torch.tensor([True, False, True, False, False]))
    assert torch.equal(flipped[0], x[0].flip(-1)) and torch.equal(flipped[1], x[1])


def test_augment_params_are_shared_out_by_rank() -> None:
    full = sample_params(8, 3, True, seed=step_seed(0, 1, 2))
    for rank in range(2):
        part = sample_params(8, 3, True, seed=step_seed(0, 1, 2), rank=rank, world_size=2)
        assert torch.equal(part.offset_x, full.offset_x[rank::2]) and torch.equal(part.flip, full.flip[rank::2])
    assert not sample_params(8, 3, False, seed=1).flip.any()
    assert step_seed(0, 1, 2) != step_seed(0, 2, 1)


def test_batch_transform_resizes_normalises_and_repeats_grey() -> None:
    t = BatchTransform(mean=(0.5,), std=(0.25,), size=16, out_channels=3, channels_last=True)
    x = torch.full((2, 1, 8, 8), 255, dtype=torch.uint8)
    y = t(x)
    assert y.shape == (2, 3, 16, 16) and y.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(y, torch.full_like(y, 2.0))  # (1 - 0.5) / 0.25


def test_kd_loss_matches_hand_computation() -> None:
    s = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    t = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    temp = 2.0

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p, q = softmax(t / temp), softmax(s / temp)
    expected = temp**2 * np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))
    got = logit_kd_loss(torch.tensor(s), torch.tensor(t), temp)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert logit_kd_loss(torch.tensor(t), torch.tensor(t), temp).item() == pytest.approx(0.0, abs=1e-7)


def test_distillation_task_dict_frozen_teacher_and_schedule() -> None:
    torch.manual_seed(0)
    student, teacher = nn.Linear(4, 3), nn.Linear(4, 3)
    task = DistillationTask(student, teacher, kd_weight=CosineDecayWeight(2.0, 0.0), temperature=3.0)
    task.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    task.set_progress(Progress(step=0, total_steps=10, steps_per_epoch=5))
    out = task(x, y)
    assert {"loss", "output", "task_loss", "kd_loss"} <= out.keys()
    ce = nn.functional.cross_entropy(student(x), y)
    kd = logit_kd_loss(student(x), teacher(x), 3.0)
    assert out["loss"].item() == pytest.approx((ce + 2.0 * kd).item(), rel=1e-6)
    out["loss"].backward()
    assert teacher.weight.grad is None and student.weight.grad is not None
    task.set_progress(Progress(step=10, total_steps=10, steps_per_epoch=5))
    assert task.current_kd_weight() == pytest.approx(0.0, abs=1e-12)
    assert CosineDecayWeight(2.0, 0.0)(Progress(5, 10, 5)) == pytest.approx(1.0)


def test_classification_task_label_smoothing() -> None:
    model = nn.Linear(4, 3)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    out = ClassificationTask(model, label_smoothing=0.1)(x, y)
    assert out["loss"].item() == pytest.approx(
        nn.functional.cross_entropy(model(x), y, label_smoothing=0.1).item())


def test_no_weight_decay_on_bn_and_bias() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[3].weight)}
    assert len(no_decay["params"]) == 4  # conv bias, BN weight + bias, linear bias
    opt = build_optimizer(model, "sgd", 0.1, 0.1)
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9


def test_cosine_warmup_schedule() -> None:
    f = CosineWarmup(total_steps=110, warmup_steps=10, min_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(110) == pytest.approx(0.1)
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))


def test_ema_update_formula() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = ModelEma(model, decay=0.9, warmup=False)
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model[1].num_batches_tracked += 3
    ema.update(model, step=0)
    new = model.state_dict()
    assert torch.allclose(ema.state_dict()["0.weight"], 0.9 * before["0.weight"] + 0.1 * new["0.weight"])
    assert int(ema.state_dict()["1.num_batches_tracked"]) == 3
    assert ModelEma(model, 0.999).decay_at(0) == pytest.approx(0.1)
