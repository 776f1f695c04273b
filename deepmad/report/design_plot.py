"""Design report of one spec: a per-stage table (pure data) and its picture (matplotlib, Agg).

One :class:`StageRow` per part of the network (stem, each stage, final conv, head) holds the
structure (width ``c``, bottleneck ``b``, depth ``L``, kernel ``k``, stride, output side) and the
part's share of the network's MACs, params and activations (``count_network``), plus an optional
predicted latency per part (a hook for a hardware calibration: any mapping from part name to
seconds). :func:`draw_design` draws the structure, the shares and, for a design result, the
constraint slacks, optionally next to a reference spec.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.spec.blocks import ResNetStem
from deepmad.spec.network import NetworkSpec
from deepmad.utils.figures import save_png
from deepmad.utils.numbers import si

__all__ = ["StageRow", "stage_table", "draw_design"]


@dataclass(frozen=True)
class StageRow:
    """One part of a network with its structure and its shares of the network's costs."""

    name: str  # "stem", "stage1".., "final_conv", "head"
    block: str  # block kind, "conv" for stem / final conv, "linear" for the head
    width: int  # output channels (classes for the head)
    bottleneck: int | None  # b (None for stem, final conv and head)
    depth: int  # blocks
    kernel: int | None  # k (None for the head)
    stride: int  # total stride of the part
    side: int  # output feature-map side (1 for the head)
    params: int
    macs: int
    activations: int
    params_share: float  # fraction of the network's params, in [0, 1]
    macs_share: float
    activations_share: float
    latency_s: float | None = None  # predicted latency of the part (calibration hook)
    latency_share: float | None = None


def _structure(spec: NetworkSpec) -> dict[str, tuple[str, int, int | None, int, int | None, int]]:
    """Part name -> (block, width, bottleneck, depth, kernel, stride)."""
    stem = spec.stem
    kind = "resnet_stem" if isinstance(stem, ResNetStem) else "conv"
    out = {"stem": (kind, stem.out_channels, None, 1, stem.kernel_size, stem.stride)}
    for i, st in enumerate(spec.stages):
        out[f"stage{i + 1}"] = (st.block, st.out_channels, st.bottleneck_channels, st.depth,
                                st.kernel_size, st.stride)
    if spec.final_conv is not None:
        f = spec.final_conv
        out["final_conv"] = ("conv", f.out_channels, None, 1, f.kernel_size, f.stride)
    if spec.head.num_classes > 0:
        out["head"] = ("linear", spec.head.num_classes, None, 1, None, 1)
    return out


def stage_table(spec: NetworkSpec, convention: str = "torch",
                latency: Mapping[str, float] | None = None) -> tuple[StageRow, ...]:
    """Per-part structure and cost shares of ``spec`` (costs from :func:`count_network`).

    Args:
        spec: the network.
        convention: cost convention (``"torch"``: every parameter, head included).
        latency: optional predicted seconds per part name (e.g. from a hardware calibration);
            parts it does not name get no latency.

    Share of part ``p`` in quantity ``q``: ``q_p / sum_p q_p`` (0 when the total is 0).
    """
    report = count_network(spec, convention)
    parts = _structure(spec)
    if latency is not None and (bad := sorted(set(latency) - set(parts))):
        raise DeepmadError(f"latency names unknown parts {bad}; parts: {', '.join(parts)}")
    tot = {q: sum(getattr(s, q) for s in report.stages) for q in ("params", "macs", "activations")}
    lat_tot = sum(latency.values()) if latency else 0.0
    rows = []
    for st in report.stages:
        block, width, btn, depth, kernel, stride = parts[st.name]
        lat = None if latency is None else latency.get(st.name)
        rows.append(StageRow(
            st.name, block, width, btn, depth, kernel, stride, st.out_size if st.name != "head" else 1,
            st.params, st.macs, st.activations,
            *(getattr(st, q) / tot[q] if tot[q] else 0.0 for q in ("params", "macs", "activations")),
            lat, None if lat is None or not lat_tot else lat / lat_tot))
    return tuple(rows)


def _short(name: str) -> str:
    return {"stem": "stem", "final_conv": "final", "head": "head"}.get(name, name.replace("stage", "s"))


def _structure_panel(ax, rows: Sequence[StageRow], title: str) -> None:
    body = [r for r in rows if r.name != "head"]
    xs = range(len(body))
    ax.bar([x - 0.2 for x in xs], [r.width for r in body], 0.4, label="width c", color="#3b6ea8")
    ax.bar([x + 0.2 for x in xs], [r.bottleneck or 0 for r in body], 0.4, label="bottleneck b",
           color="#e39c3a")
    ax.set_yscale("log")
    for x, r in zip(xs, body):
        cb = f"{r.width}/{r.bottleneck}" if r.bottleneck else f"{r.width}"
        ax.annotate(f"{cb}\nL={r.depth} k={r.kernel}", (x, max(r.width, r.bottleneck or 0) * 1.15),
                    ha="center", va="bottom", fontsize=7.5)
    ax.set_xticks(list(xs), [f"{_short(r.name)}\ns{r.stride}, {r.side}px" for r in body], fontsize=8)
    ax.set_ylabel("channels (log)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", title="annotated: c/b, depth L, kernel k", title_fontsize=7.5)


def _share_panel(ax, rows: Sequence[StageRow]) -> None:
    series = [("MACs", "macs_share", "#3b6ea8"), ("params", "params_share", "#e39c3a"),
              ("activations", "activations_share", "#5a9e5a")]
    if any(r.latency_share is not None for r in rows):
        series.append(("latency", "latency_share", "#a14f9e"))
    w = 0.8 / len(series)
    for i, (label, attr, colour) in enumerate(series):
        vals = [100 * (getattr(r, attr) or 0.0) for r in rows]
        ax.bar([x + (i - (len(series) - 1) / 2) * w for x in range(len(rows))], vals, w,
               label=label, color=colour)
    ax.set_xticks(range(len(rows)), [_short(r.name) for r in rows], fontsize=8)
    ax.set_ylabel("share of network (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(series), frameon=False)


def _si(x: float) -> str:
    return si(x, ".4g", ".4g")


def _slack_panel(ax, constraints: Sequence) -> None:
    """Constraint usage ``value / limit`` in % (upper bounds; 100 % = the budget)."""
    names = [c.name for c in constraints]
    use = [100 * c.value / c.limit if c.limit else 0.0 for c in constraints]
    colours = ["#c0392b" if not c.satisfied else "#3b6ea8" for c in constraints]
    ax.barh(range(len(names)), use, color=colours, height=0.6)
    ax.axvline(100, color="black", lw=1, ls="--")
    for y, (u, c) in enumerate(zip(use, constraints)):
        text = f"{_si(c.value)} of {_si(c.limit)}: {u:.1f} %"
        if u > 45:  # inside the bar, left of the budget line
            ax.text(min(u, 100) - 2, y, text, va="center", ha="right", fontsize=8, color="white")
        else:
            ax.text(u + 2, y, text, va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlim(0, max(110, max(use, default=0) * 1.05))
    ax.set_xlabel("value / budget (%)")
    ax.set_title("constraints (dashed: budget)", fontsize=10)


def _label(spec: NetworkSpec, convention: str, name: str) -> str:
    c = count_network(spec, convention)
    return (f"{name or spec.name or 'spec'}: {spec.resolution}px, {spec.in_channels} in, "
            f"{spec.head.num_classes} classes\nparams {c.params / 1e6:.3g}M, MACs {c.macs / 1e6:.4g}M, "
            f"acts {c.activations / 1e6:.3g}M [{convention}]")


def draw_design(path: str | os.PathLike[str], spec: NetworkSpec, *, name: str = "",
                constraints: Sequence | None = None, compare: NetworkSpec | None = None,
                compare_name: str = "", convention: str = "torch", title: str = "",
                latency: Mapping[str, float] | None = None) -> Path:
    """Write a PNG design report of ``spec`` (atomically) and return its path.

    Args:
        path: destination ``.png``.
        spec: the network.
        name: its display name.
        constraints: the design's :class:`~deepmad.solvers.ConstraintValue` s (a panel of slacks).
        compare: a reference spec drawn in a second column, same axes.
        compare_name: its display name.
        convention: cost convention of the shares.
        title: figure title (e.g. objective and gap).
        latency: predicted seconds per part of ``spec`` (see :func:`stage_table`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [(spec, name, latency)] + ([(compare, compare_name, None)] if compare is not None else [])
    nrows = 3 if constraints else 2
    fig = plt.figure(figsize=(7.5 * len(cols), 3.6 * nrows + 0.6))
    grid = fig.add_gridspec(nrows, len(cols), height_ratios=[1.1, 1.0] + ([0.7] if constraints else []))
    tables = [stage_table(s, convention, lat) for s, _, lat in cols]
    top = max(max(r.width for r in t if r.name != "head") for t in tables)
    share = max(100 * (getattr(r, q) or 0.0) for t in tables for r in t
                for q in ("macs_share", "params_share", "activations_share", "latency_share"))
    for j, ((s, n, _), rows) in enumerate(zip(cols, tables)):
        ax = fig.add_subplot(grid[0, j])
        _structure_panel(ax, rows, _label(s, convention, n))
        ax.set_ylim(4, top * 10)  # same axes in both columns
        ax = fig.add_subplot(grid[1, j])
        _share_panel(ax, rows)
        ax.set_ylim(0, min(100, share * 1.1 + 2))
    if constraints:
        _slack_panel(fig.add_subplot(grid[2, :]), constraints)
    if title:
        fig.suptitle(title, fontsize=11)
    return save_png(fig, path, dpi=110)
