"""Training throughput (img/s) and MFU of the real training step, per precision / layout / compile mode.

Each measurement runs :func:`deepmad.train.loop.train_step` (ClassificationTask with label
smoothing, fused SGD-Nesterov on CUDA, autocast) on synthetic batches already on the device, so
it times the model and optimiser, not data loading. Modes:

- ``fp32``: fp32 eager with TF32 disabled (true fp32 arithmetic);
- ``tf32``: fp32 eager with PyTorch's defaults (cuDNN convolutions may use TF32);
- ``bf16_cl``: bf16 autocast + channels_last, eager;
- ``bf16_cl_compile``: the same under ``torch.compile``.

MFU = 3 x (forward FLOPs per image, from :func:`deepmad.cost.count_network`, = 2 x MACs) x img/s
/ the GPU's dense bf16 peak (forward + backward ~ 3 x forward; Kaplan et al., arXiv 2001.08361,
Sec. 2.1; nanoGPT's ``estimate_mfu``).

GPU:  python benchmarks/train_throughput.py --device cuda --out results.json
CPU:  python benchmarks/train_throughput.py --device cpu --resolution 64 --batch-size 32 --modes fp32 \
          --threads 1 --clock cpu
``--clock cpu`` times with the process's CPU time instead of the wall clock: on a machine shared
with other jobs, img/s per CPU-second of one thread is what stays comparable.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from deepmad.cost import count_network
from deepmad.models import create_model
from deepmad.train.loop import train_step
from deepmad.train.optim import build_optimizer
from deepmad.train.tasks import ClassificationTask
from deepmad.utils.io import atomic_write_json

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s, from NVIDIA's data sheets.
PEAK_BF16 = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12, "L40S": 362.05e12, "A10": 125e12}
MODES = ("fp32", "tf32", "bf16_cl", "bf16_cl_compile")


def gpu_peak(name: str) -> float | None:
    """Dense bf16 peak of the GPU called ``name`` (None if unknown)."""
    for key, peak in PEAK_BF16.items():
        if key in name:
            return peak
    return None


def measure(model_name: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """img/s of ``args.steps`` training steps after ``args.warmup`` untimed ones."""
    dev = torch.device(args.device)
    channels_last = mode.startswith("bf16_cl")
    amp = torch.bfloat16 if mode.startswith("bf16") else None
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    torch.backends.cudnn.allow_tf32 = mode == "tf32"
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=1000, resolution=args.resolution)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(dev, memory_format=fmt)
    task = ClassificationTask(model, label_smoothing=0.1)
    opt = build_optimizer(model, "sgd", 0.1, 5e-5, fused=dev.type == "cuda")
    if mode.endswith("compile"):
        task.model = torch.compile(task.model)
    x = torch.randn(args.batch_size, 3, args.resolution, args.resolution, device=dev).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (args.batch_size,), device=dev)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    t_start = clock()
    for _ in range(args.warmup):
        train_step(task, x, y, opt, amp_dtype=amp)
    _sync(dev)
    t_warm = clock() - t_start
    t0 = clock()
    for _ in range(args.steps):
        out = train_step(task, x, y, opt, amp_dtype=amp)
    _sync(dev)
    seconds = clock() - t0
    loss = float(out["loss"])
    img_s = args.steps * args.batch_size / seconds
    flops = count_network(model.spec).flops  # forward FLOPs per image, 2 x MACs
    peak = gpu_peak(torch.cuda.get_device_name(dev)) if dev.type == "cuda" else None
    return {"model": model_name, "mode": mode, "img_per_s": img_s, "step_ms": 1e3 * seconds / args.steps,
            "warmup_s": t_warm, "gflops_per_img": flops / 1e9, "loss": loss,
            "mfu": 3 * flops * img_s / peak if peak else None,
            "max_mem_gb": torch.cuda.max_memory_allocated(dev) / 1e9 if dev.type == "cuda" else None}


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["deepmad_r50", "resnet50"])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--clock", default="wall", choices=("wall", "cpu"), help="cpu: process CPU time")
    p.add_argument("--out", type=Path, default=Path("train_throughput.json"))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    info = {"torch": torch.__version__, "python": platform.python_version(), "device": args.device,
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
            "cpu_threads": torch.get_num_threads(), "resolution": args.resolution,
            "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup, "clock": args.clock}
    rows: list[dict[str, Any]] = []
    for name in args.models:
        for mode in args.modes:
            try:
                row = measure(name, mode, args)
            except torch.cuda.OutOfMemoryError:
                row = {"model": name, "mode": mode, "error": "out of memory"}
            rows.append(row)
            print(json.dumps(row), flush=True)
            atomic_write_json(args.out, {"info": info, "rows": rows})  # partial results survive a timeout
            if args.device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            torch._dynamo.reset()
    for name in args.models:
        base = next((r for r in rows if r["model"] == name and r["mode"] == "fp32" and "img_per_s" in r), None)
        for r in rows:
            if base and r["model"] == name and "img_per_s" in r:
                print(f"{name:12s} {r['mode']:16s} {r['img_per_s']:9.1f} img/s  x{r['img_per_s'] / base['img_per_s']:.2f}"
                      + (f"  MFU {100 * r['mfu']:.1f}%" if r.get("mfu") else ""))


if __name__ == "__main__":
    main()
