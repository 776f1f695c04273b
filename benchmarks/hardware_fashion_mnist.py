"""Hardware-aware design on Fashion-MNIST: accuracy at equal measured train-step cost (issue #19, 3).

Every step goes through the CLI a user would run, and each is skipped when its output is already
in ``--out`` (rerun the same command to continue after an interruption):

1. ``calibrate``: ``deepmad calibrate --mode train --batch B --resolution R --threads 1
   --space resnet`` (thread CPU time, 1 thread) -> ``OUT/cal_train.json``.
2. ``baseline``: the ``resnet18`` preset's layout at R px for 1-channel images and 10 classes
   -> ``OUT/baseline.json``; its training step is timed on this CPU (train mode, batch B, the
   calibration's clock): the budget.
3. ``design``: ``deepmad design --space resnet --resolution R --in-channels 1 --num-classes 10
   --throughput 1000 B / t_baseline --calibration OUT/cal_train.json --measure --resolve-measured 2``
   -> ``OUT/design.json`` (re-solved at a tightened model budget while measured above the budget);
   then both training steps are timed again side by side, alternating, ``--rounds`` times.
4. ``train``: both networks x ``--seeds`` with one recipe (:func:`deepmad.train.fit`: full
   60k / 10k, SGD-Nesterov, cosine with 1 warm-up epoch, label smoothing 0.1, crop + flip, fp32,
   ``--threads`` torch threads), alternating design / baseline per seed; one JSON line per run in
   ``OUT/runs.jsonl``.
5. the table (mean +- std over seeds) -> ``OUT/table.md``.

    python benchmarks/hardware_fashion_mnist.py --out runs/hw_fmnist --epochs 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from deepmad.cost import count_network
from deepmad.hardware import Calibration
from deepmad.hardware.campaign import time_like
from deepmad.models import create_model
from deepmad.spec import load_spec_json, save_spec_json
from deepmad.train.config import TrainConfig
from deepmad.train.loop import fit
from deepmad.utils.io import atomic_write_json, atomic_write_text

NETS = ("design", "baseline")


def _cli(*args: str) -> None:
    cmd = [sys.executable, "-m", "deepmad.cli.main", *args]
    print("$ deepmad " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def calibrate(out: Path, args: argparse.Namespace) -> Path:
    cal = out / "cal_train.json"
    if not cal.exists():
        _cli("calibrate", "--mode", "train", "--batch", str(args.batch_size), "--threads", "1",
             "--resolution", str(args.resolution), "--space", "resnet", "--networks", str(args.networks),
             "--passes", "2", "--time-budget", str(args.calibration_seconds), "--max-macs", "8e9",
             "--output", str(cal))
    return cal


def baseline(out: Path, args: argparse.Namespace) -> Path:
    path = out / "baseline.json"
    if not path.exists():
        spec = create_model("resnet18", num_classes=10, resolution=args.resolution, in_channels=1).spec
        save_spec_json(spec, path)
    return path


def step_ms(cal: Calibration, path: Path) -> float:
    """One timing of the training step, as the calibration times (its settings and clock, and its
    reference network when it has one)."""
    return time_like(cal, load_spec_json(path), target_s=1.0).ms


def design(out: Path, cal_path: Path, base: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The budget (baseline's measured step), the design, and both steps timed side by side."""
    summary = out / "timing.json"
    if summary.exists():
        return json.loads(summary.read_text())
    cal = Calibration.load(cal_path)
    budget_ms = statistics.median(step_ms(cal, base) for _ in range(3))
    img_s = 1000.0 * args.batch_size / budget_ms
    path = out / "design.json"
    if not path.exists():
        _cli("design", "--space", "resnet", "--resolution", str(args.resolution), "--in-channels", "1",
             "--num-classes", "10", "--throughput", f"{img_s:.4f}", "--calibration", str(cal_path),
             "--time-limit", str(args.time_limit), "--measure", "--resolve-measured", "2",
             "--output", str(path))
    times: dict[str, list[float]] = {n: [] for n in NETS}
    for _ in range(args.rounds):
        for name in NETS:
            times[name].append(step_ms(cal, out / f"{name}.json"))
    result = json.loads(path.read_text())
    info = {"budget_ms": budget_ms, "budget_img_s": img_s, "status": result["solver"]["status"],
            "gap": result["solver"]["gap"], "objective": result["objective"],
            "rounds": result.get("latency", {}).get("rounds"),
            "step_ms": times, "predicted_ms": {n: cal.predict(load_spec_json(out / f"{n}.json")).total_ms
                                               for n in NETS}}
    atomic_write_json(summary, info)
    return info


def train(out: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    log = out / "runs.jsonl"
    done = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        for name in NETS:
            if any(r["net"] == name and r["seed"] == seed for r in done):
                continue
            done.append(_train_one(out, name, seed, args))
            atomic_write_text(log, "".join(json.dumps(r) + "\n" for r in done))
            print(json.dumps(done[-1]), flush=True)
    return done


def _train_one(out: Path, name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    run_dir = out / "runs" / f"{name}_s{seed}"
    cfg = TrainConfig(model=str(out / f"{name}.json"), data="fashion-mnist", data_dir=args.data_dir,
                      out=str(run_dir), resolution=args.resolution, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, weight_decay=5e-4, warmup_epochs=1.0,
                      label_smoothing=0.1, crop_padding=3, hflip=True, amp="off", device="cpu",
                      seed=seed, checkpoint_every=0, progress=False)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = fit(cfg)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    cost = count_network(load_spec_json(out / f"{name}.json"))
    return {"net": name, "seed": seed, "epochs": args.epochs, "top1": result.last["val_top1"],
            "wall_s_per_epoch": wall / args.epochs, "cpu_s_per_epoch": cpu / args.epochs,
            "params": cost.params, "macs": cost.macs, "layers": cost.layers}


def _ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def table(runs: list[dict[str, Any]], timing: dict[str, Any]) -> str:
    lines = ["| network | params | MACs | layers | predicted step | measured step (median) | "
             "top-1 (mean ± std) | wall s / epoch | CPU s / epoch | seeds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in NETS:
        rows = [r for r in runs if r["net"] == name]
        if not rows:
            continue
        r0 = rows[0]
        lines.append(
            f"| {name} | {r0['params'] / 1e6:.2f}M | {r0['macs'] / 1e6:.1f}M | {r0['layers']} | "
            f"{timing['predicted_ms'][name]:.0f} ms | {statistics.median(timing['step_ms'][name]):.0f} ms | "
            f"{_ms([r['top1'] for r in rows])} % | {_ms([r['wall_s_per_epoch'] for r in rows])} | "
            f"{_ms([r['cpu_s_per_epoch'] for r in rows])} | {len(rows)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--networks", type=int, default=100, help="calibration networks")
    p.add_argument("--calibration-seconds", type=float, default=300)
    p.add_argument("--time-limit", type=float, default=30, help="design solver seconds")
    p.add_argument("--rounds", type=int, default=3, help="side-by-side step timings per network")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1, help="torch threads while training")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cal = calibrate(args.out, args)
    timing = design(args.out, cal, baseline(args.out, args), args)
    print(json.dumps(timing), flush=True)
    runs = train(args.out, args)
    text = table(runs, timing)
    atomic_write_text(args.out / "table.md", text)
    print(text)


if __name__ == "__main__":
    main()
