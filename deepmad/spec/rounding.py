"""The channel quantiser shared by every width generator (STYLE guideline 4)."""

from __future__ import annotations

__all__ = ["make_divisible"]


def make_divisible(value: float, divisor: int = 4, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below 90% of it.

    ``max(min_value, floor(value + divisor / 2) // divisor * divisor)``, plus ``divisor`` if that
    lost more than 10% (S-GhostNet ``_make_divisible``, as in MobileNetV2 / timm).
    """
    floor_value = divisor if min_value is None else min_value
    new = max(floor_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new
