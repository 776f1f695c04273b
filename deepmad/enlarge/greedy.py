"""Greedy Network Enlarging: step-by-step reallocation of MACs over stages and resolution.

Paper: Liu, Han, Xiao, Deng, Zhang, Xu, Wang, "Greedy Network Enlarging", arXiv 2108.00177
(S-GhostNet). The paper's search code is unpublished; this is the reconstruction of the
reference note (B.3), every choice exposed in :class:`EnlargeConfig`:

1. state a_0 = (d, w, r) of the base network (:mod:`deepmad.enlarge.state`);
2. targets C_1 < ... < C_K (:mod:`deepmad.enlarge.schedule`);
3. at step t, candidates that contain a parent a_{t-1} (d, w, r never shrink: the paper's
   "top-performing smaller CNNs are a proper subcomponent of the top-performing larger CNNs")
   with MACs in [low, high] x C_t (:mod:`deepmad.enlarge.candidates`);
4. each candidate is scored by an :class:`Evaluator`;
5. the best ``top_k`` distinct candidates become the parents of step t+1 (k = 1: greedy);
6. the search stops after C_K; the best candidate of the last step is the result, and the
   path is its line of ancestors.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from deepmad.enlarge.candidates import MacsOracle, generate_candidates
from deepmad.enlarge.config import EnlargeConfig
from deepmad.enlarge.evaluators import Evaluator
from deepmad.enlarge.records import (
    CandidateRecord,
    EnlargeResult,
    PathPoint,
    StepRecord,
    path_point,
)
from deepmad.enlarge.state import EnlargeState, StageFamily, family_for
from deepmad.errors import InfeasibleError
from deepmad.spec.network import NetworkSpec

__all__ = ["greedy_enlarge"]


def _rank(records: Sequence[CandidateRecord]) -> list[int]:
    """Indices by score (desc), ties broken by fewer MACs, then by state (deterministic)."""
    return sorted(range(len(records)), key=lambda i: (-records[i].score, records[i].macs, records[i].state))


def _step(t: int, target: int, parents: Sequence[EnlargeState], family: StageFamily,
          evaluator: Evaluator, config: EnlargeConfig, rng: random.Random,
          oracle: MacsOracle) -> StepRecord:
    """Generate, evaluate and rank the candidates of step ``t``."""
    states: dict[EnlargeState, int] = {}
    searches = set()
    for p, parent in enumerate(parents):
        found, how = generate_candidates(parent, target, family, config, rng, oracle)
        searches.add(how)
        for s in found:
            states.setdefault(s, p)
    low, high = config.band[0] * target, config.band[1] * target
    if not states:
        raise InfeasibleError(
            f"step {t}: no candidate within [{low:.4g}, {high:.4g}] MACs (target {target:.4g}); "
            "widen the band or the step sizes (depth_steps, width_multipliers, resolution_steps)")
    ordered = sorted(states)
    scores = evaluator.evaluate([family.build(s) for s in ordered])
    records = tuple(CandidateRecord(s, *oracle.costs(s), float(v), states[s])
                    for s, v in zip(ordered, scores))
    chosen = tuple(_rank(records)[:config.top_k])
    return StepRecord(t, target, low, high, "+".join(sorted(searches)), records, chosen)


def greedy_enlarge(base: NetworkSpec, targets: Sequence[int], evaluator: Evaluator,
                   config: EnlargeConfig | None = None, family: StageFamily | None = None,
                   on_step: Callable[[StepRecord], None] | None = None) -> EnlargeResult:
    """Enlarge ``base`` greedily through the MACs targets.

    Args:
        base: the network to enlarge.
        targets: C_1 < ... < C_K (see :func:`deepmad.enlarge.make_schedule`).
        evaluator: scores candidates (higher is better).
        config: step sizes, band, top-k, seed; defaults to :class:`EnlargeConfig()`.
        family: how states map to specs; default :func:`family_for(base)`.
        on_step: called with each finished :class:`StepRecord` (progress reporting).

    Returns:
        An :class:`EnlargeResult` whose ``path`` holds the base and the kept network of each
        step, and whose ``steps`` hold every candidate.

    Raises:
        InfeasibleError: a step has no candidate inside its band.
    """
    start = time.perf_counter()
    config = config or EnlargeConfig()
    family = family or family_for(base, config.width_quantum)
    oracle, rng = MacsOracle(family), random.Random(config.seed)
    state0 = family.state_of(base)
    base_score = evaluator.evaluate([family.build(state0)])[0]
    parents, steps = [state0], []
    for t, target in enumerate(targets, start=1):
        record = _step(t, int(target), parents, family, evaluator, config, rng, oracle)
        steps.append(record)
        parents = [record.candidates[i].state for i in record.chosen]
        if on_step is not None:
            on_step(record)
    path = _trace_path(steps, state0, base_score, family, config)
    return EnlargeResult("greedy", family.name, base, family.build(path[-1].state),
                         tuple(int(t) for t in targets), path, tuple(steps), evaluator.settings(),
                         config.to_dict(), time.perf_counter() - start)


def _trace_path(steps: Sequence[StepRecord], state0: EnlargeState, base_score: float,
                family: StageFamily, config: EnlargeConfig) -> tuple[PathPoint, ...]:
    """The best final candidate and its ancestors, base first."""
    picks: list[CandidateRecord] = []
    index = steps[-1].chosen[0] if steps else -1
    for k in range(len(steps) - 1, -1, -1):
        rec = steps[k].candidates[index]
        picks.append(rec)
        index = steps[k - 1].chosen[rec.parent] if k else -1
    points = [path_point(0, None, state0, family.build(state0), base_score, config.band)]
    for step, rec in zip(steps, reversed(picks)):
        points.append(path_point(step.step, step.target, rec.state, family.build(rec.state),
                                 rec.score, config.band))
    return tuple(points)
