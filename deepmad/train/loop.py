"""The training loop: ``fit`` -> ``train_one_epoch`` / ``evaluate``, plain and short (nanoGPT style).

One step is ``out = task(x, y)`` under autocast, ``out["loss"].backward()`` (through the fp16
grad scaler when used), optional clipping, the optimiser and scheduler steps, then the EMA
update. ``last.pt`` is written every ``checkpoint_every`` steps, at the end of every epoch and
when SIGTERM / SIGINT arrives; ``best.pt`` when the validation top-1 improves. Everything that
decides the trajectory (batch order, augmentation, RNG states, meters) is either a function of
``(seed, epoch, step)`` or saved, so a resumed run continues exactly.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from deepmad.train import checkpoint as ckpt_io
from deepmad.train.augment import BatchTransform, sample_params, step_seed
from deepmad.train.config import TrainConfig
from deepmad.train.data import Dataset, ImageSet, epoch_batches
from deepmad.train.distributed import DistContext, all_reduce_sum, any_rank, gather_objects
from deepmad.train.tasks import Progress
from deepmad.utils.io import atomic_write_text

__all__ = ["TrainState", "Run", "FitResult", "fit", "train_one_epoch", "train_step", "evaluate"]


@dataclass
class TrainState:
    """Position and records of a run; saved in every checkpoint."""

    epoch: int = 0  # epoch in progress (0-based)
    step_in_epoch: int = 0  # optimiser steps done within that epoch
    global_step: int = 0  # optimiser steps done in total
    best_top1: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)  # one metrics record per epoch


@dataclass
class Run:
    """Everything a training run holds (built by :func:`deepmad.train.setup.setup_run`)."""

    config: TrainConfig
    ctx: DistContext
    data: Dataset
    model: nn.Module  # the unwrapped student: what checkpoints and evaluation use
    task: nn.Module  # ClassificationTask / DistillationTask, its model maybe DDP / compiled
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    ema: Any  # ModelEma or None
    transform: BatchTransform
    padding: int  # random-crop padding in source pixels
    hflip: bool
    amp_dtype: torch.dtype | None
    steps_per_epoch: int
    out: Path
    meta: dict[str, Any] = field(default_factory=dict)  # model_spec, data info: saved with weights
    timing: dict[str, float] = field(default_factory=dict)  # throughput of the last epoch
    state: TrainState = field(default_factory=TrainState)
    sums: dict[str, torch.Tensor] = field(default_factory=dict)  # running meters of the epoch


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns."""

    out: Path  # run directory
    epochs_done: int
    best_top1: float  # best validation top-1 (%), EMA included
    last: dict[str, Any]  # metrics of the last finished epoch ({} if none)
    interrupted: int | None = None  # the signal number when stopped by SIGTERM / SIGINT


def train_step(task: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
               scaler: torch.amp.GradScaler | None = None, amp_dtype: torch.dtype | None = None,
               clip_grad: float = 0.0) -> dict[str, torch.Tensor]:
    """One optimiser step: forward under autocast, backward (scaled for fp16), clip, step.

    Returns:
        The task's output dict (``loss``, ``output``, ...).
    """
    with torch.autocast(x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        out = task(x, y)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(out["loss"]).backward()
        scaler.unscale_(optimizer)
    else:
        out["loss"].backward()
    if clip_grad > 0:
        nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip_grad)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return out


def _train_step(run: Run, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    cfg, st = run.config, run.state
    run.task.set_progress(Progress(st.global_step, cfg.epochs * run.steps_per_epoch, run.steps_per_epoch))
    return train_step(run.task, x, y, run.optimizer, run.scheduler, run.scaler, run.amp_dtype, cfg.clip_grad)


def _accumulate(run: Run, out: dict[str, torch.Tensor], y: torch.Tensor) -> None:
    n = y.shape[0]
    with torch.no_grad():
        values = {k: v.detach().double() * n for k, v in out.items() if k != "output" and v.ndim == 0}
        values["correct"] = (out["output"].argmax(-1) == y).sum().double()
        values["count"] = torch.tensor(float(n), dtype=torch.float64)
        for k, v in values.items():
            v = v.to(run.ctx.device)
            run.sums[k] = run.sums[k] + v if k in run.sums else v


def _batch(run: Run, images: ImageSet, idx: torch.Tensor, seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    dev = run.ctx.device
    x = images.images[idx.to(images.images.device)].to(dev, non_blocking=True)
    y = images.labels[idx.to(images.labels.device)].to(dev, non_blocking=True)
    if seed is None:
        return run.transform(x), y
    params = sample_params(run.config.batch_size, run.padding, run.hflip, seed,
                           run.ctx.rank, run.ctx.world_size)
    return run.transform(x, params, run.padding), y


def train_one_epoch(run: Run, stop: ckpt_io.GracefulStop) -> bool:
    """Train the rest of epoch ``run.state.epoch``; False if stopped by a signal (checkpoint saved)."""
    cfg, st, ctx = run.config, run.state, run.ctx
    batches = epoch_batches(len(run.data.train), cfg.batch_size, st.epoch, cfg.seed, ctx.rank, ctx.world_size)
    run.task.train()
    bar = tqdm(total=len(batches), initial=st.step_in_epoch, desc=f"epoch {st.epoch + 1}/{cfg.epochs}",
               unit="step", disable=not (ctx.is_main and cfg.progress), dynamic_ncols=True, leave=False)
    start, t0 = st.step_in_epoch, time.perf_counter()
    for i in range(st.step_in_epoch, len(batches)):
        x, y = _batch(run, run.data.train, batches[i], step_seed(cfg.seed, st.epoch, i))
        out = _train_step(run, x, y)
        _accumulate(run, out, y)
        if run.ema is not None:
            run.ema.update(run.model, st.global_step)
        st.step_in_epoch, st.global_step = i + 1, st.global_step + 1
        if cfg.checkpoint_every and st.global_step % cfg.checkpoint_every == 0:
            save_last(run)
        poll = not ctx.distributed or st.global_step % 10 == 0
        if poll and any_rank(stop.requested, ctx):
            save_last(run)
            bar.close()
            return False
        bar.update(1)
        if i % 20 == 0 and not bar.disable:
            bar.set_postfix(loss=f"{out['loss'].item():.4f}", lr=f"{run.optimizer.param_groups[0]['lr']:.3g}")
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)
    elapsed = time.perf_counter() - t0
    run.timing["epoch_time_s"] = elapsed
    run.timing["img_per_s"] = (len(batches) - start) * cfg.batch_size / max(elapsed, 1e-9)
    bar.close()
    return True


@torch.no_grad()
def evaluate(model: nn.Module, images: ImageSet, transform: BatchTransform, ctx: DistContext,
             batch_size: int = 256, amp_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Cross-entropy, top-1 and top-5 (%) of ``model`` on ``images``, sharded over processes."""
    was_training = model.training
    model.eval()
    idx = torch.arange(ctx.rank, len(images), ctx.world_size)
    sums = torch.zeros(4, dtype=torch.float64, device=ctx.device)  # loss, top1, top5, count
    local_batch = max(batch_size // ctx.world_size, 1)
    for chunk in idx.split(local_batch):
        x = transform(images.images[chunk].to(ctx.device))
        y = images.labels[chunk].to(ctx.device)
        with torch.autocast(ctx.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(x)
        logits = logits.float()
        top = logits.topk(min(5, logits.shape[-1]), dim=-1).indices
        hit = top == y[:, None]
        sums += torch.stack([F.cross_entropy(logits, y, reduction="sum").double(),
                             hit[:, 0].sum().double(), hit.any(-1).sum().double(),
                             torch.tensor(float(len(chunk)), dtype=torch.float64, device=ctx.device)])
    all_reduce_sum(sums, ctx)
    loss, top1, top5, n = sums.tolist()
    model.train(was_training)
    return {"loss": loss / max(n, 1), "top1": 100.0 * top1 / max(n, 1), "top5": 100.0 * top5 / max(n, 1)}


def _epoch_record(run: Run) -> dict[str, Any]:
    cfg, ctx = run.config, run.ctx
    sums = torch.stack([v for _, v in sorted(run.sums.items())])
    all_reduce_sum(sums, ctx)
    totals = dict(zip(sorted(run.sums), sums.tolist(), strict=True))
    count = max(totals.pop("count", 1.0), 1.0)
    rec: dict[str, Any] = {"epoch": run.state.epoch + 1, "step": run.state.global_step,
                           "lr": run.optimizer.param_groups[0]["lr"]}
    rec.update({f"train_{k}": v / count for k, v in totals.items() if k != "correct"})
    rec["train_top1"] = 100.0 * totals.get("correct", 0.0) / count
    ev = evaluate(run.model, run.data.val, run.transform, ctx, cfg.eval_batch_size, run.amp_dtype)
    rec.update({f"val_{k}": v for k, v in ev.items()})
    if run.ema is not None:
        ev = evaluate(run.ema.module, run.data.val, run.transform, ctx, cfg.eval_batch_size, run.amp_dtype)
        rec.update({f"ema_val_{k}": v for k, v in ev.items()})
    rec["train_img_per_s"] = run.timing.get("img_per_s", 0.0)
    rec["epoch_time_s"] = run.timing.get("epoch_time_s", 0.0)
    return rec


def _finish_epoch(run: Run) -> dict[str, Any]:
    rec = _epoch_record(run)
    st = run.state
    best_source = "ema" if run.ema is not None and rec["ema_val_top1"] > rec["val_top1"] else "model"
    top1 = rec["ema_val_top1"] if best_source == "ema" else rec["val_top1"]
    st.epoch, st.step_in_epoch = st.epoch + 1, 0
    st.history.append(rec)
    run.sums = {}
    if top1 > st.best_top1:
        st.best_top1 = top1
        if run.ctx.is_main:
            weights = run.ema.state_dict() if best_source == "ema" else run.model.state_dict()
            ckpt_io.save_checkpoint(run.out / "best.pt", {
                "model": weights, "source": best_source, "epoch": st.epoch, "metrics": rec,
                "config": run.config.to_dict(), **run.meta})
    save_last(run)
    if run.ctx.is_main:
        with (run.out / "metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
    return rec


def save_last(run: Run) -> None:
    """Write ``last.pt`` (collective: every process contributes its RNG state and meters)."""
    per_rank = {"rng": ckpt_io.rng_state(), "sums": {k: float(v) for k, v in run.sums.items()}}
    ranks = gather_objects(per_rank, run.ctx)
    if not run.ctx.is_main:
        return
    st = run.state
    ckpt_io.save_checkpoint(run.out / "last.pt", {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler is not None else None,
        "ema": run.ema.state_dict() if run.ema is not None else None,
        "state": {"epoch": st.epoch, "step_in_epoch": st.step_in_epoch, "global_step": st.global_step,
                  "best_top1": st.best_top1, "history": st.history},
        "ranks": ranks,
        "world_size": run.ctx.world_size,
        "config": run.config.to_dict(),
        **run.meta,
    })


def write_metrics_file(run: Run) -> None:
    """Rewrite ``metrics.jsonl`` from the history (on resume, dropping records after the checkpoint)."""
    if run.ctx.is_main:
        text = "".join(json.dumps(r) + "\n" for r in run.state.history)
        atomic_write_text(run.out / "metrics.jsonl", text)


def fit(config: TrainConfig, model: nn.Module | None = None, dataset: Dataset | None = None) -> FitResult:
    """Train ``config.model`` (or ``model``) on ``config.data`` (or ``dataset``); see ``docs/training.md``."""
    from deepmad.train.distributed import cleanup, init_distributed
    from deepmad.train.setup import setup_run

    ctx = init_distributed(config.device)
    finished = False
    try:
        with ckpt_io.GracefulStop() as stop:
            run = setup_run(config, ctx, model, dataset)
            result = _fit_loop(run, stop)
        finished = True
        return result
    finally:
        cleanup(ctx, synchronise=finished)


def _fit_loop(run: Run, stop: ckpt_io.GracefulStop) -> FitResult:
    cfg, st = run.config, run.state
    while st.epoch < cfg.epochs:
        if not train_one_epoch(run, stop):
            return FitResult(run.out, st.epoch, st.best_top1, st.history[-1] if st.history else {},
                             interrupted=stop.signum)
        rec = _finish_epoch(run)
        if run.ctx.is_main:
            tqdm.write(_summary_line(rec, cfg.epochs))
    if run.ctx.is_main and st.history:
        from deepmad.train.plot import plot_run

        plot_run(run.out)
    return FitResult(run.out, st.epoch, st.best_top1, st.history[-1] if st.history else {})


def _summary_line(rec: dict[str, Any], epochs: int) -> str:
    line = (f"epoch {rec['epoch']}/{epochs}  train_loss {rec['train_loss']:.4f}  "
            f"val_loss {rec['val_loss']:.4f}  top1 {rec['val_top1']:.2f}  top5 {rec['val_top5']:.2f}")
    if "ema_val_top1" in rec:
        line += f"  ema_top1 {rec['ema_val_top1']:.2f}"
    return line + f"  {rec['train_img_per_s']:.0f} img/s  {rec['epoch_time_s']:.1f}s"
