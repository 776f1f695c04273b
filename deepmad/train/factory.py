"""Models for training: the student from ``--model``, the frozen teacher, weights from files.

Networks come from :func:`deepmad.models.create_model` (a preset name or a spec file); the
resolution given on the command line overrides the spec's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch
from torch import nn

from deepmad.errors import DeepmadError
from deepmad.train.checkpoint import load_weights

if TYPE_CHECKING:
    from deepmad.spec import NetworkSpec

__all__ = ["build_network", "load_state", "load_network", "model_resolution", "model_in_channels"]


def build_network(model: str | NetworkSpec, num_classes: int, resolution: int | None = None) -> nn.Module:
    """``create_model(model, num_classes=..., resolution=...)``."""
    from deepmad.models import create_model

    return create_model(model, num_classes=num_classes, resolution=resolution)


def model_resolution(model: nn.Module, default: int = 224) -> int:
    """The input side the network was designed for (``model.spec.resolution``)."""
    spec = getattr(model, "spec", None)
    return int(getattr(spec, "resolution", default))


def model_in_channels(model: nn.Module, default: int = 3) -> int:
    """The image channels the network takes (``model.spec.in_channels``)."""
    spec = getattr(model, "spec", None)
    return int(getattr(spec, "in_channels", default))


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str | os.PathLike[str]) -> None:
    """``model.load_state_dict(state)`` with a one-line error when the weights do not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        example = (missing or unexpected or wrong)[0]
        raise DeepmadError(
            f"weights in {source} do not fit this model: {len(missing)} missing, {len(unexpected)} "
            f"unexpected, {len(wrong)} of another shape (first: {example!r}); check the model and its "
            f"number of classes"
        )
    model.load_state_dict(state)


def load_network(model: str, checkpoint: str | os.PathLike[str], num_classes: int,
                 resolution: int | None = None, key: str = "model") -> nn.Module:
    """Build ``model`` and load ``checkpoint[key]`` into it (e.g. a teacher, or for evaluation)."""
    net = build_network(model, num_classes, resolution)
    load_state(net, load_weights(checkpoint, key=key), checkpoint)
    return net
