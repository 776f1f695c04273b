"""Fashion-MNIST end to end: DeepMAD-R18 vs ResNet-18, same recipe and epochs, through ``fit``.

Both models train on the full 60k / 10k split (or subsets for a reduced CPU run) with one recipe:
SGD-Nesterov, cosine with 1 warm-up epoch, label smoothing 0.1, random crop (padding 3) + flip,
resize to ``--resolution``. With ``--time-budget S`` the number of epochs is chosen so that both
runs together take about ``S`` seconds: each model's step time is probed first on synthetic
batches, and the same epoch count is used for both.

GPU:  python benchmarks/train_fashion_mnist.py --device cuda --time-budget 240 --out results/fmnist
CPU:  python benchmarks/train_fashion_mnist.py --device cpu --epochs 2 --train-subset 10000 --out results/fmnist_cpu
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from deepmad.cost import count_network
from deepmad.models import create_model
from deepmad.train.config import TrainConfig
from deepmad.train.loop import fit, train_step
from deepmad.train.optim import build_optimizer
from deepmad.train.tasks import ClassificationTask
from deepmad.utils.io import atomic_write_json, atomic_write_text


def probe_step_seconds(model_name: str, args: argparse.Namespace) -> float:
    """Seconds per training step of ``model_name`` at the recipe's settings (synthetic batch)."""
    dev = torch.device(args.device)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = create_model(model_name, num_classes=10, resolution=args.resolution).to(dev, memory_format=fmt)
    task = ClassificationTask(model, 0.1)
    opt = build_optimizer(model, "sgd", args.lr, 5e-4, fused=dev.type == "cuda")
    amp = torch.bfloat16 if args.amp == "bf16" else None
    x = torch.randn(args.batch_size, 3, args.resolution, args.resolution, device=dev).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (args.batch_size,), device=dev)
    for i in range(25):
        if i == 5:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        train_step(task, x, y, opt, amp_dtype=amp)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / 20


def choose_epochs(args: argparse.Namespace) -> tuple[int, dict[str, float]]:
    """Epochs that fit ``--time-budget`` for all models together (or ``--epochs``)."""
    if not args.time_budget:
        return args.epochs, {}
    steps = (args.train_subset or 60000) // args.batch_size
    probe = {m: probe_step_seconds(m, args) for m in args.models}
    per_epoch = sum(steps * s * 1.15 + 1.0 for s in probe.values())  # +15 % data / eval, +1 s per epoch
    return max(2, min(args.max_epochs, math.floor(args.time_budget / per_epoch))), probe


def run_one(model_name: str, epochs: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one model with the shared recipe; return its summary."""
    run_dir = args.runs_dir / model_name
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = TrainConfig(model=model_name, data="fashion-mnist", data_dir=args.data_dir, out=str(run_dir),
                      resolution=args.resolution, epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                      weight_decay=5e-4, warmup_epochs=1.0, label_smoothing=0.1, crop_padding=3, hflip=True,
                      amp=args.amp, channels_last=args.channels_last, device=args.device, seed=args.seed,
                      train_subset=args.train_subset, val_subset=args.val_subset, checkpoint_every=0,
                      progress=False)
    t0 = time.perf_counter()
    result = fit(cfg)
    wall = time.perf_counter() - t0
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    cost = count_network(create_model(model_name, num_classes=10, resolution=args.resolution).spec)
    for name in ("metrics.jsonl", "curves.png"):
        shutil.copy(run_dir / name, args.out / f"{model_name}_{name}")
    return {"model": model_name, "epochs": epochs, "final_top1": result.last["val_top1"],
            "best_top1": result.best_top1, "final_top5": result.last["val_top5"],
            "final_val_loss": result.last["val_loss"], "wall_s": wall,
            "median_train_img_per_s": sorted(r["train_img_per_s"] for r in records)[len(records) // 2],
            "params": cost.params, "macs": cost.macs, "layers": cost.layers}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["deepmad_r18", "resnet18"])
    p.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST idx files")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--amp", default="bf16", choices=("bf16", "off"))
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--time-budget", type=float, default=0.0, help="seconds for all runs; picks the epochs")
    p.add_argument("--max-epochs", type=int, default=40)
    p.add_argument("--train-subset", type=int, default=0)
    p.add_argument("--val-subset", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="folder for results.json, table.md, curves")
    p.add_argument("--runs-dir", type=Path, default=None, help="run directories (default OUT/runs)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs_dir = args.runs_dir or args.out / "runs"
    epochs, probe = choose_epochs(args)
    print(f"epochs {epochs}; probed s/step {probe}", flush=True)
    rows = []
    for m in args.models:
        rows.append(run_one(m, epochs, args))
        print(json.dumps(rows[-1]), flush=True)
        atomic_write_json(args.out / "results.json", {"args": {k: str(v) for k, v in vars(args).items()},
                                                      "probe_s_per_step": probe, "rows": rows})
    lines = [f"| model | params | MACs @{args.resolution} px | epochs | final top-1 | best top-1 | img/s | wall |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['model']} | {r['params'] / 1e6:.2f}M | {r['macs'] / 1e6:.1f}M | {r['epochs']} | "
              f"{r['final_top1']:.2f}% | {r['best_top1']:.2f}% | {r['median_train_img_per_s']:.0f} | "
              f"{r['wall_s']:.0f} s |" for r in rows]
    atomic_write_text(args.out / "table.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
