"""DeepMAD design as a mathematical program (no torch): space, problem, solvers, diagnosis.

Quick use::

    from deepmad.solvers import design
    result = design(like="deepmad_r50", mode="reference")
    print(result.objective, result.gap, result.spec)
"""

from __future__ import annotations

from typing import Any

from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers.base import SOLVERS, Solver, get_solver, register_solver
from deepmad.solvers.diagnose import Shortfall, diagnose, infeasibility_message
from deepmad.solvers.evolution import EvolutionConfig, EvolutionSolver
from deepmad.solvers.exact import ExactConfig, ExactSolver
from deepmad.solvers.problem import Budget, ConstraintValue, DesignProblem, DesignResult, Evaluation
from deepmad.solvers.scip import ScipConfig, ScipSolver
from deepmad.solvers.space import (
    Bottleneck,
    Channels,
    Design,
    DesignSpace,
    StageRange,
    design_to_spec,
    smart_round,
    spec_to_design,
)
from deepmad.solvers.templates import LIKE_PRESETS, TEMPLATES, like, template

__all__ = [
    "LIKE_PRESETS",
    "SOLVERS",
    "TEMPLATES",
    "Bottleneck",
    "Budget",
    "Channels",
    "ConstraintValue",
    "Design",
    "DesignProblem",
    "DesignResult",
    "DesignSpace",
    "Evaluation",
    "EvolutionConfig",
    "EvolutionSolver",
    "ExactConfig",
    "ExactSolver",
    "ScipConfig",
    "ScipSolver",
    "Shortfall",
    "Solver",
    "StageRange",
    "design",
    "design_to_spec",
    "diagnose",
    "get_solver",
    "infeasibility_message",
    "like",
    "register_solver",
    "smart_round",
    "spec_to_design",
    "template",
]

register_solver("exact", ExactSolver)
register_solver("evolution", EvolutionSolver)
register_solver("scip", ScipSolver)


def design(like: str | None = "deepmad_r50", mode: str = "paper", solver: str = "exact",
           budgets: tuple[Budget, ...] | None = None, **options: Any) -> DesignResult:
    """Design a network for the budgets of reference config ``like`` (or ``budgets``).

    Args:
        like: a key of :data:`LIKE_PRESETS`.
        mode: score mode, ``"paper"`` or ``"reference"``.
        solver: ``"exact"`` or ``"evolution"`` (see :data:`SOLVERS`).
        budgets: replace the config's budgets.
        **options: solver options (e.g. ``time_limit``, ``gap``, ``seed``).
    """
    from deepmad.solvers.templates import like as like_problem

    problem = like_problem(like or "deepmad_r50", ScoreConfig(mode=mode), budgets)  # type: ignore[arg-type]
    return get_solver(solver, **options).solve(problem)
