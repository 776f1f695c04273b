"""Designs at measured budgets (issue #19): do they meet the latency they were given, measured?

For each budget (the measured latency of ``resnet18``, of ``resnet50``, and half of
``deepmad_r18``'s, at 224 px, batch 1, under an inference calibration), this runs the CLI a user
would: ``deepmad design --like L --latency T --calibration CAL --measure --resolve-measured 2
--json`` (exact solver, 30 s, gap 1 %, paper mode), and reports the design's objective beside the
published structures scored the same way, its predicted and measured latency and measured /
budget. Every time is measured as the calibration measured (paired with its reference network
when it has one: ms at the calibration's machine speed), median of ``--repeats`` timings.

    python benchmarks/measured_budgets.py --calibration cal224.json --out measured_budgets.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from deepmad.hardware import Calibration
from deepmad.hardware.campaign import time_like
from deepmad.scores.entropy import score_spec
from deepmad.spec import get_preset
from deepmad.utils.io import atomic_write_json

BUDGETS = (("resnet18", 1.0, "deepmad_r18"), ("resnet50", 1.0, "deepmad_r50"), ("deepmad_r18", 0.5, "deepmad_r18"))
REFERENCES = ("deepmad_r18", "deepmad_r50", "resnet18", "resnet50")


def measured_ms(cal: Calibration, name: str, repeats: int) -> float:
    """Median of ``repeats`` timings of preset ``name`` at 224 px, as the calibration timed."""
    spec = get_preset(name).replace(resolution=224)
    return statistics.median(time_like(cal, spec).ms for _ in range(repeats))


def design_at(cal_path: str, like: str, budget_ms: float, time_limit: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "deepmad.cli.main", "design", "--like", like, "--latency", f"{budget_ms:.4f}ms",
           "--calibration", cal_path, "--measure", "--resolve-measured", "2", "--time-limit", str(time_limit),
           "--quiet", "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calibration", required=True, help="inference calibration at 224 px (deepmad calibrate)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--time-limit", type=float, default=30.0)
    p.add_argument("--out", type=Path, default=Path("measured_budgets.json"))
    args = p.parse_args()
    cal = Calibration.load(args.calibration)
    refs = {n: {"objective": score_spec(get_preset(n).replace(resolution=224), "paper").objective,
                "predicted_ms": cal.predict(get_preset(n).replace(resolution=224)).total_ms,
                "measured_ms": measured_ms(cal, n, args.repeats)} for n in REFERENCES}
    rows = []
    for source, share, like in BUDGETS:
        budget = share * refs[source]["measured_ms"]
        d = design_at(args.calibration, like, budget, args.time_limit)
        lat = d["latency"]
        rows.append({"budget_from": f"{share:g} x {source}", "budget_ms": budget, "like": like,
                     "objective": d["objective"], "gap": d["solver"]["gap"], "status": d["solver"]["status"],
                     "predicted_ms": lat["predicted_ms"], "measured_ms": lat["measured_ms"],
                     "measured_over_budget": lat["measured_ms"] / budget, "rounds": lat.get("rounds")})
        print(json.dumps(rows[-1]), flush=True)
        atomic_write_json(args.out, {"calibration": args.calibration, "references": refs, "designs": rows})
    print("| budget | --like | objective (paper) | gap | predicted | measured | measured / budget | rounds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['budget_from']} = {r['budget_ms']:.2f} ms | {r['like']} | {r['objective']:.1f} | "
              f"{100 * r['gap']:.2f} % | {r['predicted_ms']:.2f} ms | {r['measured_ms']:.2f} ms | "
              f"{r['measured_over_budget']:.3f} | {len(r['rounds'] or [])} |")
    print("| reference | objective (paper) | predicted | measured |")
    print("|---|---|---|---|")
    for n, r in refs.items():
        print(f"| {n} | {r['objective']:.1f} | {r['predicted_ms']:.2f} ms | {r['measured_ms']:.2f} ms |")


if __name__ == "__main__":
    main()
