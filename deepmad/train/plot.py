"""Loss and accuracy curves of a run, drawn from ``RUN_DIR/metrics.jsonl`` into a PNG.

Uses matplotlib's object API (``Figure`` + Agg canvas) so no global pyplot state or backend is
touched; the PNG is written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from deepmad.errors import DeepmadError
from deepmad.utils.figures import figure_png
from deepmad.utils.io import atomic_write_bytes, check_output

__all__ = ["read_metrics", "plot_run", "plot_metrics"]


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file; a torn last line (a kill mid-write) is skipped.

    Raises a one-line error naming the file when a line before the last is damaged, or when no
    complete record is left (empty file, or only a torn line).
    """
    path = Path(path)
    if not path.is_file():
        raise DeepmadError(f"{path} does not exist; is this a deepmad run directory?")
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise DeepmadError(f"{path} is not a text file (expected one JSON record per line)") from None
    records = []
    for i, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                continue  # torn by a kill mid-write
            raise DeepmadError(f"{path} line {i + 1} is not a JSON record; the file is damaged") from None
        if not isinstance(rec, dict) or "epoch" not in rec:
            raise DeepmadError(f"{path} line {i + 1} is not a metrics record (no 'epoch' key)")
        records.append(rec)
    if not records:
        why = "its only line is truncated (the run was stopped while writing it)" if lines else "it is empty"
        raise DeepmadError(f"{path} holds no complete epoch record: {why}; nothing to plot")
    return records


def plot_metrics(records: list[dict[str, Any]], title: str = "") -> bytes:
    """PNG bytes with two panels: losses, and top-1 / top-5 accuracy, against the epoch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not records:
        raise DeepmadError("no metrics to plot (no epoch record)")
    fig = Figure(figsize=(10, 4), dpi=110)
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in records]
    for key, label in (("train_loss", "train loss"), ("val_loss", "val loss"), ("ema_val_loss", "EMA val loss")):
        if key in records[0]:
            ax_loss.plot(epochs, [r[key] for r in records], marker=".", label=label)
    for key, label in (("train_top1", "train top-1"), ("val_top1", "val top-1"),
                       ("val_top5", "val top-5"), ("ema_val_top1", "EMA val top-1")):
        if key in records[0]:
            ax_acc.plot(epochs, [r[key] for r in records], marker=".", label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return figure_png(fig)


def plot_run(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Draw ``RUN_DIR/metrics.jsonl`` into ``out`` (default ``RUN_DIR/curves.png``)."""
    run_dir = Path(run_dir)
    records = read_metrics(run_dir / "metrics.jsonl")
    target = check_output(out if out is not None else run_dir / "curves.png", "the plot", (".png",))
    return atomic_write_bytes(target, plot_metrics(records, title=run_dir.name))
