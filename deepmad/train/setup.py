"""Build a :class:`~deepmad.train.loop.Run` from a :class:`TrainConfig`, fresh or resumed.

Order matters for exact resumption: seed, build the model (same initial weights on every
process), build optimiser / scheduler / EMA / task, then either load ``last.pt`` (weights, states,
position, RNG) or give each process its own RNG stream, and only then wrap the model in DDP
and ``torch.compile``.
"""

from __future__ import annotations

import copy
import os
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepmad.errors import DeepmadError
from deepmad.train import checkpoint as ckpt_io
from deepmad.train.augment import BatchTransform, step_seed
from deepmad.train.config import TrainConfig
from deepmad.train.data import Dataset, ImageSet, load_dataset, steps_per_epoch
from deepmad.train.distributed import DistContext, convert_sync_batchnorm
from deepmad.train.factory import (
    build_network,
    load_network,
    load_state,
    model_in_channels,
    model_resolution,
)
from deepmad.train.loop import Run, TrainState, write_metrics_file
from deepmad.train.optim import ModelEma, build_optimizer, build_scheduler
from deepmad.train.tasks import ClassificationTask, DistillationTask, TrainingTask
from deepmad.utils.io import atomic_write_json, check_output

__all__ = ["setup_run", "amp_dtype_for", "seed_all"]


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def amp_dtype_for(amp: str, device: torch.device) -> torch.dtype | None:
    """``auto`` -> bf16 on CUDA and off on CPU; fp16 only on CUDA."""
    if amp == "auto":
        amp = "bf16" if device.type == "cuda" else "off"
    if amp == "fp16" and device.type != "cuda":
        raise DeepmadError("amp='fp16' needs a CUDA device; use amp 'bf16' or 'off' on CPU")
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def _check_out(config: TrainConfig) -> Path:
    """The run directory, checked (not created: that waits until the run can start)."""
    if not config.out:
        raise DeepmadError("out (the run directory) is required")
    out = Path(config.out)
    last = out / "last.pt"
    if out.exists() and not out.is_dir():
        raise DeepmadError(f"cannot use {out} as the run directory: it is a file")
    if config.resume and not last.is_file():
        raise DeepmadError(f"resume: {last} does not exist; start a new run instead (resume off)")
    if not config.resume and last.exists():
        raise DeepmadError(f"{out} already holds a run (last.pt); resume it or use another run directory")
    check_output(last, "the run directory's last.pt")
    if config.init_from is not None and not config.resume:
        ckpt_io.check_checkpoint_path(config.init_from)  # loaded (and checked) with the model, before the run directory
    return out


def init_from_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> list[str]:
    """Load the ``model`` weights of ``path`` (a deepmad checkpoint or state dict) into ``model``.

    For fine-tuning: a classifier (``fc.*``) of another shape (a new number of classes) keeps
    its fresh initialisation; every other tensor must fit. Returns the names left fresh.
    """
    state = ckpt_io.load_weights(path)
    own = model.state_dict()
    fresh = [k for k in own if k.startswith("fc.") and k in state and state[k].shape != own[k].shape]
    load_state(model, {**state, **{k: own[k] for k in fresh}}, path)
    return fresh


def _configure_backends(config: TrainConfig, ctx: DistContext) -> None:
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def _load_data(config: TrainConfig, model: nn.Module | None, dataset: Dataset | None) -> Dataset:
    if dataset is None:
        size = config.resolution
        if size is None and model is None:
            from deepmad.spec import load_spec

            size = load_spec(config.model).resolution
        dataset = load_dataset(config.data, config.data_dir, size=size,
                               train_subset=config.train_subset, val_subset=config.val_subset)
    return dataset


def _to_device(data: Dataset, device: torch.device) -> Dataset:
    if device.type == "cpu":
        return data
    return replace(data, train=ImageSet(data.train.images.to(device), data.train.labels.to(device)),
                   val=ImageSet(data.val.images.to(device), data.val.labels.to(device)))


def _build_task(config: TrainConfig, model: nn.Module, num_classes: int, resolution: int,
                ctx: DistContext) -> TrainingTask:
    if config.teacher is None:
        return ClassificationTask(model, config.label_smoothing)
    teacher = load_network(config.teacher_model, config.teacher, num_classes, resolution)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    teacher.to(ctx.device, memory_format=memory_format)
    if config.kd == "weak":
        from deepmad.train.wld import build_weak_task

        return build_weak_task(config, model, teacher)
    return DistillationTask(model, teacher, kd_weight=config.kd_weight, temperature=config.kd_temperature,
                            label_smoothing=config.label_smoothing)


def _build_model(config: TrainConfig, ctx: DistContext, model: nn.Module | None, num_classes: int) -> nn.Module:
    if model is None:
        model = build_network(config.model, num_classes, config.resolution)
    if config.sync_bn and ctx.world_size > 1:
        model = convert_sync_batchnorm(model, ctx.device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    return model.to(ctx.device, memory_format=memory_format)


def setup_run(config: TrainConfig, ctx: DistContext, model: nn.Module | None = None,
              dataset: Dataset | None = None) -> Run:
    """Everything :func:`~deepmad.train.loop.fit` needs, restored from ``last.pt`` on ``--resume``."""
    out = _check_out(config)
    _configure_backends(config, ctx)
    seed_all(config.seed)
    data = _load_data(config, model, dataset)
    num_classes = config.num_classes or data.num_classes
    top_label = int(max(data.train.labels.max(), data.val.labels.max()))
    if top_label >= num_classes:
        raise DeepmadError(f"num_classes={num_classes} is too small: the data has label {top_label}")
    model = _build_model(config, ctx, model, num_classes)
    if config.init_from is not None and not config.resume:
        init_from_checkpoint(model, config.init_from)
    resolution = config.resolution or model_resolution(model, data.image_size)
    steps = steps_per_epoch(len(data.train), config.batch_size)
    if steps == 0:
        raise DeepmadError(f"batch_size={config.batch_size} exceeds the {len(data.train)} training images")
    optimizer = build_optimizer(model, config.optimizer, config.peak_lr, config.decay, config.momentum,
                                fused=ctx.device.type == "cuda")
    scheduler = build_scheduler(optimizer, config.epochs * steps, round(config.warmup_epochs * steps),
                                config.peak_lr, config.min_lr)
    amp_dtype = amp_dtype_for(config.amp, ctx.device)
    run = Run(
        config=config, ctx=ctx, data=_to_device(data, ctx.device), model=model,
        task=_build_task(config, model, num_classes, resolution, ctx), optimizer=optimizer,
        scheduler=scheduler, scaler=torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None,
        ema=ModelEma(model, config.ema_decay) if config.ema_decay > 0 else None,
        transform=BatchTransform(data.mean, data.std, resolution, model_in_channels(model), config.channels_last),
        padding=config.crop_padding if config.crop_padding is not None else data.image_size // 8,
        hflip=data.hflip if config.hflip is None else config.hflip,
        amp_dtype=amp_dtype, steps_per_epoch=steps, out=out,
    )
    run.meta = _meta(run, num_classes, resolution)
    if config.resume:
        _restore(run)
        write_metrics_file(run)
    else:
        torch.manual_seed(step_seed(config.seed, 1, ctx.rank))  # each process its own stream
    if ctx.distributed:
        run.task.prepare_distributed([ctx.device.index] if ctx.device.type == "cuda" else None)
    if config.compile:
        run.task.model = torch.compile(run.task.model)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)  # only now: every check above has passed
        atomic_write_json(out / "config.json", {"config": config.to_dict(), "resolved": run.meta["resolved"]})
    return run


def _meta(run: Run, num_classes: int, resolution: int) -> dict[str, Any]:
    spec = getattr(run.model, "spec", None)
    cfg, data = run.config, run.data
    return {
        "model_spec": spec.to_dict() if spec is not None and hasattr(spec, "to_dict") else None,
        "data": {"name": data.name, "num_classes": num_classes, "mean": list(data.mean),
                 "std": list(data.std), "channels": data.channels, "image_size": data.image_size},
        "resolved": {"lr": cfg.peak_lr, "weight_decay": cfg.decay, "amp": str(run.amp_dtype),
                     "resolution": resolution, "num_classes": num_classes, "world_size": run.ctx.world_size,
                     "steps_per_epoch": run.steps_per_epoch, "device": str(run.ctx.device),
                     "crop_padding": run.padding, "hflip": run.hflip},
    }


def _restore(run: Run) -> None:
    path = run.out / "last.pt"
    ck = ckpt_io.load_checkpoint(path)
    ckpt_io.check_compatible(ck, run.config, path)
    load_state(run.model, ck["model"], path)
    done = int((ck.get("state") or {}).get("epoch", 0))
    if run.config.epochs < done:
        raise DeepmadError(f"checkpoint {path} has {done} finished epochs; epochs={run.config.epochs} "
                           f"cannot continue it (expected >= {done})")
    planned = [copy.copy(fn) for fn in run.scheduler.lr_lambdas]  # this run's schedule (loading overwrites it)
    try:
        run.optimizer.load_state_dict(ck["optimizer"])
        run.scheduler.load_state_dict(ck["scheduler"])
        _replan(run, planned, ck["config"].get("epochs"))
        if run.scaler is not None:
            run.scaler.load_state_dict(ck["scaler"])
        if run.ema is not None:
            run.ema.load_state_dict(ck["ema"])
        run.state = TrainState(**ck["state"])
        _restore_ranks(run, ck["ranks"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise DeepmadError(f"checkpoint {path} is incompatible with this run ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:100] if str(exc) else ''})") from None


def _replan(run: Run, planned: list[Any], saved_epochs: int | None) -> None:
    """Keep the schedule of the new ``epochs`` on an extended resume (LambdaLR saves its lambdas)."""
    if saved_epochs == run.config.epochs:
        return
    run.scheduler.lr_lambdas = planned
    step = run.scheduler.last_epoch
    for group, base, fn in zip(run.optimizer.param_groups, run.scheduler.base_lrs, planned, strict=True):
        group["lr"] = base * fn(step)


def _restore_ranks(run: Run, ranks: list[dict[str, Any]]) -> None:
    ctx, dev = run.ctx, run.ctx.device
    keys = sorted({k for r in ranks for k in r["sums"]})
    if len(ranks) == ctx.world_size:
        sums = ranks[ctx.rank]["sums"]
    else:  # another world size: rank 0 carries the whole epoch's meters
        sums = {k: sum(r["sums"].get(k, 0.0) for r in ranks) if ctx.rank == 0 else 0.0 for k in keys}
    run.sums = {k: torch.tensor(float(sums.get(k, 0.0)), dtype=torch.float64, device=dev) for k in keys}
    if ctx.rank < len(ranks):
        ckpt_io.set_rng_state(ranks[ctx.rank]["rng"])
    else:
        torch.manual_seed(step_seed(run.config.seed, 2, ctx.rank, run.state.global_step))
