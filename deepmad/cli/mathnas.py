"""``deepmad mathnas``: solve, estimate, predict and profile with MathNAS block-role tables.

Paper: Wang et al., "MathNAS: If Blocks Have a Role in Mathematical Architecture Design",
NeurIPS 2023, arXiv 2311.04943. Library: :mod:`deepmad.mathnas`.

* ``solve``: exact MILP (HiGHS) or brute force for the additive or FLOPs-scaled predictor;
* ``estimate``: block roles of NAS-Bench-201 from a CSV of architectures and a metric;
* ``predict``: predicted accuracy of the architectures of a CSV (Spearman/Kendall vs truth);
* ``profile``: per-block latency of a CNN space, measured on this machine (imports torch).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

from deepmad.cli.base import Command, number, output_file, parse_count
from deepmad.errors import DeepmadError
from deepmad.mathnas import (
    DEFAULT_STRATEGY,
    FRACTIONAL_METHODS,
    NB201_DATASETS,
    PREDICTORS,
    SOLVERS,
    STRATEGIES,
    BlockTable,
    EstimateConfig,
    LookupEvaluator,
    MathNASProblem,
    SolveResult,
    estimate_table,
    load_table,
    make_budgets,
    nb201_space,
    parse_arch_text,
    predict_accuracy,
    rank_correlations,
    save_table_json,
    solve,
)
from deepmad.utils.io import atomic_write_text

__all__ = ["COMMANDS", "MathNAS"]

_DEVICES = ("tx2_gpu", "tx2_cpu", "raspberry_pi", "edgegpu", "fpga")


def _add_solve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="mbv3-gpu | mbv3-cpu | nb201 | PATH.json (a block table)")
    p.add_argument("--latency-device", choices=_DEVICES, default=None,
                   help="device of a shipped table's latency (default: tx2_gpu, tx2_cpu, edgegpu)")
    p.add_argument("--latency-table", default=None,
                   help="block table JSON whose latency replaces the table's (e.g. from 'mathnas profile')")
    for metric in ("latency", "energy"):
        p.add_argument(f"--max-{metric}", type=number(), default=None, help=f"upper bound on {metric} (table units)")
        p.add_argument(f"--min-{metric}", type=number(), default=None, help=f"lower bound on {metric} (table units)")
    for bound in ("max", "min"):
        p.add_argument(f"--{bound}-macs", f"--{bound}-flops", dest=f"{bound}_flops", type=parse_count, default=None,
                       metavar="N", help=f"{'upper' if bound == 'max' else 'lower'} bound on the network's "
                       f"multiply-adds (MACs), e.g. 300M, for every table (MBv3 tables count MACs, NAS-Bench-201 "
                       f"'FLOPs' one per multiply-add, profile tables 2 per MAC); --{bound}-flops is the same flag")
    p.add_argument("--predictor", choices=PREDICTORS, default="additive",
                   help="additive (released code) or flops (the paper's Eq. 6)")
    p.add_argument("--solver", choices=SOLVERS, default="milp")
    p.add_argument("--fractional-method", choices=FRACTIONAL_METHODS, default="dinkelbach")
    p.add_argument("--time-limit", type=number(low=0, low_open=True), default=None,
                   help="HiGHS time limit per MILP, seconds (> 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _load_for_solve(args: argparse.Namespace) -> BlockTable:
    table = load_table(args.table, args.latency_device)
    if args.latency_table:
        lat = load_table(args.latency_table)
        if lat.sizes != table.sizes:
            raise DeepmadError(f"--latency-table has options {list(lat.sizes)} per node; the table has {list(table.sizes)}")
        table = table.with_metrics(latency=lat.metric("latency"))
    return table


def _flops_per_mac(table: BlockTable) -> float:
    """Table flops units per multiply-add: the CLI's --max-macs / --min-macs are in MACs."""
    unit = table.metric("flops").unit
    if unit == "MACs" or unit.startswith("FLOPs (NAS-Bench-201"):
        return 1.0  # MBv3: MACs; NAS-Bench-201's counter: one per multiply-add
    if unit == "FLOPs":
        return 2.0  # deepmad.mathnas.cnn_space / profile tables: 2 x MACs
    raise DeepmadError(f"table {table.name!r} gives its flops in {unit!r}; --max-macs/--min-macs need MACs, "
                       "FLOPs (2 per MAC) or NAS-Bench-201 FLOPs")


def _macs_view(data: dict[str, Any], factor: float) -> dict[str, Any]:
    """``SolveResult.to_dict()`` with its flops figures in MACs."""
    if "flops" in data["predicted"]:
        data["predicted"]["flops"] /= factor
    for c in data["constraints"]:
        if c["name"] == "flops":
            c.update(name="MACs", limit=c["limit"] / factor, value=c["value"] / factor,
                     slack=c["slack"] / factor)
    data["units"] = {"flops": "MACs (multiply-adds)"}
    return data


def _print_result(table: BlockTable, result: SolveResult, data: dict[str, Any]) -> None:
    """The text report of ``result``; ``data``: its ``to_dict()`` (flops in MACs when the table has FLOPs)."""
    gap = "" if result.gap is None else f", gap {result.gap:.2g}"
    print(f"table {table.name} ({table.device or 'no device'}), predictor {result.predictor}, solver "
          f"{result.solver}: {result.status} in {1000 * result.time_s:.1f} ms ({result.iterations} MILP(s){gap})")
    for node, j, name in zip(table.nodes, result.choices or (), result.option_names or ()):
        print(f"  {node}: option {j}  {name}")
    for metric, value in data["predicted"].items():
        unit = "MACs" if metric == "flops" else table.metric(metric).unit
        print(f"predicted {'MACs' if metric == 'flops' else metric}: {value:.6g} {unit}".rstrip())
    for c in data["constraints"]:
        print(f"  {c['name']} {c['sense']} {c['limit']:g}: value {c['value']:.6g}, slack {c['slack']:.4g} "
              f"({'ok' if c['slack'] <= 0 else 'VIOLATED'})")


def _run_solve(args: argparse.Namespace) -> int:
    table = _load_for_solve(args)
    limits = {f"{b}_{m}": getattr(args, f"{b}_{m}") for b in ("max", "min") for m in ("latency", "energy", "flops")}
    factor = _flops_per_mac(table) if table.has("flops") else 1.0
    for key in ("max_flops", "min_flops"):
        if limits[key] is not None:
            limits[key] *= factor
    problem = MathNASProblem(table, make_budgets(table, **limits), args.predictor)
    result = solve(problem, args.solver, fractional_method=args.fractional_method, time_limit=args.time_limit)
    data = _macs_view(result.to_dict(), factor) if table.has("flops") else result.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        if result.choices is None:
            print(f"deepmad mathnas solve: error: {'; '.join(data['infeasibilities']) or result.status}",
                  file=sys.stderr)
            return 2
        return 0
    result.raise_if_infeasible()
    _print_result(table, result, data)
    return 0


def _add_estimate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", choices=("nb201",), required=True)
    p.add_argument("--dataset", choices=tuple(NB201_DATASETS), default="cifar10",
                   help="NAS-Bench-201 dataset whose FLOPs are used (Algorithm 1's N^avg, Eq. 6)")
    p.add_argument("--table-csv", required=True, help="CSV of architectures and metrics")
    p.add_argument("--arch-column", required=True)
    p.add_argument("--metric-column", required=True, help="accuracy column")
    p.add_argument("--latency-column", default=None)
    p.add_argument("--energy-column", default=None)
    p.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY)
    p.add_argument("--max-evaluations", type=number(int, low=1), default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reference", choices=("largest", "first"), default="largest",
                   help="reference block per node: largest FLOPs (default) or the first option")
    p.add_argument("--output", required=True, type=output_file(".json"), help="block table JSON to write")


def _run_estimate(args: argparse.Namespace) -> int:
    space = nb201_space(args.dataset)
    columns = {"accuracy": args.metric_column}
    for metric in ("latency", "energy"):
        if getattr(args, f"{metric}_column"):
            columns[metric] = getattr(args, f"{metric}_column")
    evaluator = LookupEvaluator.from_csv(args.table_csv, space, args.arch_column, columns)
    config = EstimateConfig(args.strategy, args.max_evaluations, args.seed, args.reference)
    est = estimate_table(space, evaluator, metrics=tuple(columns), config=config,
                         units={"flops": f"FLOPs (NAS-Bench-201, {args.dataset})"})
    save_table_json(est.table, args.output)
    print(f"estimated {args.space} block roles ({est.strategy}, {est.mode} mode): {est.evaluations} evaluations "
          f"of {len(evaluator.records)} architectures in the CSV; contexts per node {list(est.contexts_per_node)}")
    print(f"wrote {args.output}")
    return 0


def _add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="PATH.json | nb201 | mbv3-gpu | mbv3-cpu")
    p.add_argument("--archs", required=True, help="CSV with an architecture column")
    p.add_argument("--arch-column", required=True)
    p.add_argument("--truth-column", default=None, help="measured accuracy; prints Spearman and Kendall")
    p.add_argument("--predictor", choices=PREDICTORS, default="additive")
    p.add_argument("--output", type=output_file(".csv"), default=None, help="CSV to write (default: stdout)")


def _read_rows(path: str, columns: list[str]) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DeepmadError(f"{path}: column(s) {missing} not found; columns: {', '.join(reader.fieldnames or [])}")
        return list(reader)


def _csv_number(path: str, index: int, column: str, text: str | None) -> float:
    try:
        value = float(text or "")
    except ValueError:
        value = float("nan")
    if value != value:
        raise DeepmadError(f"{path} row {index + 2}: {column}={text!r} is not a number")
    return value


def _run_predict(args: argparse.Namespace) -> int:
    table = load_table(args.table)
    columns = [args.arch_column] + ([args.truth_column] if args.truth_column else [])
    rows = _read_rows(args.archs, columns)
    archs = []
    for i, r in enumerate(rows):
        try:
            archs.append(parse_arch_text(r[args.arch_column] or "", table.space))
        except DeepmadError as exc:
            raise DeepmadError(f"{args.archs} row {i + 2}: {exc}") from None
    truth = [_csv_number(args.archs, i, args.truth_column, r[args.truth_column])
             for i, r in enumerate(rows)] if args.truth_column else []
    predicted = predict_accuracy(table, archs, args.predictor)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns + ["predicted_accuracy"])
    for r, value in zip(rows, predicted):
        writer.writerow([r[c] for c in columns] + [f"{value:.6f}"])
    if args.output:
        atomic_write_text(args.output, out.getvalue())
    else:
        sys.stdout.write(out.getvalue())
    if args.truth_column:
        rho, tau = rank_correlations(predicted, truth)
        print(f"{len(rows)} architectures, predictor {args.predictor}: Spearman {rho:.4f}, Kendall {tau:.4f}",
              file=sys.stderr if not args.output else sys.stdout)
    return 0


def _add_profile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", required=True, help="CNN space JSON (deepmad.mathnas.cnn_space) or 'demo'")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--output", required=True, type=output_file(".json"),
                   help="latency block table JSON to write")
    p.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY)
    p.add_argument("--max-evaluations", type=number(int, low=1), default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=number(int, low=1), default=1)
    p.add_argument("--warmup", type=number(int, low=0), default=5)
    p.add_argument("--repeats", type=number(int, low=1), default=20)
    p.add_argument("--threads", type=number(int, low=1), default=None, help="CPU threads (default: torch's)")
    p.add_argument("--statistic", choices=("median", "min"), default="median",
                   help="summary of the repeats (min is robust on a busy shared CPU)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall time, or this thread's CPU time (needs --device cpu --threads 1; steady on a busy machine)")
    p.add_argument("--check", type=number(int, low=0), default=0, help="also time N random networks against the prediction")


def _run_profile(args: argparse.Namespace) -> int:
    from deepmad.mathnas.cnn_space import load_cnn_space
    from deepmad.mathnas.profile import (
        LatencyEvaluator,
        NoisyTimingError,
        TimingConfig,
        assess_noise,
        check_additivity,
        profile_space,
        with_noise_record,
    )

    space = load_cnn_space(args.space)
    timing = TimingConfig(args.device, args.batch_size, args.warmup, args.repeats, args.threads, args.statistic,
                          args.clock)
    config = EstimateConfig(args.strategy, args.max_evaluations, args.seed)
    evaluator = LatencyEvaluator(space, timing)
    advice = (f"time on a quieter machine, or retry with --clock cpu --threads 1 (this process's CPU time only), "
              f"more --repeats (now {args.repeats}) or --statistic min")
    try:
        est = profile_space(space, timing, config, evaluator)
    except NoisyTimingError as exc:
        raise DeepmadError(f"timings too noisy to use: {'; '.join(exc.report.reasons)}; nothing written; "
                           f"{advice}") from None
    spreads = list(evaluator.spreads)
    v = None
    if args.check:
        v, _, _ = check_additivity(space, est.table, evaluator, args.check, args.seed + 1)
    report = assess_noise(est.table, spreads, None if v is None else v.spearman, checked=0 if v is None else v.count)
    save_table_json(with_noise_record(est.table, report), args.output)
    print(f"profiled {space.name} on {args.device}: {est.evaluations} networks timed ({est.strategy}); "
          f"predicted latency {report.low:.3f}..{report.high:.3f} ms over {space.space.size} networks; "
          f"repeat spread {100 * report.spread:.1f} % (median IQR / median)")
    if v is not None:
        print(f"check on {v.count} random networks: Spearman {v.spearman:.3f}, Kendall {v.kendall:.3f}, "
              f"MAE {v.mae:.3f} ms, RMSE {v.rmse:.3f} ms")
    print(f"wrote {args.output}")
    if report.noisy:
        print(f"deepmad mathnas profile: warning: noisy timings: {'; '.join(report.reasons)}; the table is "
              f"marked noisy (provenance timing_noise); {advice}", file=sys.stderr)
        return 1
    return 0


_ACTIONS: dict[str, tuple[str, Any, Any]] = {
    "solve": ("design a network: exact MILP or brute force under latency/energy/FLOPs budgets", _add_solve, _run_solve),
    "estimate": ("estimate block roles from a CSV of architectures and metrics", _add_estimate, _run_estimate),
    "predict": ("predict the accuracy of the architectures of a CSV", _add_predict, _run_predict),
    "profile": ("measure per-block latency of a CNN space on this machine", _add_profile, _run_profile),
}


class MathNAS(Command):
    name = "mathnas"
    help = "MathNAS block-role tables: solve, estimate, predict, profile."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="mathnas_action", metavar="ACTION", required=True)
        for action, (text, add, _) in _ACTIONS.items():
            add(sub.add_parser(action, help=text, description=text))

    def run(self, args: argparse.Namespace) -> int:
        return int(_ACTIONS[args.mathnas_action][2](args))


COMMANDS = [MathNAS]
