"""Statistics of timing repeats shared by the latency profilers (MathNAS tables, calibrations)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = ["iqr_over_median"]


def iqr_over_median(samples: Sequence[float]) -> float:
    """Relative spread of timing repeats: ``(Q3 - Q1) / median`` (at least 4 samples; inf when the
    median is not positive)."""
    if len(samples) < 4:
        raise ValueError(f"the interquartile range needs >= 4 samples, got {len(samples)}")
    q1, _, q3 = statistics.quantiles(samples, n=4)
    med = statistics.median(samples)
    return (q3 - q1) / med if med > 0 else math.inf
