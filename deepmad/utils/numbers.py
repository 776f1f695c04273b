"""Numbers for people: counts with an SI suffix (k, M, G, T), the one formatter of tables, plots
and reports."""

from __future__ import annotations

__all__ = ["si"]

_UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(x: float, spec: str = ".3g", small: str = "g") -> str:
    """``x`` with the largest SI suffix it reaches, formatted by ``spec`` (``si(25557032, ".2f")``
    -> ``'25.56M'``); below 1000 formatted by ``small`` (``""``: ``str(x)``)."""
    for scale, unit in _UNITS:
        if abs(x) >= scale:
            return f"{x / scale:{spec}}{unit}"
    return format(x, small)
