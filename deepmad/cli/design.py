"""``deepmad design`` and ``deepmad score``: DeepMAD's mathematical design from the command line.

DeepMAD (Shen et al., CVPR 2023, arXiv 2303.02165). ``design`` builds a
:class:`~deepmad.solvers.DesignProblem` from ``--like PRESET`` (the reference config's layout and
budgets; default ``deepmad_r50``) or ``--space TEMPLATE`` plus budget flags, solves it and prints
a summary; ``--output`` writes the result JSON atomically. ``score`` prints a spec's DeepMAD
score. Flags map onto :class:`~deepmad.solvers.Budget`, :class:`~deepmad.scores.ScoreConfig` and
the solver configs.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from typing import Any

from deepmad.cli.base import Command, number, output_file, parse_count
from deepmad.cli.design_latency import (
    add_latency_arguments,
    latency_budget,
    latency_lines,
    measure_design,
    meet_measured,
    with_latency,
)
from deepmad.cli.design_task import (
    add_task_arguments,
    check_like_flags,
    head_note,
    layout_kwargs,
    plot_design,
    run_sweep,
)
from deepmad.errors import DeepmadError, InfeasibleError
from deepmad.scores.entropy import MODES, ScoreConfig, ScoreReport, score_spec
from deepmad.solvers import (
    LIKE_PRESETS,
    SOLVERS,
    TEMPLATES,
    Budget,
    DesignProblem,
    DesignResult,
    diagnose,
    get_solver,
    infeasibility_message,
    like,
)
from deepmad.solvers.exact import Progress
from deepmad.solvers.templates import space_problem
from deepmad.spec import get_preset, load_spec
from deepmad.spec.presets import DISPLAY_NAMES
from deepmad.utils.io import atomic_write_json
from deepmad.utils.numbers import si

__all__ = ["COMMANDS", "DesignCommand", "ScoreCommand", "build_problem", "feasible_problem", "solve_design", "summary"]

_COUNT_FLAGS = ("params", "macs", "flops", "activations")


def _resolutions(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a resolution list; expected e.g. 224 or 224,256") from None
    if any(v < 8 for v in vals):
        raise argparse.ArgumentTypeError(f"resolution {text!r} is invalid; expected sides >= 8")
    return vals


def _flag_budgets(args: argparse.Namespace, convention: str) -> list[Budget]:
    out = [Budget(q, upper=getattr(args, q), convention=convention)
           for q in _COUNT_FLAGS if getattr(args, q) is not None]
    if args.layers is not None:
        out.append(Budget("layers", upper=args.layers))
    if args.rho is not None:
        out.append(Budget("rho", upper=args.rho))
    return out


def build_problem(args: argparse.Namespace, latency: tuple[Any, Budget | None] | None = None) -> DesignProblem:
    """The design problem the flags describe (``--like`` defaults to ``deepmad_r50``), with the
    latency model and budget of ``--calibration`` / ``--latency`` / ``--throughput``
    (``latency``: that pair, already read by :func:`latency_budget`)."""
    cal, lat_budget = latency or latency_budget(args)
    return with_latency(_budget_problem(args, cal, lat_budget), cal, lat_budget)


def _budget_problem(args: argparse.Namespace, cal: Any = None, lat_budget: Budget | None = None) -> DesignProblem:
    """The problem of ``--like`` / ``--space`` and the cost flags (a template's depth caps and its
    "needs a budget" check see the latency budget too; :func:`with_latency` adds it to a preset's)."""
    objective = ScoreConfig(mode=args.mode)
    if args.like and args.space:
        raise DeepmadError("use either --like PRESET or --space TEMPLATE, not both")
    if args.space:
        convention = args.convention or "torch"
        budgets = [*_flag_budgets(args, convention), *([lat_budget] if lat_budget else [])]
        if not any(b.quantity != "rho" for b in budgets):
            raise DeepmadError("--space needs at least one budget (--params, --macs, --flops, "
                               "--activations, --layers, --latency or --throughput)")
        return space_problem(args.space, objective, tuple(budgets), resolution=args.resolution or (224,),
                             latency_model=cal, **layout_kwargs(args))
    check_like_flags(args)
    name = args.like or "deepmad_r50"
    base = like(name, objective)
    convention = args.convention or "tinynas"
    extra = _flag_budgets(args, convention)
    merged = [b for b in base.budgets if all(b.quantity != e.quantity for e in extra)] + extra
    return like(name, objective, tuple(merged), resolution=args.resolution or None)


class DesignCommand(Command):
    """``deepmad design``."""

    name = "design"
    help = "design a CNN by solving DeepMAD's mathematical program for a budget"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("problem")
        g.add_argument("--like", choices=sorted(LIKE_PRESETS), metavar="PRESET",
                       help=f"budgets and layout of a reference config (default deepmad_r50): {', '.join(sorted(LIKE_PRESETS))}")
        g.add_argument("--space", choices=TEMPLATES, help="a template space instead of --like")
        for q in _COUNT_FLAGS:
            g.add_argument(f"--{q}", type=parse_count, metavar="N", help=f"upper bound on {q}, e.g. 25.5M / 4.13G")
        g.add_argument("--layers", type=number(int, low=1), metavar="N", help="upper bound on counted conv layers")
        g.add_argument("--rho", type=number(low=0, low_open=True), metavar="R", help="upper bound on effectiveness rho")
        g.add_argument("--resolution", type=_resolutions, metavar="R[,R...]", help="input side(s)")
        g.add_argument("--mode", choices=MODES, default="paper", help="score mode (default: paper)")
        g.add_argument("--convention", choices=("torch", "tinynas"),
                       help="cost convention of the budget flags (default: tinynas with --like, torch with --space)")
        s = parser.add_argument_group("solver")
        s.add_argument("--solver", choices=sorted(SOLVERS), default="exact", help="default: exact")
        s.add_argument("--time-limit", type=number(low=0, low_open=True), default=30.0, metavar="S", help="seconds (default 30)")
        s.add_argument("--gap", type=number(low=0, high=1, high_open=True), default=0.01,
                       help="relative optimality gap to stop at, 0 <= gap < 1 (default 0.01)")
        s.add_argument("--seed", type=int, default=0, help="evolution RNG seed")
        s.add_argument("--children", type=number(int, low=1), default=500_000, help="evolution children (default 500000)")
        parser.add_argument("--output", type=output_file(".json"), metavar="FILE.json", help="write the result JSON (atomically)")
        parser.add_argument("--json", action="store_true", help="print the result JSON instead of the summary")
        parser.add_argument("--quiet", action="store_true",
                            help="no progress lines on stderr (exact solver: one every 5 s on long solves)")
        add_task_arguments(parser)
        add_latency_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        if args.sweep is not None:  # latency flags are not swept: read the calibration (and warn) once
            latency = functools.cache(lambda: latency_budget(args))
            return run_sweep(args, lambda ns: build_problem(ns, latency()), self._options)
        problem, result, data = solve_design(args)
        measured = measure_design(problem, result, data) if getattr(args, "measure", False) else None
        if measured and args.resolve_measured:
            problem, result, data, measured = meet_measured(args, problem, result, data, measured, solve_design)
        if args.output:
            atomic_write_json(args.output, data)
        if args.plot:
            plot_design(args.plot, problem, result)
        print(json.dumps(data, indent=2) if args.json else summary(problem, result, args))
        if measured and not args.json:
            print(measured)
        if result.status == "interrupted":  # Ctrl-C: the best design so far is printed and written
            return 130
        return 0 if result.verified else 1

    @staticmethod
    def _options(args: argparse.Namespace, problem: DesignProblem) -> dict:
        if args.solver == "evolution":
            start = None
            name = args.like or ("deepmad_r50" if not args.space else None)
            if name and problem.space.resolutions == (LIKE_PRESETS[name].resolution,):
                start = LIKE_PRESETS[name].seed
            return {"children": args.children, "seed": args.seed, "time_limit": args.time_limit, "start": start}
        if args.solver == "exact" and not getattr(args, "quiet", False):
            return {"time_limit": args.time_limit, "gap": args.gap, "progress": _progress_line}
        return {"time_limit": args.time_limit, "gap": args.gap}


def _progress_line(p: Progress) -> None:
    """One progress line of a long exact solve, on stderr (``--quiet`` turns them off)."""
    gap = f"{100 * p.gap:.2f} %" if math.isfinite(p.gap) else "n/a"
    inc = f"{p.incumbent:.3f}" if math.isfinite(p.incumbent) else "none"
    print(f"  [{p.elapsed:6.1f} s] incumbent {inc}  bound {p.bound:.3f}  gap {gap}  nodes {p.nodes}  "
          f"bound evaluations {p.evaluations}", file=sys.stderr, flush=True)


def feasible_problem(args: argparse.Namespace, problem: DesignProblem | None = None) -> DesignProblem:
    """The problem the flags describe (or ``problem``), refused with :class:`InfeasibleError` (which
    constraint, by how much, and the classifier head's share when it is the cause) when no design of
    its space meets the budgets. ``deepmad run`` calls it before any long work."""
    problem = build_problem(args) if problem is None else problem
    shortfalls = diagnose(problem)
    if shortfalls:
        note = head_note(args, problem)
        raise InfeasibleError(infeasibility_message(problem, shortfalls) + (f"; {note}" if note else ""))
    return problem


def solve_design(args: argparse.Namespace,
                 problem: DesignProblem | None = None) -> tuple[DesignProblem, DesignResult, dict]:
    """Build the problem the flags describe (or take ``problem``), check it with
    :func:`feasible_problem`, solve it, and return it with its result JSON."""
    problem = feasible_problem(args, problem)
    result = get_solver(args.solver, **DesignCommand._options(args, problem)).solve(problem)
    if result.design is None and result.status == "interrupted":  # Ctrl-C before any design
        print(f"deepmad design: interrupted before a feasible design was found ({result.message})",
              file=sys.stderr)
        raise KeyboardInterrupt
    if result.design is None:
        raise InfeasibleError(result.message)
    data = result.to_dict(problem.convention)
    data["problem"] = {"name": problem.name, "mode": args.mode, "convention": problem.convention,
                       "budgets": [_budget_dict(b) for b in problem.budgets]}
    if (cal := problem.latency_model) is not None:
        data["latency"] = {"calibration": str(args.calibration), "mode": cal.mode, "batch": cal.batch,
                           "clock": cal.fingerprint.get("clock"), "predicted_ms": result.evaluation.costs.latency_ms,
                           "certificate": "with respect to the latency model, not measured time"}
    return problem, result, data


def _budget_dict(b: Budget) -> dict:
    return {"name": b.name, "upper": b.upper, "lower": b.lower}


def _fmt(x: float) -> str:
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.4g}"
    return si(float(x), ".3f")


def summary(problem: DesignProblem, result: DesignResult, args: argparse.Namespace) -> str:
    """Human-readable report: stage table, costs, constraint slacks, solver certificate."""
    spec, ev = result.spec, result.evaluation
    conv = problem.convention
    lines = [f"DeepMAD design: {problem.name} (mode {args.mode}, cost convention {conv})", ""]
    sides = spec.feature_sizes()
    lines.append(f"  {'stage':<8}{'block':<14}{'stride':>6}{'out':>7}{'btn':>7}{'depth':>7}{'kernel':>7}{'side':>6}")
    lines.append(f"  {'stem':<8}{'conv3x3':<14}{spec.stem.stride:>6}{spec.stem.out_channels:>7}{'':>7}{1:>7}"
                 f"{spec.stem.kernel_size:>7}{sides[0]:>6}")
    for i, st in enumerate(spec.stages):
        lines.append(f"  {i + 1:<8}{st.block:<14}{st.stride:>6}{st.out_channels:>7}{st.bottleneck_channels:>7}"
                     f"{st.depth:>7}{st.kernel_size:>7}{sides[i + 1]:>6}")
    if spec.final_conv is not None:
        lines.append(f"  {'final':<8}{'conv1x1':<14}{1:>6}{spec.final_conv.out_channels:>7}")
    c = ev.costs
    lines += ["", f"  objective {ev.objective:.3f} = entropy {ev.entropy:.3f} - penalty {ev.penalty:.3f}; rho {ev.rho:.4f}",
              f"  params {_fmt(c.get('params', conv))}  MACs {_fmt(c.get('macs', conv))}  FLOPs {_fmt(c.get('flops', conv))}"
              f"  activations {_fmt(c.activations)}  layers {c.layers}"]
    lines += latency_lines(problem, result)
    if note := head_note(args, problem, result):
        lines.append(f"  {note}")
    lines += ["", "  constraints (slack <= 0 is met):"]
    for cv in result.constraints:
        lines.append(f"    {cv.name:<18}{cv.sense} {_fmt(cv.limit):>10}   value {_fmt(cv.value):>10}   "
                     f"slack {100 * cv.slack / cv.limit if cv.limit else cv.slack:+.2f} %")
    gap = "n/a (no bound)" if not math.isfinite(result.gap) else f"{100 * result.gap:.3f} %"
    lines += ["", f"  solver {result.solver}: {result.status}; gap {gap}; nodes {result.nodes}; "
                  f"time {result.time_s:.1f} s; re-checked: {'yes' if result.verified else 'NO'}",
              f"  {result.message}"]
    if args.like or not args.space:
        lines.append(_published_line(problem, args))
    return "\n".join(lines)


def _published_line(problem: DesignProblem, args: argparse.Namespace) -> str:
    name = args.like or "deepmad_r50"
    pub = get_preset(LIKE_PRESETS[name].published)
    ev = problem.verify(pub)
    ok = "meets" if ev.feasible else "does NOT meet"
    return (f"  published {DISPLAY_NAMES.get(name, name)} under the same objective: {ev.objective:.3f} "
            f"({ok} these budgets)")


class ScoreCommand(Command):
    """``deepmad score``."""

    name = "score"
    help = "print a spec's DeepMAD score: entropy, penalty, objective, rho, stage terms"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec", help="preset name, spec .json or TinyNAS .txt")
        parser.add_argument("--mode", choices=MODES, default="paper", help="score mode (default: paper)")
        parser.add_argument("--resolution", type=int, help="input side (default: the spec's)")
        parser.add_argument("--weights", help="stage weights, e.g. 1,1,1,1,8 (default: 1,...,1,8)")
        parser.add_argument("--half", action=argparse.BooleanOptionalAction, default=None,
                            help="the 0.5 (sqrt) factor (default: on in reference mode, off in paper mode)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, args: argparse.Namespace) -> int:
        spec = load_spec(args.spec, resolution=args.resolution)
        weights = None
        if args.weights:
            try:
                weights = tuple(float(w) for w in args.weights.split(","))
            except ValueError:
                raise DeepmadError(f"--weights {args.weights!r} is invalid; expected e.g. 1,1,1,1,8") from None
        rep = score_spec(spec, args.mode, stage_weights=weights, half=args.half)
        print(json.dumps(rep.to_dict(), indent=2) if args.json else _score_text(spec.name or args.spec, rep))
        return 0


def _score_text(name: str, rep: ScoreReport) -> str:
    info = rep.info
    lines = [f"{name}: DeepMAD score (mode {rep.config.mode}, factor {rep.config.factor:g})",
             f"  objective {rep.objective:.3f} = entropy {rep.entropy:.3f} - penalty {rep.penalty:.3f}",
             f"  rho {rep.rho:.4f}; penalty depths {list(rep.depths)}", "",
             f"  {'stage':<6}{'channels':>9}{'side':>6}{'blocks':>8}{'layers':>8}{'sum h':>10}{'term':>12}{'rho':>8}"]
    for s, (c, r, u, d, sm, t, rh) in enumerate(zip(info.channels, info.sides, info.unit_count, info.layer_count,
                                                    rep.stage_sums, rep.stage_terms, rep.stage_rho)):
        lines.append(f"  {s + 1:<6}{c:>9}{r:>6}{u:>8}{d:>8}{sm:>10.3f}{t:>12.3f}{rh:>8.4f}")
    return "\n".join(lines)


COMMANDS = [DesignCommand, ScoreCommand]
