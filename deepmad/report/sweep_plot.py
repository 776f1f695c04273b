"""Pareto sweep picture: the designed optimum (with its certified bound) against the swept budget.

The published presets whose swept quantity falls inside the swept range are marked at
(their cost, their objective under the same score config); a hollow marker means the preset
breaks one of the sweep's other (fixed) budgets.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deepmad.errors import DeepmadError
from deepmad.utils.figures import save_png
from deepmad.utils.numbers import si

__all__ = ["PresetMark", "SweepRow", "preset_marks", "draw_sweep"]


@dataclass(frozen=True)
class SweepRow:
    """What the sweep picture needs of one point."""

    budget: float  # the swept budget
    objective: float  # designed objective (-inf: none found)
    dual_bound: float  # certified upper bound on the optimum (inf: none)
    value: float  # the design's swept quantity


@dataclass(frozen=True)
class PresetMark:
    """A published network placed on the sweep's axes."""

    name: str
    value: float  # its swept quantity
    objective: float  # its objective under the sweep's score config
    meets_others: bool  # meets every other budget of the sweep


def preset_marks(problem, quantity_name: str, lo: float, hi: float,
                 names: Sequence[str] | None = None) -> list[PresetMark]:
    """Presets whose ``quantity_name`` (a budget name, e.g. ``macs[torch]``) lies in ``[lo, hi]``.

    Each preset is evaluated at the problem's smallest resolution with ``problem.verify`` (the
    independent cost and score code), so its objective is comparable with the sweep's; presets
    the score cannot rate (block kinds without an entropy rule) are left out.
    """
    from deepmad.spec.presets import PRESETS, get_preset

    res = min(problem.space.resolutions)
    out = []
    for name in names if names is not None else sorted(PRESETS):
        spec = get_preset(name).replace(resolution=res)
        try:
            ev = problem.verify(spec)
        except DeepmadError:  # no entropy rule for its blocks (e.g. Ghost), or too small an input
            continue
        v = next(c.value for c in ev.constraints if c.name == quantity_name)
        if lo <= v <= hi:
            others = all(c.satisfied for c in ev.constraints if c.name != quantity_name)
            out.append(PresetMark(name, v, ev.objective, others))
    return out


def _si(x: float) -> str:
    return si(x, ".3g", ".3g")


def draw_sweep(path: str | os.PathLike[str], rows: Sequence[SweepRow], quantity: str,
               marks: Sequence[PresetMark] = (), title: str = "") -> Path:
    """Write a PNG of objective vs swept budget (atomically) and return its path.

    Solid line: the designs' objectives at their budgets; shaded: up to the certified bound.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    ok = [r for r in rows if math.isfinite(r.objective)]
    fig, ax = plt.subplots(figsize=(8, 5))
    if ok:
        xs = [r.budget for r in ok]
        ax.plot(xs, [r.objective for r in ok], "o-", color="#3b6ea8", label="designed (best found)")
        ub = [r.dual_bound if math.isfinite(r.dual_bound) else r.objective for r in ok]
        ax.fill_between(xs, [r.objective for r in ok], ub, color="#3b6ea8", alpha=0.2,
                        label="up to the certified bound (gap)")
    for i, m in enumerate(sorted(marks, key=lambda m: m.value)):
        ax.plot([m.value], [m.objective], "s", ms=8, color="#c0392b",
                mfc="#c0392b" if m.meets_others else "none")
        # neighbours' labels alternate above and below their markers so that they do not overlap
        ax.annotate(m.name, (m.value, m.objective), textcoords="offset points", ha="center",
                    xytext=(0, 9 if i % 2 else -15), fontsize=8, color="#c0392b")
    if marks:
        ax.plot([], [], "s", color="#c0392b", label="published (hollow: breaks another budget)")
    ax.set_xscale("log")
    ax.margins(x=0.06, y=0.1)  # room for the labels of markers at the edges
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _si(x)))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
    ax.set_xticks([r.budget for r in rows])
    ax.set_xlabel(f"{quantity} budget (log)")
    ax.set_ylabel("objective (DeepMAD entropy score)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title, fontsize=10)
    return save_png(fig, path, dpi=110)
