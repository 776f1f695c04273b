"""Greedy Network Enlarging vs compound scaling on Fashion-MNIST (docs/benchmarks.md).

Paper: Liu et al., "Greedy Network Enlarging", arXiv 2108.00177 (claim: greedy stage-wise
enlarging "consistently outperforms" compound scaling at equal MACs); baseline: EfficientNet
compound scaling (Tan & Le, arXiv 1905.11946).

Base: the ``ghostnet_1_0`` layout (S-GhostNet stage rules) at 32 px, 1 input channel, 10
classes. Targets: x2 and x4 its MACs. ``greedy``: :func:`deepmad.enlarge.greedy_enlarge` with the
training-free ``entropy`` evaluator (one path through x2 then x4); ``compound``: uniform scaling
solved for each target. Every final network (and the base) is trained with the same recipe
(:func:`deepmad.train.fit`) on the full training set for each seed and evaluated on the test set.

    python benchmarks/enlarge_fashion_mnist.py search --out runs/enlarge        # CPU, seconds
    python benchmarks/enlarge_fashion_mnist.py train --out runs/enlarge --epochs 10 \
        --worker 0 --workers 1                                                 # GPU or CPU
    python benchmarks/enlarge_fashion_mnist.py table --out runs/enlarge        # markdown table

``train`` runs job ``j`` (network x seed) when ``j % workers == worker``, so several workers can
share one GPU as separate processes; each appends one JSON line per finished job to
``OUT/results-<worker>.jsonl`` (``--results DIR`` puts them elsewhere).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from deepmad.cost import count_network
from deepmad.enlarge import (
    CompoundConfig,
    EnlargeConfig,
    EntropyEvaluator,
    compound_scale,
    family_for,
    greedy_enlarge,
)
from deepmad.spec import load_spec_json, save_spec_json
from deepmad.spec.ghost import s_ghostnet
from deepmad.utils.io import atomic_write_json

NETS = ("base", "greedy_x2", "compound_x2", "greedy_x4", "compound_x4")


def base_spec() -> Any:
    """ghostnet_1_0's layout at 32 px for 1-channel 28x28 images (resized to 32)."""
    return s_ghostnet([1, 2, 2, 4, 2, 5], [16, 24, 40, 80, 112, 160], resolution=32, num_classes=10,
                      in_channels=1, name="ghostnet_1_0@32")


def search(out: Path, seed: int) -> None:
    """Greedy (entropy) and compound paths to x2 and x4 MACs; writes OUT/specs/*.json."""
    base = base_spec()
    m0 = count_network(base).macs
    targets = [2 * m0, 4 * m0]
    config = EnlargeConfig(resolution_steps=(0, 4, 8), num_candidates=64, seed=seed)
    greedy = greedy_enlarge(base, targets, EntropyEvaluator(), config)
    compound = compound_scale(base, targets, CompoundConfig(), EntropyEvaluator())
    atomic_write_json(out / "greedy.json", greedy.to_dict())
    atomic_write_json(out / "compound.json", compound.to_dict())
    specs = {"base": base}
    family = family_for(base)
    for result in (greedy, compound):
        for point, factor in zip(result.path[1:], ("x2", "x4")):
            specs[f"{result.method}_{factor}"] = family.build(point.state)
    for name, spec in specs.items():
        save_spec_json(spec.replace(name=name), out / "specs" / f"{name}.json")
        c = count_network(spec)
        print(f"{name:12s} MACs {c.macs / 1e6:6.2f}M  params {c.params / 1e6:5.2f}M  r {spec.resolution}  "
              f"depths {list(spec.depths[:6])}  widths {list(spec.widths[:6])}")


def _jobs(seeds: list[int]) -> list[tuple[str, int]]:
    return [(net, seed) for seed in seeds for net in NETS]


def train(out: Path, args: argparse.Namespace) -> None:
    """Train this worker's share of (network, seed) jobs; one JSON line per finished job."""
    from deepmad.train.config import TrainConfig
    from deepmad.train.loop import fit

    results = Path(args.results or out)
    results.mkdir(parents=True, exist_ok=True)
    log = results / f"results-{args.worker}.jsonl"
    for j, (net, seed) in enumerate(_jobs(args.seeds)):
        if j % args.workers != args.worker:
            continue
        spec_path = out / "specs" / f"{net}.json"
        cfg = TrainConfig(model=str(spec_path), data="fashion-mnist", out=str(Path(args.runs) / f"{net}_s{seed}"),
                          epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
                          device=args.device, channels_last=args.device != "cpu", progress=False,
                          checkpoint_every=0, train_subset=args.train_subset, val_subset=args.val_subset)
        t0 = time.perf_counter()
        res = fit(cfg)
        spec = load_spec_json(spec_path)
        c = count_network(spec)
        rec = {"net": net, "seed": seed, "top1": res.last["val_top1"], "best_top1": res.best_top1,
               "epochs": res.epochs_done, "macs": c.macs, "params": c.params, "resolution": spec.resolution,
               "seconds": round(time.perf_counter() - t0, 1)}
        with log.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


def table(out: Path, results: Path | None) -> str:
    """Markdown table: MACs, params, resolution and final test top-1 mean +- std per network."""
    recs = [json.loads(line) for p in sorted((results or out).glob("results-*.jsonl"))
            for line in p.read_text().splitlines() if line.strip()]
    rows = ["| network | MACs | params | r | depths | widths | seeds | top-1 (%) mean ± std |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for net in NETS:
        mine = [r for r in recs if r["net"] == net]
        if not mine:
            continue
        spec = load_spec_json(out / "specs" / f"{net}.json")
        accs = [r["top1"] for r in mine]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        rows.append(f"| {net} | {mine[0]['macs'] / 1e6:.2f}M | {mine[0]['params'] / 1e6:.2f}M | "
                    f"{spec.resolution} | {list(spec.depths[:6])} | {list(spec.widths[:6])} | "
                    f"{len(accs)} | {statistics.mean(accs):.2f} ± {std:.2f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("search", "train", "table"))
    parser.add_argument("--out", default="runs/enlarge")
    parser.add_argument("--results", default=None, help="folder of the results-*.jsonl files")
    parser.add_argument("--runs", default="runs/enlarge/train", help="training run folders")
    parser.add_argument("--seed", type=int, default=0, help="search seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--train-subset", type=int, default=0)
    parser.add_argument("--val-subset", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    out = Path(args.out)
    if args.command == "search":
        search(out, args.seed)
    elif args.command == "train":
        train(out, args)
    else:
        print(table(out, Path(args.results) if args.results else None))


if __name__ == "__main__":
    main()
