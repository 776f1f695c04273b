"""DeepMAD's design problem and the result every solver returns (no torch).

DeepMAD (Shen et al., CVPR 2023, arXiv 2303.02165) states architecture design as a constrained
mathematical program: maximise the weighted multi-scale entropy minus the depth-uniformity
penalty (:mod:`deepmad.scores.entropy`) over a design space, subject to budgets. A
:class:`DesignProblem` holds the space, the objective (a :class:`ScoreConfig`) and named
:class:`Budget` s; solvers (:mod:`deepmad.solvers.base`) return a frozen :class:`DesignResult`.

Constraint values follow optuna's sign convention: ``slack <= 0`` means satisfied
(``value - upper`` for an upper bound, ``lower - value`` for a lower bound). Every result is
re-checked with the independent cost and score code (:func:`deepmad.cost.count_network`,
:func:`deepmad.scores.entropy.score_spec`), never with the solver's own arithmetic alone
(the lesson of scipy/scipy#22812).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.hardware.calibration import Calibration
from deepmad.hardware.features import LatencyTerms
from deepmad.scores.entropy import ScoreConfig, score_spec
from deepmad.solvers.fasteval import (
    Costs,
    Geometry,
    ScoreLayout,
    geometry,
    network_costs,
    score_design,
    score_layout,
)
from deepmad.solvers.space import Design, DesignSpace, design_to_spec
from deepmad.solvers.status import check_status, relative_gap
from deepmad.spec.network import NetworkSpec

__all__ = [
    "MATHNAS_QUANTITIES",
    "QUANTITIES",
    "Budget",
    "ConstraintValue",
    "Evaluation",
    "DesignProblem",
    "DesignResult",
]

QUANTITIES = ("params", "macs", "flops", "activations", "layers", "rho", "resolution",
              "latency_ms")  # DeepMAD design (latency_ms: with a DesignProblem.latency_model)
MATHNAS_QUANTITIES = ("latency", "energy", "flops")  # MathNAS block-table metrics
CONVENTIONS = ("torch", "tinynas")
_REL_TOL = 1e-9  # relative tolerance of the independent re-check


@dataclass(frozen=True)
class Budget:
    """A named bound on one quantity; ``upper`` and/or ``lower`` (inclusive).

    Shared by DeepMAD design (:data:`QUANTITIES`) and MathNAS (:data:`MATHNAS_QUANTITIES`); each
    problem type checks that its budgets name quantities it knows.
    """

    quantity: str  # params, macs, flops, activations, layers, rho, resolution, latency_ms; latency, energy
    upper: float | None = None
    lower: float | None = None
    convention: str = "torch"  # cost convention of params / macs / flops

    def __post_init__(self) -> None:
        known = QUANTITIES + tuple(q for q in MATHNAS_QUANTITIES if q not in QUANTITIES)
        if self.quantity not in known:
            raise DeepmadError(f"budget quantity {self.quantity!r} is invalid; allowed: {', '.join(known)}")
        if self.convention not in CONVENTIONS:
            raise DeepmadError(f"convention={self.convention!r} is invalid; allowed: {', '.join(CONVENTIONS)}")
        if self.upper is None and self.lower is None:
            raise DeepmadError(f"budget on {self.quantity} needs an upper or a lower bound")
        for v in (self.upper, self.lower):
            if v is not None and not math.isfinite(v):
                raise DeepmadError(f"budget {self.quantity}={v!r} is invalid; expected a finite number")
        if self.upper is not None and self.lower is not None and self.lower > self.upper:
            raise DeepmadError(f"budget on {self.quantity}: lower {self.lower:g} > upper {self.upper:g}")

    def bounds(self) -> list[tuple[str, float]]:
        """The bounds as (sense, limit) pairs, sense ``"<="`` or ``">="``."""
        out = [] if self.upper is None else [("<=", float(self.upper))]
        return out + ([] if self.lower is None else [(">=", float(self.lower))])

    @property
    def name(self) -> str:
        """Display name, e.g. ``macs[tinynas]``."""
        if self.quantity in ("params", "macs", "flops"):
            return f"{self.quantity}[{self.convention}]"
        return self.quantity


@dataclass(frozen=True)
class ConstraintValue:
    """One evaluated constraint; ``slack <= 0`` means satisfied."""

    name: str
    sense: str  # "<=" or ">="
    value: float
    limit: float
    slack: float

    @property
    def satisfied(self) -> bool:
        """Within the limit, up to a relative 1e-12 for the float quantity rho."""
        return self.slack <= 1e-12 * max(1.0, abs(self.limit))

    @property
    def label(self) -> str:
        """``name sense limit``, e.g. ``latency <= 50``."""
        return f"{self.name} {self.sense} {self.limit:g}"

    @classmethod
    def of(cls, name: str, sense: str, value: float, limit: float) -> ConstraintValue:
        """The record of ``value`` against ``sense limit`` (slack ``value - limit`` or ``limit - value``)."""
        return cls(name, sense, value, limit, value - limit if sense == "<=" else limit - value)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConstraintValue:
        """The record :meth:`to_dict` wrote (a design result JSON's ``constraints`` entries)."""
        return cls(str(d["name"]), str(d["sense"]), float(d["value"]), float(d["limit"]), float(d["slack"]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record."""
        return {"name": self.name, "sense": self.sense, "value": self.value, "limit": self.limit,
                "slack": self.slack, "satisfied": self.satisfied}


def _constraints(budgets: tuple[Budget, ...], values: dict[str, float]) -> tuple[ConstraintValue, ...]:
    out = []
    for b in budgets:
        v = values[b.name]
        out += [ConstraintValue.of(b.name, sense, v, limit) for sense, limit in b.bounds()]
    return tuple(out)


@dataclass(frozen=True)
class Evaluation:
    """Objective, score parts, costs and constraint values of one design."""

    objective: float
    entropy: float
    penalty: float
    rho: float
    stage_terms: tuple[float, ...]
    costs: Costs
    constraints: tuple[ConstraintValue, ...]

    @property
    def feasible(self) -> bool:
        """Every constraint satisfied."""
        return all(c.satisfied for c in self.constraints)

    @property
    def violation(self) -> float:
        """Sum of relative constraint violations (0 when feasible)."""
        return sum(max(0.0, c.slack) / max(abs(c.limit), 1e-12) for c in self.constraints)


@dataclass(frozen=True)
class DesignProblem:
    """maximise objective(design) over ``space`` subject to ``budgets``.

    ``latency_model``: the device latency model (:class:`deepmad.hardware.Calibration`) that
    prices the ``latency_ms`` quantity (ms per batch of the calibration, in its mode); required
    by a ``latency_ms`` budget, and then every certificate is with respect to that model.
    """

    space: DesignSpace
    objective: ScoreConfig
    budgets: tuple[Budget, ...] = ()
    name: str = ""
    latency_model: Calibration | None = field(default=None, repr=False, compare=False)
    _cache: dict[int, tuple[Geometry, ScoreLayout]] = field(default_factory=dict, repr=False, compare=False)
    latency_terms: LatencyTerms | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budgets", tuple(self.budgets))
        if self.latency_model is not None:
            object.__setattr__(self, "latency_terms", LatencyTerms.of(self.latency_model))
        elif any(b.quantity == "latency_ms" for b in self.budgets):
            raise DeepmadError("a latency_ms budget needs a latency model (DesignProblem.latency_model, "
                               "a deepmad.hardware.Calibration; CLI: --calibration CAL.json)")
        for b in self.budgets:
            if b.quantity not in QUANTITIES:
                raise DeepmadError(f"budget quantity {b.quantity!r} is invalid for a design problem; "
                                   f"allowed: {', '.join(QUANTITIES)}")
            for v in (b.upper, b.lower):
                if v is not None and v < 0:
                    raise DeepmadError(f"budget {b.quantity}={v!r} is invalid; expected a finite number >= 0")
        names = [b.name for b in self.budgets]
        if len(set(names)) != len(names):
            raise DeepmadError(f"budgets {names} name a quantity twice; merge them into one budget")

    @property
    def convention(self) -> str:
        """The cost convention of the budgets (``tinynas`` if any budget uses it)."""
        return "tinynas" if any(b.convention == "tinynas" for b in self.budgets) else "torch"

    def layout(self, resolution: int) -> tuple[Geometry, ScoreLayout]:
        """Cached sides and score layout at ``resolution``."""
        if resolution not in self._cache:
            self._cache[resolution] = (geometry(self.space, resolution),
                                       score_layout(self.space, resolution, self.objective))
        return self._cache[resolution]

    def values(self, costs: Costs, rho: float, resolution: int) -> dict[str, float]:
        """Every budget's quantity for given costs."""
        out: dict[str, float] = {}
        for b in self.budgets:
            if b.quantity == "rho":
                out[b.name] = rho
            elif b.quantity == "resolution":
                out[b.name] = resolution
            else:
                out[b.name] = costs.get(b.quantity, b.convention)
        return out

    def evaluate(self, design: Design) -> Evaluation:
        """Fast closed-form evaluation (the solvers' inner loop)."""
        geo, lay = self.layout(design.resolution)
        costs = network_costs(self.space, design, geo, self.latency_terms)
        obj, ent, pen, rho, terms = score_design(self.space, design, self.objective, lay)
        return Evaluation(obj, ent, pen, rho, terms, costs,
                          _constraints(self.budgets, self.values(costs, rho, design.resolution)))

    def verify(self, spec: NetworkSpec) -> Evaluation:
        """Independent evaluation with ``count_network`` and ``score_spec``."""
        reports = {conv: count_network(spec, conv) for conv in CONVENTIONS}
        t, n = reports["torch"], reports["tinynas"]
        ms = 0.0 if self.latency_model is None else self.latency_model.predict(spec).total_ms
        costs = Costs(t.params, n.params, t.macs, n.macs, t.activations, t.layers, ms)
        sc = score_spec(spec, self.objective)
        return Evaluation(sc.objective, sc.entropy, sc.penalty, sc.rho, sc.stage_terms, costs,
                          _constraints(self.budgets, self.values(costs, sc.rho, spec.resolution)))

    def to_spec(self, design: Design) -> NetworkSpec:
        """The spec of ``design``."""
        return design_to_spec(self.space, design, name=self.name)


@dataclass(frozen=True)
class DesignResult:
    """What a solver returns: the design, its certificate and an independent re-check."""

    spec: NetworkSpec | None  # None when no feasible design was found
    design: Design | None
    evaluation: Evaluation | None  # independent re-check (count_network + score_spec)
    solver: str
    status: str  # one of deepmad.solvers.status.STATUSES (optimal only at a zero gap)
    message: str
    primal_bound: float  # best objective found (-inf if none)
    dual_bound: float  # proven upper bound on the optimum (+inf if none)
    nodes: int
    time_s: float
    verified: bool  # the re-check agrees with the solver and the design is feasible
    extras: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_status(self.status)

    @property
    def success(self) -> bool:
        """A feasible design was returned and passed the independent re-check (any status)."""
        return self.design is not None and self.verified

    @property
    def objective(self) -> float:
        """Objective of the returned design (-inf if none)."""
        return self.evaluation.objective if self.evaluation else -math.inf

    @property
    def gap(self) -> float:
        """Relative gap (dual - primal) / |primal|; inf without a primal or a finite dual."""
        return relative_gap(self.primal_bound, self.dual_bound)

    @property
    def constraints(self) -> tuple[ConstraintValue, ...]:
        """Constraint values of the returned design."""
        return self.evaluation.constraints if self.evaluation else ()

    def to_dict(self, convention: str = "torch") -> dict[str, Any]:
        """JSON-able result (``spec`` is loadable by ``deepmad cost`` / ``create_model``)."""
        ev = self.evaluation

        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        out: dict[str, Any] = {
            "spec": None if self.spec is None else self.spec.to_dict(),
            "objective": num(self.objective),
            "entropy": ev.entropy if ev else None,
            "penalty": ev.penalty if ev else None,
            "stage_terms": list(ev.stage_terms) if ev else None,
            "costs": None if ev is None else {
                "convention": convention, "params": ev.costs.get("params", convention),
                "macs": ev.costs.get("macs", convention), "flops": ev.costs.get("flops", convention),
                "activations": ev.costs.activations, "layers": ev.costs.layers, "rho": ev.rho,
                **({"latency_ms": ev.costs.latency_ms} if ev.costs.latency_ms else {})},
            "constraints": [c.to_dict() for c in self.constraints],
            "solver": {"name": self.solver, "status": self.status, "success": self.success,
                       "message": self.message,
                       "primal_bound": num(self.primal_bound), "dual_bound": num(self.dual_bound),
                       "gap": num(self.gap), "nodes": self.nodes, "time_s": self.time_s,
                       "verified": self.verified},
        }
        out.update({k: v for k, v in self.extras.items() if k not in out})
        return out


def _same_costs(a: Costs, b: Costs) -> bool:
    """Integer costs equal; the float latency equal up to a relative 1e-9 (summation order)."""
    same_ms = abs(a.latency_ms - b.latency_ms) <= _REL_TOL * max(1.0, abs(b.latency_ms))
    return same_ms and dataclasses.replace(a, latency_ms=0.0) == dataclasses.replace(b, latency_ms=0.0)


def finish(problem: DesignProblem, design: Design | None, solver: str, status: str, message: str,
           primal: float, dual: float, nodes: int, time_s: float,
           extras: dict[str, Any] | None = None) -> DesignResult:
    """Build a :class:`DesignResult`, re-checking ``design`` independently.

    The returned design is evaluated again with ``count_network`` and ``score_spec``; any
    disagreement with the fast evaluator, or an unmet budget, sets ``verified=False`` and is
    written into ``message`` (loudly: it is a bug).
    """
    if design is None:
        return DesignResult(None, None, None, solver, status, message, primal, dual, nodes, time_s,
                            False, extras or {})
    spec = problem.to_spec(design)
    fast, ind = problem.evaluate(design), problem.verify(spec)
    issues = []
    if abs(fast.objective - ind.objective) > _REL_TOL * max(1.0, abs(ind.objective)):
        issues.append(f"objective {fast.objective!r} (solver) != {ind.objective!r} (re-check)")
    if not _same_costs(fast.costs, ind.costs):
        issues.append(f"costs {fast.costs} (solver) != {ind.costs} (re-check)")
    bad = [c for c in ind.constraints if not c.satisfied]
    issues += [f"{c.name} {c.value:g} violates {c.sense} {c.limit:g}" for c in bad]
    if reason := problem.space.contains(design):
        issues.append(f"design outside the space: {reason}")
    if issues:
        message = "RE-CHECK FAILED: " + "; ".join(issues) + (f" ({message})" if message else "")
    return DesignResult(spec, design, ind, solver, status, message, primal, dual, nodes, time_s,
                        not issues, extras or {})
