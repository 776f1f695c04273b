"""The one status vocabulary of every solver (DeepMAD exact / evolution / SCIP, MathNAS).

A status says why a solver stopped and what its answer is worth; it never overstates:

* ``optimal`` -- the certified gap is zero (relative gap <= :data:`OPTIMAL_GAP`, float noise);
* ``gap_limit`` -- the requested gap tolerance was met with a gap above zero (the default 1 %);
* ``time_limit`` / ``node_limit`` / ``other_limit`` -- a limit stopped the search (``other_limit``:
  SCIP's memory, solution or restart limits); the gap says how far from proven the answer is;
* ``interrupted`` -- stopped by the user (Ctrl-C); the best design so far is returned;
* ``infeasible`` -- no design meets the budgets (proven, or no design found by a complete search);
* ``completed`` -- a heuristic without a bound (the evolution) ran its full budget: nothing is
  proven about optimality;
* ``failed`` -- the solver gave no usable answer (an error, or its answer failed the re-check).

``success`` on a result means a feasible, re-checked design was returned, whatever the status.
"""

from __future__ import annotations

import math

__all__ = ["STATUSES", "OPTIMAL_GAP", "check_status", "certified_status", "from_scip", "relative_gap"]

STATUSES = ("optimal", "gap_limit", "time_limit", "node_limit", "other_limit", "interrupted",
            "infeasible", "completed", "failed")
OPTIMAL_GAP = 1e-9  # relative gaps at most this are float noise: "optimal"

_SCIP = {
    "optimal": "optimal", "gaplimit": "gap_limit", "timelimit": "time_limit",
    "nodelimit": "node_limit", "totalnodelimit": "node_limit", "stallnodelimit": "node_limit",
    "memlimit": "other_limit", "sollimit": "other_limit", "bestsollimit": "other_limit",
    "restartlimit": "other_limit", "userinterrupt": "interrupted", "infeasible": "infeasible",
}


def check_status(status: str) -> str:
    """``status`` itself if it belongs to :data:`STATUSES` (a ValueError otherwise: a solver bug)."""
    if status not in STATUSES:
        raise ValueError(f"solver status {status!r} is not one of {', '.join(STATUSES)}")
    return status


def relative_gap(primal: float, dual: float) -> float:
    """The certified relative gap ``max(0, dual - primal) / |primal|`` of a maximisation (the
    objective of the best design against an upper bound); inf unless both are finite."""
    if not math.isfinite(primal) or not math.isfinite(dual):
        return math.inf
    return max(0.0, dual - primal) / max(abs(primal), 1e-12)


def certified_status(stop: str, gap: float) -> str:
    """The status of a search that stopped for ``stop`` with relative gap ``gap``.

    ``stop`` is ``"gap"`` when the requested tolerance was met, else a limit or ``interrupted``.
    A zero gap is ``optimal`` whatever stopped the search; a met tolerance with a positive gap is
    ``gap_limit``.
    """
    if math.isfinite(gap) and gap <= OPTIMAL_GAP:
        return "optimal"
    return "gap_limit" if stop == "gap" else check_status(stop)


def from_scip(raw: str, gap: float) -> str:
    """SCIP's raw status (``Model.getStatus()``) in this vocabulary; ``optimal`` only at zero gap
    (SCIP says "optimal" within its own ``limits/gap``)."""
    mapped = _SCIP.get(raw, "failed")
    if mapped in ("optimal", "gap_limit"):
        return certified_status("gap", gap)
    return mapped
