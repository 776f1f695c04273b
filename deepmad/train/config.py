"""``TrainConfig``: every training setting as one frozen dataclass (no torch).

The recipe follows the usual ImageNet-style CNN training (He et al., "Bag of Tricks for Image
Classification with Convolutional Neural Networks", CVPR 2019, arXiv 1812.01187): SGD with
Nesterov momentum or AdamW (Loshchilov & Hutter, arXiv 1711.05101), linear warm-up then cosine
decay, label smoothing, no weight decay on BN and bias, optional EMA of weights, and logit
distillation (Hinton et al., arXiv 1503.02531). CLI flags map one-to-one onto the fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from deepmad.errors import DeepmadError

__all__ = ["TrainConfig", "RESUME_MUTABLE_FIELDS", "RESUME_EXTENDABLE_FIELDS", "DEFAULT_LR", "DEFAULT_WEIGHT_DECAY"]

OPTIMIZERS = ("sgd", "adamw")
AMP_MODES = ("auto", "bf16", "fp16", "off")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_LR = {"sgd": 0.1, "adamw": 1e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 0.05}
KD_MODES = ("logit", "weak")  # weak: WLD-style fading weight, deepmad.train.wld (IC networks)
WLD_SCHEDULES = ("linear", "cosine", "step")

# Fields that may differ between a run and its --resume: they do not change the trajectory
# of the weights (where, how fast, or how verbosely it runs).
RESUME_MUTABLE_FIELDS = frozenset(
    {"out", "resume", "device", "data_dir", "compile", "progress", "checkpoint_every",
     "eval_batch_size"}
)
# Fields that may change on --resume although they change the trajectory from there on:
# ``epochs`` extends (or shortens) a run; the cosine schedule is re-planned for the new length.
RESUME_EXTENDABLE_FIELDS = frozenset({"epochs"})


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run; see ``docs/training.md`` for the recipe."""

    model: str  # preset name or spec file (.json / TinyNAS .txt)
    data: str = "digits"  # digits | fashion-mnist | mnist | cifar10[:DIR] | cifar100[:DIR] | folder:DIR | idx:DIR
    out: str = ""  # run directory: last.pt, best.pt, metrics.jsonl, curves.png
    num_classes: int | None = None  # classifier outputs; default: the data set's class count
    data_dir: str | None = None  # where a named data set lives (overrides the standard location)
    resolution: int | None = None  # input side r; default: the model spec's resolution
    epochs: int = 10
    batch_size: int = 128  # global batch over all processes
    eval_batch_size: int = 256  # global batch for evaluation
    lr: float | None = None  # peak learning rate; default 0.1 (sgd) or 1e-3 (adamw)
    optimizer: str = "sgd"  # sgd (Nesterov momentum) | adamw
    momentum: float = 0.9  # SGD momentum
    weight_decay: float | None = None  # default 5e-4 (sgd) or 0.05 (adamw); never on BN / bias
    warmup_epochs: float = 1.0  # linear warm-up length (may be fractional)
    min_lr: float = 0.0  # learning rate at the end of the cosine
    label_smoothing: float = 0.1  # epsilon of label smoothing (Szegedy et al., 2016)
    ema_decay: float = 0.0  # EMA of weights decay per step; 0 turns EMA off
    clip_grad: float = 0.0  # max global L2 norm of the gradient; 0 turns clipping off
    amp: str = "auto"  # bf16 | fp16 | off; auto = bf16 on CUDA, off on CPU
    channels_last: bool = False  # NHWC memory format (faster tensor-core convs)
    compile: bool = False  # torch.compile the model
    sync_bn: bool = False  # synchronise BN statistics across processes
    crop_padding: int | None = None  # random-crop padding in source pixels; default side // 8
    hflip: bool | None = None  # random horizontal flip; default per data set (off for digits)
    train_subset: int = 0  # use only the first N training images (0 = all)
    val_subset: int = 0  # use only the first N evaluation images (0 = all)
    teacher: str | None = None  # teacher checkpoint for logit distillation
    teacher_model: str | None = None  # teacher preset or spec file
    kd_weight: float = 1.0  # weight of the distillation term
    kd_temperature: float = 4.0  # softmax temperature T of the distillation term
    kd: str = "logit"  # logit (constant kd_weight) | weak (kd_weight decays to 0; deepmad.train.wld)
    kd_schedule: str = "cosine"  # --kd weak: linear | cosine | step decay of the KD weight
    kd_end: float = 0.5  # --kd weak: fraction of training at which the KD weight reaches 0
    init_from_teacher: bool = False  # --kd weak: copy the teacher's shared tensors into the student
    seed: int = 0
    device: str = "auto"  # cpu | cuda | auto
    deterministic: bool = False  # torch.use_deterministic_algorithms (slower on CUDA)
    checkpoint_every: int = 500  # also write last.pt every N optimiser steps (0 = per epoch only)
    progress: bool = True  # progress bar with ETA on rank 0
    resume: bool = False  # continue from OUT/last.pt
    init_from: str | None = None  # start a new run from this checkpoint's weights (fine-tuning)

    def __post_init__(self) -> None:
        _check(bool(self.model), "model", self.model, "a preset name or a spec file")
        _check(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, " | ".join(OPTIMIZERS))
        _check(self.amp in AMP_MODES, "amp", self.amp, " | ".join(AMP_MODES))
        _check(self.device in DEVICES, "device", self.device, " | ".join(DEVICES))
        for name in ("epochs", "batch_size", "eval_batch_size"):
            _check(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        for name in ("train_subset", "val_subset", "checkpoint_every"):
            _check(getattr(self, name) >= 0, name, getattr(self, name), "an integer >= 0")
        _check(self.num_classes is None or self.num_classes >= 1, "num_classes",
               self.num_classes, "an integer >= 1")
        _check(self.resolution is None or self.resolution >= 1, "resolution",
               self.resolution, "an integer >= 1")
        _check(self.lr is None or self.lr > 0, "lr", self.lr, "a number > 0")
        _check(self.weight_decay is None or self.weight_decay >= 0, "weight_decay",
               self.weight_decay, "a number >= 0")
        _check(0.0 <= self.label_smoothing < 1.0, "label_smoothing", self.label_smoothing, "0 <= x < 1")
        _check(0.0 <= self.ema_decay < 1.0, "ema_decay", self.ema_decay, "0 <= x < 1")
        _check(0 <= self.warmup_epochs <= self.epochs, "warmup_epochs", self.warmup_epochs,
               f"a number >= 0 and <= epochs ({self.epochs})")
        _check(self.min_lr >= 0 and self.clip_grad >= 0, "min_lr/clip_grad",
               (self.min_lr, self.clip_grad), "numbers >= 0")
        _check(self.crop_padding is None or self.crop_padding >= 0, "crop_padding",
               self.crop_padding, "an integer >= 0")
        _check(self.kd_temperature > 0, "kd_temperature", self.kd_temperature, "a number > 0")
        _check(self.kd_weight >= 0, "kd_weight", self.kd_weight, "a number >= 0")
        _check((self.teacher is None) == (self.teacher_model is None), "teacher",
               self.teacher, "--teacher CKPT together with --teacher-model PRESET|SPEC")
        _check(self.kd in KD_MODES, "kd", self.kd, " | ".join(KD_MODES))
        _check(self.kd == "logit" or self.teacher is not None, "kd", self.kd, "--teacher CKPT with --kd weak")
        _check(self.kd_schedule in WLD_SCHEDULES, "kd_schedule", self.kd_schedule, " | ".join(WLD_SCHEDULES))
        _check(0.0 < self.kd_end <= 1.0, "kd_end", self.kd_end, "0 < x <= 1")
        _check(not self.init_from_teacher or self.kd == "weak", "init_from_teacher", self.init_from_teacher,
               "--init-from-teacher only with --kd weak")

    @property
    def peak_lr(self) -> float:
        """The learning rate after warm-up (``lr`` or the optimiser's default)."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    @property
    def decay(self) -> float:
        """The weight decay (``weight_decay`` or the optimiser's default)."""
        return self.weight_decay if self.weight_decay is not None else DEFAULT_WEIGHT_DECAY[self.optimizer]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are rejected."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise DeepmadError(f"unknown TrainConfig keys {unknown}; allowed: {sorted(names)}")
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """Copy with fields replaced."""
        return dataclasses.replace(self, **changes)


def _check(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise DeepmadError(f"{name}={value!r} is invalid; expected {allowed}")
