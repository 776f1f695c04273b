"""DeepMAD design as a mathematical program (no torch): space, problem, solvers, diagnosis.

Quick use::

    from deepmad.solvers import design
    result = design(like="deepmad_r50", mode="reference")
    print(result.objective, result.gap, result.spec)
    cifar = design(space="resnet", resolution=32, num_classes=10,
                   budgets=(Budget("params", upper=0.27e6), Budget("macs", upper=41e6)))
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from deepmad.errors import DeepmadError
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
from deepmad.solvers.templates import (
    LIKE_PRESETS,
    TEMPLATES,
    layout,
    like,
    template,
)

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
    "layout",
    "like",
    "register_solver",
    "smart_round",
    "spec_to_design",
    "template",
]

register_solver("exact", ExactSolver)
register_solver("evolution", EvolutionSolver)
register_solver("scip", ScipSolver)


def design(like: str | None = None, mode: str = "paper", solver: str = "exact",
           budgets: tuple[Budget, ...] | None = None, *, space: str | None = None,
           resolution: int | tuple[int, ...] | None = None, strides: tuple[int, ...] | None = None,
           min_final_side: int | None = None, in_channels: int | None = None,
           num_classes: int | None = None, latency_model: Any = None, **options: Any) -> DesignResult:
    """Design a network: the layout and budgets of reference config ``like``, or template ``space``.

    Exactly one of ``like`` and ``space`` must be given. ``like`` keeps the reference's layout
    (``budgets`` replace its budgets); ``space`` takes the layout from the input size
    (:func:`~deepmad.solvers.templates.layout`) and needs ``budgets``.

    Args:
        like: a key of :data:`LIKE_PRESETS`.
        mode: score mode, ``"paper"`` or ``"reference"``.
        solver: ``"exact"`` or ``"evolution"`` (see :data:`SOLVERS`).
        budgets: the budgets (with ``like``: replace the config's).
        space: a template of :data:`TEMPLATES` (``"resnet"`` or ``"mobile-se"``).
        resolution: input side(s) (``space``: default 224; ``like``: default the config's).
        strides: ``space`` only: the stem's stride, then one per stage (each 1 or 2).
        min_final_side: ``space`` only: smallest final feature-map side (default 4).
        in_channels: ``space`` only: image channels (default 3).
        num_classes: ``space`` only: classifier outputs (default 1000).
        latency_model: a :class:`deepmad.hardware.Calibration` pricing ``Budget("latency_ms", ...)``
            (needed by such a budget; the certificate is then with respect to this model).
        **options: solver options (e.g. ``time_limit``, ``gap``, ``seed``).

    Example::

        design(space="resnet", resolution=32, num_classes=10, in_channels=1,
               budgets=(Budget("params", upper=0.27e6), Budget("macs", upper=41e6)))
    """
    from deepmad.solvers.templates import like as like_problem
    from deepmad.solvers.templates import space_problem

    layout_args = {"strides": strides, "min_final_side": min_final_side, "in_channels": in_channels,
                   "num_classes": num_classes}
    if (like is None) == (space is None):
        raise DeepmadError("design() needs exactly one of like=PRESET (a reference config's layout) "
                           f"or space=TEMPLATE ({', '.join(TEMPLATES)}); got "
                           f"{'both' if like is not None else 'neither'}")
    objective = ScoreConfig(mode=mode)  # type: ignore[arg-type]
    lat_budgets = tuple(b for b in budgets or () if b.quantity == "latency_ms")
    budgets = None if budgets is None else tuple(b for b in budgets if b.quantity != "latency_ms")
    if like is not None:
        given = [k for k, v in layout_args.items() if v is not None]
        if given:
            raise DeepmadError(f"{', '.join(given)} apply to space= templates only; like={like!r} keeps "
                               "the reference config's layout, 3 input channels and 1000 classes")
        problem = like_problem(like, objective, budgets, resolution=resolution)
        if latency_model is not None or lat_budgets:
            problem = replace(problem, budgets=problem.budgets + lat_budgets, latency_model=latency_model,
                              _cache={})
    else:
        if not budgets and not lat_budgets:
            raise DeepmadError(f"space={space!r} needs budgets, e.g. (Budget('params', upper=5e6),)")
        problem = space_problem(space, objective, tuple(budgets or ()) + lat_budgets, resolution=resolution or 224,
                                latency_model=latency_model,
                                **{k: v for k, v in layout_args.items() if v is not None})  # else its defaults
    return get_solver(solver, **options).solve(problem)
