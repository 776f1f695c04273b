"""Training of designed networks: offline data, timm-style tasks, a plain loop, exact resume, DDP.

Public names are imported lazily (PEP 562), so ``deepmad.train.config`` and
``deepmad.train.readers`` stay importable without torch, e.g. by the CLI's argument parser.

Example:
    >>> from deepmad.train import TrainConfig, fit
    >>> result = fit(TrainConfig(model="spec.json", data="digits", resolution=16, out="runs/d"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TrainConfig", "fit", "evaluate", "train_one_epoch", "FitResult",
    "ClassificationTask", "DistillationTask", "Progress", "CosineDecayWeight", "logit_kd_loss",
    "load_dataset", "Dataset", "load_checkpoint", "save_checkpoint", "plot_run",
]

_WHERE = {
    "TrainConfig": "config",
    "fit": "loop", "evaluate": "loop", "train_one_epoch": "loop", "FitResult": "loop",
    "ClassificationTask": "tasks", "DistillationTask": "tasks", "Progress": "tasks",
    "CosineDecayWeight": "tasks", "logit_kd_loss": "tasks",
    "load_dataset": "data", "Dataset": "data",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "plot_run": "plot",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'deepmad.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"deepmad.train.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
