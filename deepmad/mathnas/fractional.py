"""Exact solvers for the FLOPs-scaled (fractional) MathNAS objective (no torch).

MathNAS (arXiv 2311.04943), Eq. 6: maximise ``Acc(N~) - F-bar * N(x) / D(x)`` with the
numerator ``N(x) = sum b^A_{i,j} x_{i,j}`` and the FLOPs ``D(x) = F_0 + sum b^F_{i,j} x_{i,j} > 0``,
i.e. minimise the ratio ``q(x) = N(x) / D'(x)`` with ``D' = D / F-bar``. Two exact methods
(App. B.6 and the correctness notes of the reference):

* Dinkelbach (1967): from lambda = q(x_0), repeatedly solve the *linear* 0-1 program
  ``min N(x) - lambda D'(x)`` and set lambda = q(x); stop when the minimum reaches 0. Each step
  strictly lowers lambda, so it ends after finitely many MILPs (2-4 in practice).
* Charnes-Cooper (Eq. 10-11) with the normalisation the paper leaves out: z = 1/D'(x),
  y = x z, minimise ``sum b y`` s.t. ``F_0' z + sum f' y = 1``, ``sum_j y_{i,j} = z``, and
  big-M links ``y <= M x``, ``y <= z``, ``y >= z - M (1 - x)`` with M = 1 / min D'; the budget
  and depth rows stay on the binaries x. One MILP with 2n + 1 variables.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import Bounds, LinearConstraint
from scipy.sparse import csr_matrix, hstack, identity, vstack

from deepmad.mathnas.linear import LinearForm, MilpOutcome, solve_binary
from deepmad.mathnas.milp import milp_optimiser, objective_vector
from deepmad.mathnas.problem import MathNASProblem, SolveResult, build_result

__all__ = ["FRACTIONAL_METHODS", "solve_fractional"]

FRACTIONAL_METHODS: tuple[str, ...] = ("dinkelbach", "charnes_cooper")
_MAX_ITERATIONS = 100


class _Ratio:
    """N(x) and D'(x) of one problem, as flat vectors."""

    def __init__(self, problem: MathNASProblem, form: LinearForm) -> None:
        self.num = objective_vector(form)
        f0, f = form.vector("flops")
        scale = problem.table.flops_mean()
        self.den0, self.den = f0 / scale, f / scale

    def q(self, x: np.ndarray) -> float:
        return float(self.num @ x / (self.den0 + self.den @ x))


def _dinkelbach(problem: MathNASProblem, form: LinearForm, time_limit: float | None
                ) -> tuple[MilpOutcome, np.ndarray | None, int]:
    ratio = _Ratio(problem, form)
    cons = form.constraints(problem.bound_list())
    lam, best, out, it = 0.0, None, None, 0
    while it < _MAX_ITERATIONS:
        it += 1
        out = solve_binary(ratio.num - lam * ratio.den, cons, time_limit=time_limit)
        if out.x is None:
            break
        x = form.one_hot_of(form.choice(out.x))
        q = ratio.q(x)
        if best is not None and q >= lam - 1e-12 * max(1.0, abs(lam)):
            break  # min N - lam D' >= 0: lam is the optimal ratio and ``best`` attains it
        best, lam = x, q
    return out, best, it  # type: ignore[return-value]


def _mccormick(n: int, z_lo: float, z_hi: float) -> list[LinearConstraint]:
    """Exact links y = x z for binary x and z in [z_lo, z_hi] (the McCormick envelope).

    Rows over [x, y, z]: ``y <= z_hi x``, ``y <= z - z_lo (1 - x)`` and ``y >= z_lo x``,
    ``y >= z - z_hi (1 - x)``; at binary x they force y = x z (the big-M links of the
    reference with M = z_hi, tightened by the lower bound z_lo > 0).
    """
    eye, ones = identity(n, format="csr"), csr_matrix(np.ones((n, 1)))
    upper = vstack([hstack([-z_hi * eye, eye, csr_matrix((n, 1))]), hstack([-z_lo * eye, eye, -ones])])
    lower = vstack([hstack([-z_lo * eye, eye, csr_matrix((n, 1))]), hstack([-z_hi * eye, eye, -ones])])
    return [LinearConstraint(upper, -np.inf, np.concatenate([np.zeros(n), np.full(n, -z_lo)])),
            LinearConstraint(lower, np.concatenate([np.zeros(n), np.full(n, -z_hi)]), np.inf)]


def _charnes_cooper(problem: MathNASProblem, form: LinearForm, time_limit: float | None
                    ) -> tuple[MilpOutcome, np.ndarray | None, int]:
    ratio, n, m = _Ratio(problem, form), form.n, len(form.sizes)
    segments = [ratio.den[form.offsets[i]:form.offsets[i + 1]] for i in range(m)]
    z_lo = 1.0 / (ratio.den0 + sum(float(s.max()) for s in segments))  # z = 1 / D'(x)
    z_hi = 1.0 / (ratio.den0 + sum(float(s.min()) for s in segments))
    one_hot, empty = csr_matrix(form.one_hot.A), csr_matrix((m, n))
    rows = [
        LinearConstraint(hstack([csr_matrix((1, n)), csr_matrix(ratio.den[None, :]), csr_matrix([[ratio.den0]])]),
                         1.0, 1.0),  # normalisation: D'(y) = F_0' z + sum f' y = 1
        LinearConstraint(hstack([one_hot, empty, csr_matrix((m, 1))]), 1.0, 1.0),  # sum_j x_ij = 1
        LinearConstraint(hstack([empty, one_hot, -csr_matrix(np.ones((m, 1)))]), 0.0, 0.0),  # sum_j y_ij = z
        *_mccormick(n, z_lo, z_hi),
    ]
    for c in form.constraints(problem.bound_list())[1:]:  # budgets and depth rules stay on x
        rows.append(LinearConstraint(hstack([csr_matrix(c.A), csr_matrix((c.A.shape[0], n + 1))]), c.lb, c.ub))
    cost = np.concatenate([np.zeros(n), ratio.num, [0.0]])
    integrality = np.concatenate([np.ones(n), np.zeros(n + 1)])
    bounds = Bounds(np.concatenate([np.zeros(2 * n), [z_lo]]), np.concatenate([np.ones(n), np.full(n, z_hi), [z_hi]]))
    out = solve_binary(cost, rows, integrality=integrality, bounds=bounds, time_limit=time_limit)
    x = None if out.x is None else form.one_hot_of(form.choice(out.x[:n]))
    return out, x, 1


def solve_fractional(problem: MathNASProblem, *, method: str = "dinkelbach",
                     time_limit: float | None = None) -> SolveResult:
    """Maximise the FLOPs-scaled predicted accuracy (Eq. 6) exactly.

    Args:
        problem: Table (with ``accuracy`` and ``flops``) and budgets; predictor ``"flops"``.
        method: ``"dinkelbach"`` (default) or ``"charnes_cooper"``.
        time_limit: Optional HiGHS time limit per MILP, in seconds.

    Returns:
        The optimal network, or an ``"infeasible"`` result naming the bound that cannot be met.
    """
    if problem.predictor != "flops":
        raise ValueError("solve_fractional needs predictor='flops'; use solve_additive for 'additive'")
    if method not in FRACTIONAL_METHODS:
        raise ValueError(f"method {method!r} is unknown; allowed: {', '.join(FRACTIONAL_METHODS)}")
    start = time.perf_counter()
    form = LinearForm(problem.table)
    solver = _dinkelbach if method == "dinkelbach" else _charnes_cooper
    out, x, iterations = solver(problem, form, time_limit)
    elapsed = time.perf_counter() - start
    status = out.status if x is None else ("optimal" if out.status in ("optimal", "infeasible") else out.status)
    gap = getattr(out.result, "mip_gap", None)
    return build_result(problem, None if x is None else form.choice(x), solver=method, status=status,
                        message=str(out.result.message), gap=None if gap is None else float(gap),
                        time_s=elapsed, iterations=iterations, optimise=milp_optimiser(form, time_limit))
