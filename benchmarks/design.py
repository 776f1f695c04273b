"""Benchmark: exact DeepMAD solver vs the reference's evolutionary search, per preset budget.

Run by hand (about 20 minutes on 2 cores)::

    python benchmarks/design.py                      # all presets, writes docs/benchmarks.md
    python benchmarks/design.py --presets deepmad_r50 --children 100000 --no-write
    python benchmarks/design.py --compare /path/to/old/checkout --time-limit 300   # before/after

``--compare`` runs only the exact solver, once with the package at the given checkout and once
with this one (each in a fresh subprocess, alternating per budget), for every preset in reference
mode and the default design (``deepmad_r50``, paper mode), and prints objective, nodes, bound
evaluations, status and time side by side.

For each ``--like`` preset (reference mode: the objective the published structures were scored
with), the exact solver runs with a time limit and a 1 % gap target, and the evolution
(population 256, 2 mutations per child, seeded) runs for up to 500k children. The table gives
the exact objective, proven gap and time; the evolution's best objective after 10k/100k/500k
children with wall times; and the time each needs to reach the other's objective.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import LIKE_PRESETS, EvolutionSolver, ExactSolver, like
from deepmad.spec import get_preset
from deepmad.utils.io import atomic_write_text

PRESETS = ("deepmad_r18", "deepmad_r34", "deepmad_r50", "deepmad_29m_224", "deepmad_50m", "deepmad_89m")
SECTION = "## DeepMAD design"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def cpu_model() -> str:
    """CPU model from lscpu (falls back to platform.processor)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        if m:
            return m.group(1).strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def first_time(points: list[tuple[float, float]], target: float) -> float | None:
    """First time (s) a trajectory of (seconds, objective) reaches ``target``."""
    return next((t for t, v in points if v >= target - 1e-9 * abs(target)), None)


def run_preset(name: str, args: argparse.Namespace) -> dict:
    problem = like(name, ScoreConfig(args.mode))
    published = problem.verify(get_preset(LIKE_PRESETS[name].published))
    ex = ExactSolver(time_limit=args.time_limit, gap=args.gap).solve(problem)
    marks = tuple(c for c in (10_000, 100_000, 500_000) if c <= args.children)
    evo = EvolutionSolver(children=args.children, seed=args.seed, start=LIKE_PRESETS[name].seed,
                          time_limit=math.inf, checkpoints=marks).solve(problem)
    evo_pts = [(t, v) for _, v, t in evo.extras["improvements"]]
    ex_pts = ex.extras.get("trajectory", [])
    row = {"preset": name, "published": published.objective, "published_ok": published.feasible,
           "exact": ex.objective, "gap": ex.gap, "exact_s": ex.time_s, "status": ex.status,
           "verified": ex.verified and evo.verified, "evo": {c: (v, t) for c, v, t in evo.extras["history"]},
           "evo_best": evo.objective, "evo_s": evo.time_s,
           "evo_to_exact": first_time(evo_pts, ex.objective),
           "exact_to_evo": first_time(ex_pts, evo.objective)}
    print(f"{name}: exact {ex.objective:.2f} gap {100 * ex.gap:.2f}% {ex.time_s:.1f}s ({ex.status}); "
          f"evolution {evo.objective:.2f} in {evo.time_s:.1f}s; published {published.objective:.2f}", flush=True)
    return row


def table(rows: list[dict], args: argparse.Namespace) -> str:
    head = ["preset", "published", "exact obj.", "gap", "exact time"]
    head += [f"evo {c // 1000}k (time)" for c in (10_000, 100_000, 500_000) if c <= args.children]
    head += ["evo time to exact obj. / exact time", "exact time to evo best"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        pub = f"{r['published']:.1f}" + ("" if r["published_ok"] else " (over budget)")
        cells = [r["preset"], pub, f"{r['exact']:.1f}", f"{100 * r['gap']:.2f} %",
                 f"{r['exact_s']:.1f} s" + ("" if r["status"] in ("optimal", "gap_limit") else " (limit)")]
        for c in (10_000, 100_000, 500_000):
            if c <= args.children:
                v, t = r["evo"].get(c, (math.nan, math.nan))
                cells.append(f"{v:.1f} ({t:.0f} s)")
        e2x = r["evo_to_exact"]
        cells.append("never" if e2x is None else f"{e2x:.0f} s / {r['exact_s']:.1f} s = {e2x / r['exact_s']:.1f}x")
        x2e = r["exact_to_evo"]
        cells.append("not reached" if x2e is None else f"{x2e:.2f} s")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section(rows: list[dict], args: argparse.Namespace) -> str:
    return "\n".join([
        SECTION, "",
        f"`python benchmarks/design.py` -- {cpu_model()}, {args.date}; Python {platform.python_version()}, "
        f"single process. Mode `{args.mode}` (the objective the published structures were scored with), "
        f"`--like` budgets (TinyNAS FLOPs / params, rho). Exact solver: time limit {args.time_limit:g} s, "
        f"gap target {100 * args.gap:g} %. Evolution: the reference's search (population 256, 2 mutations per "
        f"child, last block mutable), seed {args.seed}. Objectives are DeepMAD fitness (score - depth penalty); "
        "every design was re-checked with `count_network` + `score_spec`"
        + ("" if all(r["verified"] for r in rows) else " (SOME RE-CHECKS FAILED)") + ".",
        "", table(rows, args), ""])


def write_section(text: str) -> None:
    """Replace (or append) this benchmark's own section of docs/benchmarks.md."""
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    doc = pattern.sub(text + "\n", doc) if pattern.search(doc) else doc.rstrip("\n") + "\n\n" + text + "\n"
    atomic_write_text(DOC, doc)


_ONE_RUN = """
import json, sys
from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import ExactSolver, like
name, mode, limit, gap = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
r = ExactSolver(time_limit=limit, gap=gap).solve(like(name, ScoreConfig(mode)))
print(json.dumps({"objective": r.objective, "nodes": r.nodes, "evals": r.extras.get("bound_evaluations"),
                  "status": r.status, "gap": r.gap, "time_s": r.time_s, "verified": r.verified}))
"""


def one_run(root: Path, name: str, mode: str, args: argparse.Namespace) -> dict:
    """The exact solver on one budget with the package found at ``root`` (a fresh process)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", _ONE_RUN, name, mode, str(args.time_limit), str(args.gap)],
                         capture_output=True, text=True, env=env, check=True, cwd=root).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare(args: argparse.Namespace) -> str:
    """Before/after table: the checkout ``args.compare`` against this one, alternating per budget."""
    here = Path(__file__).resolve().parents[1]
    cases = [(n, "reference") for n in args.presets] + [("deepmad_r50", "paper")]
    lines = ["| budget (mode) | objective before / after | nodes before / after | "
             "bound evaluations before / after | status before / after | time before / after (ratio) |",
             "|---|---|---|---|---|---|"]
    for name, mode in cases:
        old, new = one_run(Path(args.compare), name, mode, args), one_run(here, name, mode, args)
        print(name, mode, old, new, flush=True)
        lines.append(f"| {name} ({mode}) | {old['objective']:.3f} / {new['objective']:.3f} | "
                     f"{old['nodes']} / {new['nodes']} | {old['evals']} / {new['evals']} | "
                     f"{old['status']} / {new['status']} | {old['time_s']:.1f} s / {new['time_s']:.1f} s "
                     f"({new['time_s'] / old['time_s']:.2f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=list(PRESETS), choices=sorted(LIKE_PRESETS))
    p.add_argument("--mode", default="reference", choices=("paper", "reference"))
    p.add_argument("--time-limit", type=float, default=30.0)
    p.add_argument("--gap", type=float, default=0.01)
    p.add_argument("--children", type=int, default=500_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--date", default=datetime.date.today().isoformat())
    p.add_argument("--no-write", action="store_true", help="print the table only")
    p.add_argument("--compare", metavar="CHECKOUT", help="before/after table against another checkout")
    args = p.parse_args(argv)
    if args.compare:
        print(compare(args))
        return 0
    rows = [run_preset(name, args) for name in args.presets]
    text = section(rows, args)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
