"""MathNAS benchmarks: solve times, predictor quality on NAS-Bench-201, estimation strategies, latency.

MathNAS (Wang et al., NeurIPS 2023, arXiv 2311.04943) reports 0.8-1.5 s of Gurobi time on the
MobileNetV3 tables and Spearman 0.97 on NAS-Bench-201. This script measures, on this machine:

* ``solve``: median wall time per shipped table and solver (additive MILP, Dinkelbach,
  Charnes-Cooper, brute force) over random latency budgets;
* ``supervit``: a random 9-node instance with 2, 8, 36, 24, 24, 63, 24, 12, 2 options (195 binaries);
* ``predictors``: Spearman / Kendall of both predictors on the 491-cell NAS-Bench-201 subset
  (``../shared/data/nb201_subset``) for the shipped table and for tables estimated from the
  subset (in-sample and 2-fold cross-validated), against the #params and FLOPs baselines;
* ``strategies``: Algorithm 1 vs partial sampling on a dense non-additive NB201 ground truth;
* ``profile``: per-block latency of the demo CNN space on CPU or CUDA, checked against every
  one of its 256 networks timed directly.

Usage: ``python benchmarks/mathnas.py [--sections solve,supervit,...] [--device cuda] [--json OUT]``.
Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepmad.mathnas import (
    TABLE_DEVICES,
    Budget,
    EstimateConfig,
    LookupEvaluator,
    MathNASProblem,
    arch_from_naslib_key,
    estimate_table,
    load_table,
    nb201_space,
    predict_accuracy,
    rank_correlations,
    solve,
)
from deepmad.mathnas.tables import BlockTable, MetricTable

SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201_subset" / "zc_nasbench201.json"
RESULTS: dict[str, Any] = {}


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (imports, HiGHS start-up)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench_solve(repeats: int) -> None:
    print("\n### Solve time per table (median ms over random feasible latency budgets)\n")
    print("| table | device | additive MILP | Dinkelbach (Eq. 6) | Charnes-Cooper (Eq. 6) | brute force |")
    print("| --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    rows = []
    for name, (devices, _) in sorted(TABLE_DEVICES.items()):
        for device in devices:
            table = load_table(name, device)
            lo, hi = table.metric("latency").bounds()
            budgets = [(Budget("latency", upper=float(rng.uniform(lo + 0.2 * (hi - lo), hi))),) for _ in range(repeats)]
            cell = {}
            for key, pred, solver, method in (("additive", "additive", "milp", "dinkelbach"),
                                              ("dinkelbach", "flops", "milp", "dinkelbach"),
                                              ("charnes_cooper", "flops", "milp", "charnes_cooper"),
                                              ("brute", "additive", "brute", "dinkelbach")):
                it = iter(budgets * 2)
                cell[key] = _median_ms(lambda t=table, p=pred, s=solver, m=method, it=it:
                                       solve(MathNASProblem(t, next(it), p), s, fractional_method=m), repeats)
            rows.append({"table": name, "device": device, **cell})
            print(f"| {name} | {device} | {cell['additive']:.1f} | {cell['dinkelbach']:.1f} | "
                  f"{cell['charnes_cooper']:.1f} | {cell['brute']:.1f} |")
    RESULTS["solve"] = rows


def _random_table(rng: np.random.Generator, sizes: tuple[int, ...]) -> BlockTable:
    def rows(lo: float, hi: float) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(float(v) for v in rng.uniform(lo, hi, n)) for n in sizes)

    return BlockTable("supervit-like", tuple(f"n{i}" for i in range(len(sizes))),
                      tuple(tuple(f"o{j}" for j in range(n)) for n in sizes),
                      {"accuracy": MetricTable(80.0, rows(-1.5, 0.2)), "latency": MetricTable(5.0, rows(0.5, 10.0)),
                       "flops": MetricTable(1e8, rows(1e6, 5e7))})


def bench_supervit(repeats: int) -> None:
    sizes = (2, 8, 36, 24, 24, 63, 24, 12, 2)
    print(f"\n### Random 9-node instance, {sum(sizes)} binaries (median ms over {repeats} random tables)\n")
    out: dict[str, list[float]] = {"additive": [], "dinkelbach": [], "charnes_cooper": []}
    iterations = []
    for seed in range(repeats):
        table = _random_table(np.random.default_rng(100 + seed), sizes)
        lo, hi = table.metric("latency").bounds()
        budget = (Budget("latency", upper=lo + 0.4 * (hi - lo)),)
        for key, pred, method in (("additive", "additive", "dinkelbach"), ("dinkelbach", "flops", "dinkelbach"),
                                  ("charnes_cooper", "flops", "charnes_cooper")):
            r = solve(MathNASProblem(table, budget, pred), fractional_method=method)
            assert r.status == "optimal", r.status
            out[key].append(1000 * r.time_s)
            if key == "dinkelbach":
                iterations.append(r.iterations)
    med = {k: statistics.median(v) for k, v in out.items()}
    print("| additive MILP | Dinkelbach | Charnes-Cooper | Dinkelbach MILPs (median) |")
    print("| --- | --- | --- | --- |")
    print(f"| {med['additive']:.1f} | {med['dinkelbach']:.1f} | {med['charnes_cooper']:.1f} | {statistics.median(iterations):g} |")
    RESULTS["supervit"] = {**med, "dinkelbach_iterations": statistics.median(iterations)}


def _subset(dataset: str) -> dict[tuple[int, ...], dict[str, float]]:
    raw = json.loads(SUBSET.read_text())["nasbench201"][dataset]
    return {arch_from_naslib_key(k): v for k, v in raw.items()}


def _corr(table: BlockTable, archs: list, truth: np.ndarray, predictor: str) -> tuple[float, float]:
    return rank_correlations(predict_accuracy(table, archs, predictor), truth)


def _estimate(space, recs, strategy: str, seed: int = 0):
    ev = LookupEvaluator({a: {"accuracy": recs[a]["val_accuracy"]} for a in recs}, space)
    return estimate_table(space, ev, config=EstimateConfig(strategy, seed=seed))


def _cv(space, recs, strategy: str, predictor: str, folds: int = 10) -> tuple[float, float]:
    """Mean Spearman/Kendall on held-out halves over ``folds`` random 2-fold splits."""
    archs = list(recs)
    scores = []
    for seed in range(folds):
        perm = np.random.default_rng(seed).permutation(len(archs))
        for train_idx, test_idx in ((perm[::2], perm[1::2]), (perm[1::2], perm[::2])):
            train = {archs[i]: recs[archs[i]] for i in train_idx}
            test = [archs[i] for i in test_idx]
            est = _estimate(space, train, strategy, seed)
            scores.append(_corr(est.table, test, np.array([recs[a]["val_accuracy"] for a in test]), predictor))
    return float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores]))


def bench_predictors() -> None:
    print("\n### Predictor quality on the NAS-Bench-201 subset (491 cells; Spearman / Kendall vs val. accuracy)\n")
    print("| dataset | #params | FLOPs | shipped additive | shipped FLOPs-scaled | single add. (in / CV) "
          "| single FLOPs (in / CV) | sampled add. (in / CV) | sampled FLOPs (in / CV) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    shipped = load_table("nb201")
    rows = []
    for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
        recs = _subset(dataset)
        archs, truth = list(recs), np.array([r["val_accuracy"] for r in recs.values()])
        space = nb201_space(dataset)
        row: dict[str, Any] = {"dataset": dataset,
                               "params": rank_correlations([r["params"] for r in recs.values()], truth),
                               "flops": rank_correlations([r["flops"] for r in recs.values()], truth)}
        for pred in ("additive", "flops"):
            row[f"shipped_{pred}"] = _corr(shipped, archs, truth, pred)
        for strategy in ("single", "sampled"):
            est = _estimate(space, recs, strategy)
            row[f"{strategy}_evaluations"] = est.evaluations
            for pred in ("additive", "flops"):
                row[f"{strategy}_{pred}_in"] = _corr(est.table, archs, truth, pred)
                row[f"{strategy}_{pred}_cv"] = _cv(space, recs, strategy, pred)
        rows.append(row)

        def f(pair: tuple[float, float]) -> str:
            return f"{pair[0]:.3f} / {pair[1]:.3f}"

        cells = [f(row["params"]), f(row["flops"]), f(row["shipped_additive"]), f(row["shipped_flops"])]
        for key in ("single_additive", "single_flops", "sampled_additive", "sampled_flops"):
            cells.append(f"{row[key + '_in'][0]:.3f} / {row[key + '_cv'][0]:.3f}")
        print(f"| {dataset} | " + " | ".join(cells) + " |")
    print("\n(estimated columns: Spearman in-sample / mean Spearman on held-out halves of 10 random 2-fold splits; "
          f"evaluations used: single {rows[-1]['single_evaluations']}, sampled {rows[-1]['sampled_evaluations']} of 491)")
    RESULTS["predictors"] = rows


def bench_strategies() -> None:
    print("\n### Estimation strategies on a dense, non-additive ground truth (all 15,625 NB201 cells)\n")
    print("Truth: the shipped NB201 table's FLOPs-scaled prediction (ImageNet16-120 FLOPs) plus pairwise "
          "edge interactions (std 0.5) and noise (std 0.3). Spearman over all cells.\n")
    shipped, space = load_table("nb201"), nb201_space("ImageNet16-120")
    archs = space.all_archs()
    rng = np.random.default_rng(0)
    inter = rng.normal(0, 0.5, size=(6, 6, 5, 5))
    truth = predict_accuracy(shipped, archs, "flops") + rng.normal(0, 0.3, len(archs))
    for i in range(6):
        for k in range(i + 1, 6):
            truth += inter[i, k][archs[:, i], archs[:, k]]
    lookup = dict(zip(map(tuple, archs.tolist()), truth))
    print("| strategy | evaluations | additive | FLOPs-scaled |")
    print("| --- | --- | --- | --- |")
    rows = []
    for strategy, budget in (("single", None), ("sampled", 26), ("sampled", 130), ("sampled", None)):
        rhos = {"additive": [], "flops": []}
        evals = []
        for seed in range(5 if strategy == "sampled" else 1):
            est = estimate_table(space, lambda a: {"accuracy": lookup[a]}, config=EstimateConfig(strategy, budget, seed))
            evals.append(est.evaluations)
            for pred in rhos:
                rhos[pred].append(rank_correlations(predict_accuracy(est.table, archs, pred), truth)[0])
        row = {"strategy": strategy, "evaluations": int(np.median(evals)),
               **{p: float(np.mean(v)) for p, v in rhos.items()}}
        rows.append(row)
        print(f"| {strategy} | {row['evaluations']} | {row['additive']:.3f} | {row['flops']:.3f} |")
    RESULTS["strategies"] = rows


def bench_profile(device: str, threads: int | None, clock: str) -> None:
    from deepmad.mathnas import load_cnn_space
    from deepmad.mathnas.profile import LatencyEvaluator, TimingConfig

    space = load_cnn_space("demo")
    evaluator = LatencyEvaluator(space, TimingConfig(device, warmup=10, repeats=20, threads=threads, clock=clock))
    start = time.perf_counter()
    archs = [tuple(int(v) for v in a) for a in space.space.all_archs()]
    samples = {a: evaluator.time_samples(a) for a in archs}
    total = time.perf_counter() - start
    print(f"\n### Latency profile of the demo space on {device}, {clock} clock ({len(archs)} networks timed in {total:.0f} s)\n")
    print("Every network timed directly (warm-up 10, 20 repeats); the per-block tables below are estimated from "
          "those measurements and compared with all 256 of them.\n")
    print("| statistic | strategy | networks used | Spearman | Kendall | MAE ms | measured range ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for stat, fn in (("median", statistics.median), ("min", min)):
        measured = {a: fn(v) for a, v in samples.items()}
        truth = np.array([measured[a] for a in archs])
        for strategy in ("single", "sampled"):
            est = estimate_table(space.space, lambda a, m=measured: {"latency": m[a]}, metrics=("latency",),
                                 config=EstimateConfig(strategy, max_evaluations=None if strategy == "single" else 64))
            pred = np.array([est.table.metric("latency").value(a) for a in archs])
            rho, tau = rank_correlations(pred, truth)
            mae = float(np.mean(np.abs(pred - truth)))
            rows.append({"statistic": stat, "strategy": strategy, "evaluations": est.evaluations, "spearman": rho,
                         "kendall": tau, "mae_ms": mae, "min_ms": float(truth.min()), "max_ms": float(truth.max())})
            print(f"| {stat} | {strategy} | {est.evaluations} | {rho:.3f} | {tau:.3f} | {mae:.3f} | "
                  f"{truth.min():.2f}..{truth.max():.2f} |")
    RESULTS[f"profile_{device}_{clock}"] = {"rows": rows, "seconds": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="solve,supervit,predictors,strategies,profile")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for the profile (default 1: stable)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="profile clock (cpu: 1 thread)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    print(f"machine: {_cpu_model()}, {platform.python_version()}; date {time.strftime('%Y-%m-%d')}")
    sections = args.sections.split(",")
    if "solve" in sections:
        bench_solve(args.repeats)
    if "supervit" in sections:
        bench_supervit(max(5, args.repeats // 3))
    if "predictors" in sections:
        bench_predictors()
    if "strategies" in sections:
        bench_strategies()
    if "profile" in sections:
        bench_profile(args.device, args.threads if args.device == "cpu" else None, args.clock)
    if args.json:
        Path(args.json).write_text(json.dumps(RESULTS, indent=2, default=float))


if __name__ == "__main__":
    main()
