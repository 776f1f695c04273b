"""``build_model`` and ``create_model``: the public way to get an ``nn.Module`` from a spec."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from deepmad.errors import SpecError
from deepmad.models.network import Network
from deepmad.spec.network import NetworkSpec
from deepmad.spec.resolve import load_spec

__all__ = ["build_model", "create_model"]


def build_model(spec: NetworkSpec, num_classes: int | None = None, zero_init_last_bn: bool = True,
                **overrides: Any) -> Network:
    """Build the module for ``spec``.

    Args:
        spec: the architecture.
        num_classes: classifier outputs (overrides ``spec.head.num_classes``; 0 = no classifier).
        zero_init_last_bn: zero the last BN scale of every residual block (default, as timm
            does for ResNets: each block starts near the identity, which keeps very deep
            DeepMAD nets trainable).
        **overrides: other ``NetworkSpec`` fields to replace (e.g. ``resolution``), or
            ``drop_rate`` for the head dropout, or ``conv`` (``"plain"`` | ``"ic"``) to set the
            conv implementation of every stage's kxk convs; the stem and the final conv keep
            their own ``conv`` field (``create_model("deepmad_r18", conv="ic")`` = IC blocks).
    """
    head = spec.head
    if num_classes is not None:
        head = replace(head, num_classes=num_classes)
    if "drop_rate" in overrides:
        head = replace(head, dropout=overrides.pop("drop_rate"))
    conv = overrides.pop("conv", None)
    try:
        spec = replace(spec, head=head, **overrides)
    except TypeError as exc:
        raise SpecError(f"build_model: {exc}") from None
    if conv is not None:
        spec = replace(spec, stages=tuple(replace(s, conv=conv) for s in spec.stages))
    return Network(spec, zero_init_last_bn=zero_init_last_bn)


def create_model(model: str | os.PathLike[str] | NetworkSpec, num_classes: int | None = None,
                 resolution: int | None = None, pretrained: bool = False, **overrides: Any) -> Network:
    """Build a model from a preset name, a spec JSON / TinyNAS file path, or a spec.

    deepmad ships no pretrained weights: ``pretrained=True`` is refused (train the model, then
    load a checkpoint with :func:`deepmad.train.factory.load_network`).

    Example:
        >>> net = create_model("deepmad_r18", num_classes=10)
        >>> net.num_features
        672
    """
    if pretrained:
        name = model if isinstance(model, str) else "any model"
        raise SpecError(f"pretrained=True is not available: deepmad ships no pretrained weights (for {name}); "
                        "build the model untrained and train it, or load your own checkpoint")
    return build_model(load_spec(model, resolution=resolution), num_classes=num_classes, **overrides)
