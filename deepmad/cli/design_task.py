"""``deepmad design`` flags for the user's task: layout, classes, report picture and Pareto sweep.

Kept apart from :mod:`deepmad.cli.design` (the problem and solver flags): ``--strides``,
``--min-final-side``, ``--in-channels`` and ``--num-classes`` shape a ``--space`` template
(:func:`deepmad.solvers.templates.layout`); ``--plot FILE.png`` draws the design report
(:mod:`deepmad.report`); ``--sweep QTY=LO:HI:N`` solves one problem per budget value in
geometric steps (:mod:`deepmad.solvers.sweep`), prints one row per budget, writes the list
(``--output``) and a picture of objective vs budget (``--plot``).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from deepmad.cli.base import output_file, parse_count
from deepmad.errors import DeepmadError
from deepmad.solvers import DesignProblem, DesignResult
from deepmad.solvers.sweep import SweepPoint, geometric_values, sweep
from deepmad.solvers.templates import MIN_FINAL_SIDE
from deepmad.utils.io import atomic_write_json
from deepmad.utils.numbers import si

__all__ = ["LAYOUT_FLAGS", "LAYOUT_LABELS", "SweepSpec", "add_task_arguments", "check_like_flags",
           "head_note", "layout_kwargs", "plot_design", "run_sweep"]

# destination -> flag; these shape a --space template and are refused with --like
LAYOUT_FLAGS = {"strides": "--strides", "min_final_side": "--min-final-side",
                "in_channels": "--in-channels", "num_classes": "--num-classes"}
LAYOUT_LABELS = {**LAYOUT_FLAGS, "resolution": "--resolution"}  # names in layout error messages
SWEEP_QUANTITIES = ("params", "macs", "flops", "activations", "layers", "rho")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed ``--sweep QTY=LO:HI:N``."""

    quantity: str
    lo: float
    hi: float
    steps: int

    def values(self) -> tuple[float, ...]:
        """The budget values (integers for ``layers``)."""
        return geometric_values(self.lo, self.hi, self.steps, integer=self.quantity == "layers")


def _strides(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a stride list; expected e.g. 1,1,2,2,1,2") from None
    if any(v not in (1, 2) for v in vals):
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; each stride must be 1 or 2")
    return vals


def _sweep(text: str) -> SweepSpec:
    usage = "expected QTY=LOW:HIGH:STEPS, e.g. macs=100M:2G:6"
    qty, _, rng = text.partition("=")
    if qty not in SWEEP_QUANTITIES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: quantity {qty!r} is invalid; allowed: {', '.join(SWEEP_QUANTITIES)} ({usage})")
    parts = rng.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; {usage}")
    lo, hi = parse_count(parts[0]), parse_count(parts[1])
    try:
        steps = int(parts[2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: steps {parts[2]!r} is not an integer; {usage}") from None
    if not 0 < lo < hi or steps < 2:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected 0 < LOW < HIGH and STEPS >= 2")
    return SweepSpec(qty, lo, hi, steps)


def _positive(lo: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected an integer >= {lo}")
        return v
    return parse


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the layout, report and sweep flags."""
    g = parser.add_argument_group("layout (--space only)")
    g.add_argument("--strides", type=_strides, metavar="S0,S1,...",
                   help="strides of the stem, then of each stage (6 values, each 1 or 2), e.g. "
                        "1,1,2,2,1,2; default: the template's 32x layout with the earliest 2s set "
                        "to 1 until the final map is >= --min-final-side px")
    g.add_argument("--min-final-side", type=_positive(1), metavar="PX",
                   help=f"smallest final feature-map side of the default layout (default {MIN_FINAL_SIDE})")
    g.add_argument("--in-channels", type=_positive(1), metavar="C", help="image channels (default 3)")
    g.add_argument("--num-classes", type=_positive(0), metavar="N",
                   help="classifier outputs, counted in the costs (default 1000; 0: no classifier)")
    r = parser.add_argument_group("report and sweep")
    r.add_argument("--plot", type=output_file(".png"), metavar="FILE.png", help="draw the design report (with --sweep: objective vs budget)")
    r.add_argument("--sweep", type=_sweep, metavar="QTY=LO:HI:N",
                   help=f"solve one design per budget value, N geometric steps; QTY: {', '.join(SWEEP_QUANTITIES)}")


def check_like_flags(args: argparse.Namespace) -> None:
    """Refuse the layout flags on the ``--like`` path (its layout is the reference config's)."""
    given = [flag for dest, flag in LAYOUT_FLAGS.items() if getattr(args, dest, None) is not None]
    if given:
        raise DeepmadError(f"{', '.join(given)} apply to --space TEMPLATE only; --like (the default) keeps "
                           "the reference config's layout, 3 input channels and 1000 classes")


def layout_kwargs(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`deepmad.solvers.templates.space_problem` from the flags."""
    given = {k: getattr(args, k) for k in ("strides", "min_final_side", "in_channels", "num_classes")}
    return {**{k: v for k, v in given.items() if v is not None}, "labels": LAYOUT_LABELS}  # else its defaults


def head_note(args: argparse.Namespace, problem: DesignProblem, result: DesignResult | None = None) -> str:
    """The classifier's share of the design's params, or of the params budget ('' if none applies).

    Only for ``--space`` (``--like`` keeps the reference's 1000 classes); without a result, only
    for a space with a fixed final conv width (the head's smallest size is then known).
    """
    sp = problem.space
    if not args.space or not sp.num_classes:
        return ""
    if result is not None and result.spec is not None and result.evaluation is not None:
        feats, of, what = result.spec.num_features, result.evaluation.costs.params_torch, "the design's params"
    else:
        budget = next((b.upper for b in problem.budgets if b.quantity == "params" and b.upper), None)
        if sp.final_conv is None or not budget:
            return ""
        feats, of, what = sp.final_conv.values()[0], budget, "the params budget"
    head = feats * sp.num_classes + sp.num_classes
    default = " (the default; set --num-classes)" if args.num_classes is None else ""
    return f"the {sp.num_classes}-class head{default} has {head / 1e6:.3g}M params, {100 * head / of:.0f} % of {what}"


def plot_design(path: str, problem: DesignProblem, result: DesignResult) -> None:
    """Draw the design report of ``result`` (structure, cost shares, constraint slacks)."""
    from deepmad.report import draw_design

    gap = "no bound" if not math.isfinite(result.gap) else f"{100 * result.gap:.2f} %"
    title = (f"{problem.name}: objective {result.objective:.1f} ({result.solver}: {result.status}, "
             f"gap {gap})")
    draw_design(path, result.spec, name=problem.name, constraints=result.constraints,
                convention=problem.convention, title=title)


def _fmt(x: float) -> str:
    return si(x, ".3g", ".4g")


_HEADER = f"  {'budget':>9} {'objective':>10} {'gap':>8} {'params':>8} {'MACs':>8} {'acts':>8} {'time':>7}"


def _row(p: SweepPoint, convention: str) -> str:
    r = p.result
    if r.evaluation is None:
        return f"  {_fmt(p.budget):>9} {'none':>10} {'':>8} {'':>8} {'':>8} {'':>8} {r.time_s:>6.1f}s  {r.status}"
    c = r.evaluation.costs
    gap = "inf" if not math.isfinite(p.sweep_gap) else f"{100 * p.sweep_gap:.2f}%"
    return (f"  {_fmt(p.budget):>9} {r.objective:>10.1f} {gap:>8} {_fmt(c.get('params', convention)):>8} "
            f"{_fmt(c.get('macs', convention)):>8} {_fmt(c.activations):>8} {r.time_s:>6.1f}s  {r.status}")


def _point_dict(p: SweepPoint, convention: str) -> dict:
    data = p.result.to_dict(convention)
    data["budget"] = p.budget
    data["warm_start_objective"] = p.warm_start
    data["sweep_dual_bound"] = p.sweep_dual if math.isfinite(p.sweep_dual) else None
    data["sweep_gap"] = p.sweep_gap if math.isfinite(p.sweep_gap) else None
    return data


def run_sweep(args: argparse.Namespace, build: Callable[[argparse.Namespace], DesignProblem],
              options: Callable[[argparse.Namespace, DesignProblem], dict]) -> int:
    """``--sweep``: build every problem first, solve in increasing budget, print, write, draw."""
    spec: SweepSpec = args.sweep
    if getattr(args, "measure", False):
        raise DeepmadError("--measure times one design; it does not apply to --sweep (measure a chosen "
                           "point with deepmad latency SPEC --calibration CAL.json --measure)")
    if getattr(args, spec.quantity) is not None:
        raise DeepmadError(f"--{spec.quantity} and --sweep {spec.quantity}=... both set the {spec.quantity} "
                           "budget; drop one")
    values = spec.values()

    @functools.cache  # the first problem is built once, for the header and by the sweep
    def problem_at(v: float) -> DesignProblem:
        ns = argparse.Namespace(**vars(args))
        setattr(ns, spec.quantity, int(v) if spec.quantity == "layers" else v)
        return build(ns)

    first = problem_at(values[0])
    conv = first.convention
    say = (lambda *a, **k: None) if args.json else print
    say(f"DeepMAD sweep: {first.name}, {spec.quantity} {_fmt(values[0])} .. {_fmt(values[-1])} "
        f"({len(values)} budgets, cost convention {conv}, {args.solver} {args.time_limit:g} s each)")
    say(_HEADER)
    points = sweep(problem_at, values, args.solver, options(args, first),
                   on_point=lambda p: say(_row(p, conv), flush=True))
    rows = [_point_dict(p, conv) for p in points]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif notes := _sweep_notes(points):
        print(notes)
    if args.output:
        atomic_write_json(args.output, rows)
    if args.plot:
        _plot_sweep(args.plot, points, first, spec, conv)
    return 0 if all(p.result.verified for p in points) else 1


def _sweep_notes(points: list[SweepPoint]) -> str:
    """Gaps a larger budget's bound tightened, and budgets without a verified design."""
    lines = [f"  {_fmt(p.budget)}: gap {100 * p.result.gap:.2f}% -> {100 * p.sweep_gap:.2f}% (bound of a "
             "larger budget: the optimum cannot fall as the budget grows)"
             for p in points if math.isfinite(p.result.gap) and p.sweep_gap < p.result.gap - 1e-12]
    if missing := [p for p in points if not p.result.verified]:
        lines.append(f"  {len(missing)} budget(s) without a verified design (infeasible, none found in time, "
                     "or a failed re-check): exit status 1")
    return "\n".join(lines)


def _plot_sweep(path: str, points: list[SweepPoint], problem: DesignProblem, spec: SweepSpec,
                convention: str) -> None:
    from deepmad.report import SweepRow, draw_sweep, preset_marks

    name = next(b.name for b in problem.budgets if b.quantity == spec.quantity)
    rows = []
    for p in points:
        ev = p.result.evaluation
        value = next((c.value for c in p.result.constraints if c.name == name), math.nan) if ev else math.nan
        rows.append(SweepRow(p.budget, p.result.objective, p.sweep_dual, value))
    marks = preset_marks(problem, name, spec.lo, spec.hi)
    draw_sweep(path, rows, name, marks, title=f"{problem.name}: objective vs {name} budget ({convention} costs)")
