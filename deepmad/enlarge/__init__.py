"""Greedy Network Enlarging (Liu et al., arXiv 2108.00177) and the compound-scaling baseline.

Torch-free: the ``train`` evaluator (:mod:`deepmad.enlarge.train_eval`) and the plot
(:mod:`deepmad.enlarge.plot`) import torch / matplotlib only when used.

Example:
    >>> from deepmad.enlarge import EntropyEvaluator, greedy_enlarge, make_schedule
    >>> from deepmad.spec import get_preset
    >>> from deepmad.cost import count_network
    >>> base = get_preset("ghostnet_1_0")
    >>> targets = make_schedule(count_network(base).macs, [600e6])
    >>> result = greedy_enlarge(base, targets, EntropyEvaluator())  # doctest: +SKIP
"""

from deepmad.enlarge.compound import compound_scale, compound_state
from deepmad.enlarge.config import CompoundConfig, EnlargeConfig
from deepmad.enlarge.evaluators import (
    EVALUATORS,
    EntropyEvaluator,
    Evaluator,
    generic_entropy,
    make_evaluator,
)
from deepmad.enlarge.greedy import greedy_enlarge
from deepmad.enlarge.records import CandidateRecord, EnlargeResult, PathPoint, StepRecord
from deepmad.enlarge.schedule import geometric_schedule, make_schedule
from deepmad.enlarge.state import (
    EnlargeState,
    GhostNetFamily,
    ScaledFamily,
    StageFamily,
    family_for,
)

__all__ = [
    "EVALUATORS",
    "CandidateRecord",
    "CompoundConfig",
    "EnlargeConfig",
    "EnlargeResult",
    "EnlargeState",
    "EntropyEvaluator",
    "Evaluator",
    "GhostNetFamily",
    "PathPoint",
    "ScaledFamily",
    "StageFamily",
    "StepRecord",
    "compound_scale",
    "compound_state",
    "family_for",
    "generic_entropy",
    "geometric_schedule",
    "greedy_enlarge",
    "make_evaluator",
    "make_schedule",
]
