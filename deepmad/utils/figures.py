"""Finishing a matplotlib figure: tight layout, PNG bytes, closed, optionally written atomically.

Every plot of the package (training curves, enlarge paths, design reports, sweeps) ends here, so
PNG settings and the atomic write live once. matplotlib is imported only when called (Agg).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from deepmad.utils.io import atomic_write_bytes

__all__ = ["figure_png", "save_png"]


def figure_png(fig: Any, dpi: int | None = None) -> bytes:
    """PNG bytes of ``fig`` after ``tight_layout``; the figure is closed (pyplot or not)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi if dpi is not None else fig.dpi)
    plt.close(fig)
    return buf.getvalue()


def save_png(fig: Any, path: str | os.PathLike[str], dpi: int | None = None) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically (see :func:`figure_png`); returns the path."""
    return atomic_write_bytes(path, figure_png(fig, dpi))
