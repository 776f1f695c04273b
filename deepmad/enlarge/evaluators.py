"""Candidate evaluators behind one interface: ``entropy`` (training-free) and ``train`` (proxy).

Papers: Greedy Network Enlarging (Liu et al., arXiv 2108.00177) scores candidates by short
training on a proxy set (reference note B.3, step 4, [INFERRED]); DeepMAD (Shen et al., CVPR
2023, arXiv 2303.02165) gives the training-free alternative, the weighted multi-scale entropy

    H_s   = ln(r_s^2 c_s) * sum_{l <= s} ln(c_in,l k_l^2 / g_l)      (DeepMAD Eq. for H_F)
    score = sum_s alpha_s H_s - beta exp(std(L))                       alpha = (1, ..., 1, 8)

over the stage-prefix networks (paper mode: true sides, no 0.5 factor). ``entropy`` calls
:func:`deepmad.scores.entropy.score_spec` when every block kind has an entropy rule there; other
kinds (the Ghost blocks) use :func:`generic_entropy`, the same formula computed from the cost
model's layer records, so any block kind the cost model knows can be scored. Higher is better
for every evaluator. The ``train`` evaluator lives in :mod:`deepmad.enlarge.train_eval` (torch)
and is imported only when asked for.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.scores.entropy import depth_penalty as scores_depth_penalty
from deepmad.spec.ghost import GHOST_HEAD
from deepmad.spec.network import NetworkSpec

__all__ = ["Evaluator", "EntropyEvaluator", "EVALUATORS", "make_evaluator", "generic_entropy"]


class Evaluator(ABC):
    """Scores candidate specs; higher is better. Subclasses are plain settings holders."""

    name: str = ""

    @abstractmethod
    def evaluate(self, specs: Sequence[NetworkSpec]) -> list[float]:
        """One score per spec, in order."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """JSON-able settings, recorded in every result."""


def _units(spec: NetworkSpec) -> list[tuple[int, int, list[float]]]:
    """(side, channels, ln widths) per block, from the torch-convention cost records."""
    report = count_network(spec)
    layers: dict[tuple[str, int], list[Any]] = {}
    for rec in report.layer_records:
        if rec.counted and rec.op == "conv":
            layers.setdefault((rec.stage, rec.block), []).append(rec)
    units = []
    for block in report.blocks:
        recs = layers.get((block.stage, block.index), [])
        if not recs:
            continue
        side, channels = block.out_size, block.out_channels
        if side == 1 and recs[-1].out_size != 1:  # global pool after its last counted conv (GhostNet head)
            side, channels = recs[-1].out_size, recs[-1].out_channels
        units.append((side, channels, [math.log(r.width) for r in recs]))
    return units


def generic_entropy(spec: NetworkSpec, stage_weights: Sequence[float] | None = None,
                    depth_penalty: float = 0.0) -> float:
    """DeepMAD multi-scale entropy from per-layer widths, for any block kind.

    Units are the stem, every block and the final conv; a score stage ends before every unit
    whose output side differs from its predecessor's (DeepMAD's stages). With prefix sums
    ``S_s`` of ``ln(c_in k^2 / g)`` over the counted conv layers, ``H_s = ln(r_s^2 c_s) S_s`` and
    the result is ``sum_s alpha_s H_s - depth_penalty * exp(std(L_2..L_S))``.

    Args:
        spec: the network.
        stage_weights: alpha_s; None -> (1, ..., 1, 8).
        depth_penalty: beta of DeepMAD's depth-uniformity penalty (0 = off).
    """
    units = _units(spec)
    ends = [i - 1 for i in range(1, len(units)) if units[i][0] != units[i - 1][0]] + [len(units) - 1]
    weights = tuple(stage_weights) if stage_weights is not None else (1.0,) * (len(ends) - 1) + (8.0,)
    if len(weights) != len(ends):
        raise DeepmadError(f"stage_weights has {len(weights)} entries but the network has {len(ends)} "
                           f"score stages; give exactly {len(ends)} weights")
    prefix, total, start = 0.0, 0.0, 0
    for w, end in zip(weights, ends):
        prefix += sum(sum(u[2]) for u in units[start:end + 1])
        side, channels = units[end][0], units[end][1]
        total += w * math.log(side * side * channels) * prefix
        start = end + 1
    if depth_penalty:
        depths = [st.depth for st in spec.stages[1:] if st.block != GHOST_HEAD]
        total -= scores_depth_penalty(depths, depth_penalty)
    return total


class EntropyEvaluator(Evaluator):
    """DeepMAD's training-free score (paper mode), fast: no data, no torch."""

    name = "entropy"

    def __init__(self, depth_penalty: float = 10.0, backend: str = "auto") -> None:
        """Args:
            depth_penalty: beta of the depth-uniformity penalty (DeepMAD uses 10; 0 = entropy only).
            backend: ``auto`` (deepmad.scores when it knows every block kind, else generic),
                ``scores`` or ``generic``.
        """
        if backend not in ("auto", "scores", "generic"):
            raise DeepmadError(f"backend={backend!r} is invalid; allowed: auto, scores, generic")
        if depth_penalty < 0:
            raise DeepmadError(f"depth_penalty={depth_penalty} is invalid; expected >= 0")
        self.depth_penalty = float(depth_penalty)
        self.backend = backend
        self.used: set[str] = set()

    def _score_one(self, spec: NetworkSpec) -> float:
        if self.backend != "generic":
            from deepmad.scores import entropy as scores

            try:
                scores.network_units(spec)
            except DeepmadError:
                if self.backend == "scores":
                    raise
            else:
                self.used.add("scores")
                rep = scores.score_spec(spec, "paper", depth_penalty=self.depth_penalty)
                return rep.objective
        self.used.add("generic")
        return generic_entropy(spec, depth_penalty=self.depth_penalty)

    def evaluate(self, specs: Sequence[NetworkSpec]) -> list[float]:
        return [self._score_one(s) for s in specs]

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "mode": "paper", "depth_penalty": self.depth_penalty,
                "backend": self.backend, "backends_used": sorted(self.used)}


def _train_evaluator(**kwargs: Any) -> Evaluator:
    from deepmad.enlarge.train_eval import TrainEvaluator  # torch, imported on demand

    return TrainEvaluator(**kwargs)


EVALUATORS = {"entropy": EntropyEvaluator, "train": _train_evaluator}


def make_evaluator(name: str, **kwargs: Any) -> Evaluator:
    """The evaluator called ``name`` (``entropy`` or ``train``) with its settings."""
    if name not in EVALUATORS:
        raise DeepmadError(f"evaluator={name!r} is invalid; allowed: {', '.join(EVALUATORS)}")
    return EVALUATORS[name](**kwargs)  # type: ignore[operator]
