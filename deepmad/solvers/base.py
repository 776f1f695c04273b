"""Solver interface and registry: every solver maps a :class:`DesignProblem` to a :class:`DesignResult`.

Shape after optuna's ``BaseSampler``: one small protocol, one name registry. The objective lives
in :mod:`deepmad.scores.entropy` and :class:`~deepmad.solvers.problem.DesignProblem`; solvers only
search (STYLE guideline 7).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from deepmad.errors import DeepmadError
from deepmad.solvers.problem import DesignProblem, DesignResult

__all__ = ["Solver", "SOLVERS", "register_solver", "get_solver"]


class Solver(Protocol):
    """Anything with a ``name`` and ``solve(problem) -> DesignResult``."""

    name: str

    def solve(self, problem: DesignProblem) -> DesignResult:
        """Search ``problem``; the result is re-checked independently."""
        ...


SOLVERS: dict[str, Callable[..., Solver]] = {}


def register_solver(name: str, factory: Callable[..., Solver]) -> None:
    """Register a solver factory; registering a name twice is an error."""
    if name in SOLVERS:
        raise ValueError(f"solver {name!r} is already registered")
    SOLVERS[name] = factory


def get_solver(name: str, **options: Any) -> Solver:
    """Instantiate the solver called ``name`` with ``options``."""
    if name not in SOLVERS:
        raise DeepmadError(f"solver {name!r} is invalid; allowed: {', '.join(sorted(SOLVERS))}")
    return SOLVERS[name](**options)
