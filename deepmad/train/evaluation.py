"""Evaluate a saved checkpoint (``deepmad eval``): top-1 / top-5 / loss on a data set's test split.

The model, data set, resolution and normalisation default to what the checkpoint recorded, so
``deepmad eval --checkpoint RUN/best.pt`` needs nothing else for a deepmad run.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from deepmad.errors import DeepmadError
from deepmad.train.augment import BatchTransform
from deepmad.train.checkpoint import checkpoint_meta, read_torch_file, weights_from
from deepmad.train.data import load_dataset
from deepmad.train.distributed import DistContext, resolve_device
from deepmad.train.factory import build_network, load_state, model_in_channels, model_resolution
from deepmad.train.loop import evaluate
from deepmad.train.setup import amp_dtype_for

__all__ = ["evaluate_checkpoint"]


def evaluate_checkpoint(checkpoint: str | os.PathLike[str], model: str | None = None, data: str | None = None,
                        data_dir: str | None = None, resolution: int | None = None,
                        num_classes: int | None = None, batch_size: int = 256, device: str = "auto",
                        amp: str = "auto", weights: str = "model") -> dict[str, Any]:
    """Load ``checkpoint[weights]`` into its network and evaluate it on the test split.

    Args:
        checkpoint: a deepmad ``last.pt`` / ``best.pt`` or a bare state-dict file.
        model: preset or spec file; default: the spec saved in the checkpoint.
        data: ``--data`` value; default: the one the checkpoint was trained on.
        weights: ``model`` or ``ema`` (the EMA weights of a ``last.pt``).

    Returns:
        ``{"loss", "top1", "top5", "images", "model", "data", "resolution"}``.
    """
    if batch_size < 1:
        raise DeepmadError(f"batch_size={batch_size!r} is invalid; expected an integer >= 1")
    obj = read_torch_file(checkpoint)
    meta = checkpoint_meta(obj, checkpoint)
    state = weights_from(obj, checkpoint, key=weights)
    cfg = meta.get("config") or {}
    data = data or cfg.get("data")
    if data is None:
        raise DeepmadError(f"checkpoint {checkpoint} does not record its data set; give the data set to evaluate on")
    resolution = resolution or (meta.get("resolved") or {}).get("resolution") or cfg.get("resolution")
    ds = load_dataset(data, data_dir or cfg.get("data_dir"), size=resolution)
    num_classes = num_classes or (meta.get("data") or {}).get("num_classes") or ds.num_classes
    net = _network(model, cfg, meta, num_classes, resolution)
    load_state(net, state, checkpoint)
    dev = resolve_device(device)
    net.to(dev)
    resolution = resolution or model_resolution(net, ds.image_size)
    stats = meta.get("data") or {}
    transform = BatchTransform(tuple(stats.get("mean", ds.mean)), tuple(stats.get("std", ds.std)),
                               resolution, model_in_channels(net))
    res = evaluate(net, ds.val, transform, DistContext(device=dev), batch_size, amp_dtype_for(amp, dev))
    return {**res, "images": len(ds.val), "model": model or cfg.get("model"), "data": data,
            "resolution": resolution}


def _network(model: str | None, cfg: dict[str, Any], meta: dict[str, Any], num_classes: int,
             resolution: int | None) -> torch.nn.Module:
    if model is not None:
        return build_network(model, num_classes, resolution)
    if meta.get("model_spec"):
        from deepmad.spec import NetworkSpec

        return build_network(NetworkSpec.from_dict(meta["model_spec"]), num_classes, resolution)
    if cfg.get("model"):
        return build_network(cfg["model"], num_classes, resolution)
    raise DeepmadError("the checkpoint does not record its network; give the model (a preset or a spec file)")
