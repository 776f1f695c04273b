"""Frozen records of an enlarging run: every candidate, every step, the path and the result.

Paper: Liu et al., "Greedy Network Enlarging", arXiv 2108.00177. Every step of the greedy
search is kept (candidates with MACs, params and score, and which were chosen), so the path can
be plotted like the paper's Fig. 2 (per-stage MACs) and audited (optuna ``FrozenTrial`` style).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepmad.cost import count_network
from deepmad.enlarge.state import EnlargeState
from deepmad.spec.network import NetworkSpec

__all__ = ["CandidateRecord", "StepRecord", "PathPoint", "EnlargeResult", "path_point"]


@dataclass(frozen=True)
class CandidateRecord:
    """One evaluated candidate of a step."""

    state: EnlargeState
    macs: int  # torch-convention MACs
    params: int
    score: float  # evaluator score, higher is better
    parent: int  # index of its parent in the previous step's chosen list

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {**self.state.to_dict(), "macs": self.macs, "params": self.params,
                "score": self.score, "parent": self.parent}


@dataclass(frozen=True)
class StepRecord:
    """One greedy step: its target, band, all candidates and the chosen ones (best first)."""

    step: int  # t = 1..K
    target: int  # C_t
    low: float  # band low * C_t
    high: float  # band high * C_t
    search: str  # "enumerate" or "sample"
    candidates: tuple[CandidateRecord, ...]
    chosen: tuple[int, ...]  # indices into candidates, best first

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"step": self.step, "target": self.target, "low": self.low, "high": self.high,
                "search": self.search, "chosen": list(self.chosen),
                "candidates": [c.to_dict() for c in self.candidates]}


@dataclass(frozen=True)
class PathPoint:
    """One network on the enlarging path (the base is step 0)."""

    step: int
    target: int | None  # C_t (None for the base)
    state: EnlargeState
    macs: int
    params: int
    score: float | None  # None when the path was not evaluated
    in_band: bool  # MACs within the band of the target (True for the base)
    stage_macs: tuple[tuple[str, int], ...]  # per-stage MACs (stem, stage1.., head)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"step": self.step, "target": self.target, **self.state.to_dict(), "macs": self.macs,
                "params": self.params, "score": self.score, "in_band": self.in_band,
                "stage_macs": dict(self.stage_macs)}


def path_point(step: int, target: int | None, state: EnlargeState, spec: NetworkSpec,
               score: float | None, band: tuple[float, float]) -> PathPoint:
    """A :class:`PathPoint` with costs counted on ``spec``."""
    report = count_network(spec)
    in_band = target is None or band[0] * target <= report.macs <= band[1] * target
    return PathPoint(step, target, state, report.macs, report.params, score, in_band,
                     tuple((s.name, s.macs) for s in report.stages))


@dataclass(frozen=True)
class EnlargeResult:
    """Outcome of greedy enlarging or compound scaling."""

    method: str  # "greedy" or "compound"
    family: str  # state family, e.g. "s_ghostnet"
    base: NetworkSpec
    spec: NetworkSpec  # the final (largest) network
    targets: tuple[int, ...]  # C_1..C_K
    path: tuple[PathPoint, ...]  # base, then the network kept at each step
    steps: tuple[StepRecord, ...]  # greedy only: every candidate of every step
    evaluator: dict[str, Any] | None  # evaluator settings (None: not evaluated)
    config: dict[str, Any]  # method settings
    wall_time: float  # seconds

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; ``spec`` holds the final network (so ``load_spec`` reads the file)."""
        return {
            "method": self.method, "family": self.family, "spec": self.spec.to_dict(),
            "base": self.base.to_dict(), "targets": list(self.targets),
            "path": [p.to_dict() for p in self.path], "steps": [s.to_dict() for s in self.steps],
            "evaluator": self.evaluator, "config": self.config, "wall_time": self.wall_time,
        }
