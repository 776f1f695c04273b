"""Per-stage MACs allocation along enlarging paths (the style of the paper's Fig. 2).

Paper: Liu et al., "Greedy Network Enlarging", arXiv 2108.00177, Fig. 2 (MACs per stage of
ResNets and EfficientNets). One panel per result (e.g. greedy and compound), one stacked bar per
network of the path, one colour per stage. matplotlib is imported only here (Agg backend).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from deepmad.enlarge.records import EnlargeResult
from deepmad.utils.figures import save_png
from deepmad.utils.numbers import si

__all__ = ["plot_allocation"]


def _label(point_macs: int) -> str:
    return si(point_macs, ".3g", "")


def plot_allocation(results: Sequence[EnlargeResult], path: str | os.PathLike[str],
                    title: str = "") -> Path:
    """Write a PNG with one stacked-bar panel of per-stage MACs per result.

    Args:
        results: the paths to draw, e.g. ``[greedy, compound]``.
        path: destination ``.png`` (written atomically).
        title: figure title.

    Returns:
        The destination path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(dict.fromkeys(name for r in results for p in r.path for name, _ in p.stage_macs))
    colours = plt.get_cmap("viridis")(
        [i / max(len(stages) - 1, 1) for i in range(len(stages))])
    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 4.2), sharey=True, squeeze=False)
    for ax, result in zip(axes[0], results):
        xs = range(len(result.path))
        bottom = [0.0] * len(result.path)
        for stage, colour in zip(stages, colours):
            vals = [dict(p.stage_macs).get(stage, 0) / 1e6 for p in result.path]
            ax.bar(xs, vals, bottom=bottom, color=colour, label=stage, width=0.7)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_xticks(list(xs), [f"{'base' if p.step == 0 else f'step {p.step}'}\n{_label(p.macs)}"
                                 for p in result.path])
        ax.set_title(result.method)
        ax.set_ylabel("MACs (M)")
    axes[0][-1].legend(loc="upper left", fontsize="small", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title)
    return save_png(fig, path, dpi=120)
