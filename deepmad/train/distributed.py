"""Data-parallel training under ``torchrun`` (PyTorch's own launcher; no home-made one).

``torchrun --nproc_per_node N -m deepmad.train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`init_distributed` reads them and joins the process group with NCCL on
CUDA and gloo on CPU (Li et al., "PyTorch Distributed: Experiences on Accelerating Data
Parallel Training", VLDB 2020, arXiv 2006.15704). Without those variables the run is a single
process.

``torch.nn.SyncBatchNorm`` only runs on accelerators; :class:`GlooSyncBatchNorm` computes the
same global batch statistics on CPU with differentiable all-reduces, which is what lets a
2-process CPU run equal a 1-process run of the same global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from deepmad.errors import DeepmadError

__all__ = [
    "DistContext", "init_distributed", "cleanup", "resolve_device", "all_reduce_sum", "any_rank",
    "gather_objects", "GlooSyncBatchNorm", "convert_sync_batchnorm",
]


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None  # "nccl" / "gloo" when a process group is initialised

    @property
    def is_main(self) -> bool:
        """Rank 0 logs and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group is initialised (even with one process)."""
        return self.backend is not None


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA if available else CPU; ``cuda`` -> this process's GPU."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise DeepmadError("device='cuda' was asked for but torch.cuda.is_available() is False; use device 'cpu'")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(preference: str = "auto") -> DistContext:
    """Join the process group when launched by ``torchrun``; else return a single-process context."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistContext(device=resolve_device(preference))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(preference, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=device, backend=backend)


def cleanup(ctx: DistContext, synchronise: bool = True) -> None:
    """Leave the process group; with ``synchronise``, all processes leave together.

    The barrier keeps a fast process from closing its connections while another still tears
    down its own (gloo can abort on a peer that vanished). It is skipped after an error, when
    the other processes may never reach it.
    """
    if ctx.distributed and dist.is_initialized():
        if synchronise and ctx.world_size > 1:
            dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over all processes (in place; returned for chaining)."""
    if ctx.distributed and ctx.world_size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every process if ``flag`` is true on any (a collective call)."""
    if not (ctx.distributed and ctx.world_size > 1):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every process's ``obj``, in rank order (a collective call)."""
    if not (ctx.distributed and ctx.world_size > 1):
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


class _AllReduceSum(torch.autograd.Function):
    """Differentiable all-reduce: the sum in the forward pass, and the sum of gradients back."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class GlooSyncBatchNorm(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics span all processes; works on CPU / gloo.

    With ``n`` the global element count per channel: ``mu = (1/n) sum x``,
    ``sigma^2 = (1/n) sum (x - mu)^2`` (two all-reduces, both differentiable), and the running
    variance gets the unbiased ``sigma^2 * n / (n - 1)``, as ``F.batch_norm`` does.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        xf = x.float()
        n_local = torch.tensor([xf.numel() / xf.shape[1]], dtype=torch.float32, device=x.device)
        dist.all_reduce(n_local)
        n = n_local.item()
        mean = all_reduce(xf.sum((0, 2, 3))) / n
        centred = xf - mean[None, :, None, None]
        var = all_reduce((centred * centred).sum((0, 2, 3))) / n
        y = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * (n / max(n - 1.0, 1.0)))
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        self.num_batches_tracked += 1
        m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.mul_(1.0 - m).add_(mean, alpha=m)
        self.running_var.mul_(1.0 - m).add_(var, alpha=m)


def _to_gloo_sync(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, GlooSyncBatchNorm):
        out = GlooSyncBatchNorm(module.num_features, module.eps, module.momentum,
                                module.affine, module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _to_gloo_sync(child))
    return out


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Swap every ``BatchNorm2d`` for a synchronised one (state-dict keys are unchanged)."""
    if device.type == "cpu":
        return _to_gloo_sync(model)
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)
