"""IC networks on Fashion-MNIST: plain ResNet-18 vs IC-ResNet-18 vs IC-ResNet-18 with WLD.

The IC unit (``conv="ic"``) and the weak distillation (``--kd weak``) are the project's own
designs meeting the abstract of An et al., arXiv 2102.03495, whose formulas were not available
(``docs/ic_networks.md``); nothing here is a reproduction of the paper.

Per seed: train ``resnet18`` (plain), ``ic_resnet18`` from scratch, and ``ic_resnet18`` with
WLD from that seed's trained plain model (optionally also with ``--init-from-teacher``), all with
the same recipe through :func:`deepmad.train.loop.fit`. Reports final top-1 mean +- std over
seeds, epochs to reach the same seed's plain final top-1, and the IC unit's MACs / params /
throughput overhead (throughput measured alone, before training, on synthetic batches).

GPU (seeds run as parallel processes on the one GPU):
    python benchmarks/ic_fashion_mnist.py --device cuda --epochs 15 --parallel 3 --out runs/icf
CPU, reduced recipe:
    python benchmarks/ic_fashion_mnist.py --device cpu --epochs 4 --train-subset 6000 \
        --val-subset 2000 --resolution 28 --out runs/icf_cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

from deepmad.cost import count_network
from deepmad.models import create_model
from deepmad.spec import get_preset
from deepmad.train.config import TrainConfig
from deepmad.train.loop import fit

VARIANTS = {  # name -> (model, TrainConfig overrides); "teacher" is filled in per seed
    "plain": ("resnet18", {}),
    "ic": ("ic_resnet18", {}),
    "ic_wld": ("ic_resnet18", {"kd": "weak"}),
    "ic_wld_init": ("ic_resnet18", {"kd": "weak", "init_from_teacher": True}),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for results.json, table.md and the runs")
    p.add_argument("--runs-dir", help="where run directories go (default OUT/runs)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=["plain", "ic", "ic_wld"], choices=list(VARIANTS))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--train-subset", type=int, default=0)
    p.add_argument("--val-subset", type=int, default=0)
    p.add_argument("--data-dir", help="Fashion-MNIST folder (default: its standard location)")
    p.add_argument("--kd-weight", type=float, default=1.0)
    p.add_argument("--kd-end", type=float, default=0.5)
    p.add_argument("--kd-schedule", default="cosine")
    p.add_argument("--kd-temperature", type=float, default=4.0)
    p.add_argument("--parallel", type=int, default=1, help="seeds trained at once (processes)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads per process (0 = default)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of the throughput measurement")
    p.add_argument("--speed-only", action="store_true", help="only measure throughput into OUT/speed.json")
    p.add_argument("--summarize", action="store_true",
                   help="only rebuild results.json / table.md from OUT/speed.json and OUT/partial_s*.json")
    return p.parse_args(argv)


def _config(args: argparse.Namespace, variant: str, seed: int, runs: Path) -> TrainConfig:
    model, extra = VARIANTS[variant]
    extra = dict(extra)
    if "kd" in extra:
        extra.update(teacher=str(runs / f"plain_s{seed}" / "last.pt"), teacher_model="resnet18",
                     kd_weight=args.kd_weight, kd_end=args.kd_end, kd_schedule=args.kd_schedule,
                     kd_temperature=args.kd_temperature)
    return TrainConfig(model=model, data="fashion-mnist", data_dir=args.data_dir, out=str(runs / f"{variant}_s{seed}"),
                       resolution=args.resolution, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       train_subset=args.train_subset, val_subset=args.val_subset, seed=seed,
                       device=args.device, progress=False, checkpoint_every=0, **extra)


def run_seed(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Train every variant for one seed (plain first: it is the WLD teacher)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = Path(args.runs_dir or Path(args.out) / "runs")
    out: dict[str, Any] = {}
    for variant in ["plain"] + [v for v in args.variants if v != "plain"]:
        t0 = time.perf_counter()
        result = fit(_config(args, variant, seed, runs))
        if result.interrupted is not None:
            raise SystemExit(f"stopped by signal {result.interrupted}")
        records = [json.loads(x) for x in (result.out / "metrics.jsonl").read_text().splitlines()]
        out[variant] = {"top1": [r["val_top1"] for r in records], "wall_s": time.perf_counter() - t0,
                        "train_img_per_s": [r["train_img_per_s"] for r in records]}
        print(f"seed {seed} {variant}: final top-1 {records[-1]['val_top1']:.2f}", flush=True)
        (Path(args.out) / f"partial_s{seed}.json").write_text(json.dumps(out) + "\n")  # survives a timeout
    return out


def throughput(names: tuple[str, ...], device: torch.device, resolution: int, batch: int,
               rounds: int = 5) -> dict[str, dict[str, float]]:
    """Training (fwd + bwd + SGD step) and inference images/s on synthetic batches.

    The models alternate over ``rounds`` rounds and each rate is the median over rounds, so a
    load change on a shared machine hits every model alike.
    """
    torch.manual_seed(0)
    x = torch.randn(batch, 3, resolution, resolution, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    steps = {n: _steps(create_model(n, num_classes=10, resolution=resolution).to(device), x, y) for n in names}
    iters = 20 if device.type == "cuda" else 2
    rates: dict[str, dict[str, list[float]]] = {n: {"train_img_per_s": [], "eval_img_per_s": []} for n in names}
    for r in range(rounds + 1):  # round 0 warms up
        for n in names:
            for key, step in steps[n].items():
                _sync(device)
                t0 = time.perf_counter()
                for _ in range(iters):
                    step()
                _sync(device)
                if r:
                    rates[n][key].append(iters * batch / (time.perf_counter() - t0))
    return {n: {k: statistics.median(v) for k, v in rs.items()} for n, rs in rates.items()}


def _steps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    cuda = x.device.type == "cuda"

    def train_step() -> None:
        model.train()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def eval_step() -> None:
        model.eval()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cuda):
            model(x)

    return {"train_img_per_s": train_step, "eval_img_per_s": eval_step}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(args: argparse.Namespace, per_seed: dict[int, dict[str, Any]],
              speed: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Table rows: accuracy over seeds, epochs to the same seed's plain final top-1, overheads."""
    costs = {n: count_network(get_preset(n), resolution=args.resolution) for n in ("resnet18", "ic_resnet18")}
    rows = []
    for variant in ["plain"] + [v for v in args.variants if v != "plain"]:
        model = VARIANTS[variant][0]
        finals, reach = [], []
        for res in per_seed.values():
            curve, target = res[variant]["top1"], res["plain"]["top1"][-1]
            finals.append(curve[-1])
            reach.append(next((i + 1 for i, a in enumerate(curve) if a >= target), None))
        hit = [e for e in reach if e is not None]
        c, base = costs[model], costs["resnet18"]
        rows.append({
            "variant": variant, "model": model, "top1_mean": _mean_std(finals)[0], "top1_std": _mean_std(finals)[1],
            "finals": finals, "epochs_to_plain_final": reach,
            "epochs_to_plain_final_mean": statistics.fmean(hit) if hit else None, "reached": len(hit),
            "macs": c.macs, "params": c.params, "macs_overhead": c.macs / base.macs - 1,
            "params_overhead": c.params / base.params - 1, **speed[model],
            "train_speed_ratio": speed[model]["train_img_per_s"] / speed["resnet18"]["train_img_per_s"],
            "eval_speed_ratio": speed[model]["eval_img_per_s"] / speed["resnet18"]["eval_img_per_s"],
        })
    return {"args": vars(args), "device": _device_name(args), "rows": rows, "per_seed": per_seed}


def _device_name(args: argparse.Namespace) -> str:
    dev = _device(args)
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"


def _device(args: argparse.Namespace) -> torch.device:
    if args.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(args.device)


def markdown(summary: dict[str, Any]) -> str:
    """The table for docs/benchmarks.md."""
    n = len(summary["per_seed"])
    lines = [f"| variant | top-1 % (mean ± std, {n} seeds) | epochs to plain final (reached) | MACs | params "
             "| train img/s | eval img/s |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in summary["rows"]:
        ep = "—" if r["epochs_to_plain_final_mean"] is None else f"{r['epochs_to_plain_final_mean']:.1f}"
        lines.append(
            f"| {r['variant']} | {r['top1_mean']:.2f} ± {r['top1_std']:.2f} | {ep} ({r['reached']}/{n}) "
            f"| {r['macs'] / 1e6:.1f} M ({r['macs_overhead']:+.1%}) | {r['params'] / 1e6:.2f} M ({r['params_overhead']:+.1%}) "
            f"| {r['train_img_per_s']:.0f} ({r['train_speed_ratio']:.2f}x) | {r['eval_img_per_s']:.0f} ({r['eval_speed_ratio']:.2f}x) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = _device(args)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if args.summarize:
        speed = json.loads((out / "speed.json").read_text())
        per_seed = {s: json.loads((out / f"partial_s{s}.json").read_text()) for s in args.seeds}
        args.variants = [v for v in args.variants if all(v in r for r in per_seed.values())]
        return _write(args, out, summarize(args, per_seed, speed))
    speed = throughput(("resnet18", "ic_resnet18"), dev, args.resolution, args.batch_size, args.rounds)
    (out / "speed.json").write_text(json.dumps(speed) + "\n")
    print(json.dumps(speed), flush=True)
    if args.speed_only:
        return 0
    per_seed: dict[int, dict[str, Any]] = {}
    if args.parallel > 1:
        with ProcessPoolExecutor(args.parallel, mp_context=get_context("spawn")) as pool:
            futures = {s: pool.submit(run_seed, args, s) for s in args.seeds}
            per_seed = {s: f.result() for s, f in futures.items()}
    else:
        per_seed = {s: run_seed(args, s) for s in args.seeds}
    return _write(args, out, summarize(args, per_seed, speed))


def _write(args: argparse.Namespace, out: Path, summary: dict[str, Any]) -> int:
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "table.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
