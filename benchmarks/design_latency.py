"""Time to a 1 % gap of the exact solver on every ``--like`` budget with an added latency budget.

For each ``--like`` preset: the published structure's predicted latency under a calibration
(``deepmad calibrate``), a latency budget at ``--share`` of it (default 80 %), and the exact
solver run with and without that budget, side by side in one process (same machine phase).
Prints a markdown table for docs/benchmarks.md.

    PYTHONPATH=$PWD python benchmarks/design_latency.py --calibration /tmp/cal224.json
"""

from __future__ import annotations

import argparse
import platform
import time

from deepmad.cli.design_latency import with_latency
from deepmad.hardware import Calibration
from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import LIKE_PRESETS, Budget, ExactSolver, like
from deepmad.spec import get_preset


def _run(problem, time_limit: float) -> tuple[str, ...]:
    t = time.perf_counter()
    r = ExactSolver(time_limit=time_limit, gap=0.01).solve(problem)
    wall = time.perf_counter() - t
    lat = r.evaluation.costs.latency_ms if r.evaluation else float("nan")
    return (f"{r.objective:.1f}", f"{100 * r.gap:.2f} %", r.status, f"{wall:.1f} s", f"{lat:.2f}",
            f"{r.nodes}", "yes" if r.verified else "NO")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calibration", required=True)
    ap.add_argument("--share", type=float, default=0.8)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--mode", default="reference")
    ap.add_argument("--presets", default=",".join(sorted(LIKE_PRESETS)))
    args = ap.parse_args()
    cal = Calibration.load(args.calibration)
    print(f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"mode {args.mode}, latency budget {args.share:.0%} of the published structure's prediction")
    print("| preset | published pred. ms | budget ms | run | objective | gap | status | time | latency ms "
          "| nodes | re-checked |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.presets.split(","):
        pub = get_preset(LIKE_PRESETS[name].published)
        base = like(name, ScoreConfig(args.mode))
        pub_ms = cal.predict(pub.replace(resolution=base.space.resolutions[0])).total_ms
        limit = args.share * pub_ms
        with_lat = with_latency(base, cal, Budget("latency_ms", upper=limit))
        for label, problem in (("without", with_latency(base, cal, None)), ("with", with_lat)):
            row = _run(problem, args.time_limit)
            print(f"| {name} | {pub_ms:.2f} | {limit:.2f} | {label} latency | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
