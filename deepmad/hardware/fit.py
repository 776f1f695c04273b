"""Non-negative least squares fit of the latency model, and its accuracy figures (no torch).

Model: ``t(spec) = sum_j w_j F_j(spec)``, ``w >= 0`` (features: :mod:`deepmad.hardware.features`).
The fit minimises the squared *relative* error, so a 2 ms network weighs as much as a 200 ms one:

    min_{w >= 0}  sum_i ((F_i . w - t_i) / t_i)^2  +  lambda * sum_j (w_j s_j)^2,

with ``s_j`` the scale of column j (its largest relative-weighted value), i.e. ridge on the
scaled columns, solved as one :func:`scipy.optimize.nnls` on the stacked system. ``lambda`` is
chosen by K-fold cross-validation on the training networks (the share within +-10 %, then
MAPE). Columns that are zero on every training network get ``w_j = 0``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls
from scipy.stats import spearmanr

from deepmad.errors import DeepmadError

__all__ = ["Accuracy", "FitResult", "LAMBDAS", "accuracy", "design_matrix", "fit_nnls", "fit_cv"]

LAMBDAS = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class Accuracy:
    """Prediction accuracy on a set of networks."""

    n: int
    mape: float  # mean |pred - meas| / meas, in %
    within10: float  # share of networks with |pred - meas| <= 10 % meas, in %
    within15: float
    spearman: float  # rank correlation of predicted and measured (nan below 3 networks)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FitResult:
    """Coefficients (ms per unit of each feature) and the chosen ridge weight."""

    coefficients: dict[str, float]
    ridge: float
    cv: Accuracy | None  # cross-validated accuracy at the chosen ridge (None if not run)


def design_matrix(rows: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    """``X[i, j] = rows[i].get(names[j], 0)``; unknown feature names are an error."""
    known = set(names)
    for r in rows:
        extra = set(r) - known
        if extra:
            raise DeepmadError(f"features {sorted(extra)} are not in the model's feature list")
    return np.array([[float(r.get(n, 0.0)) for n in names] for r in rows], dtype=float).reshape(
        len(rows), len(names)
    )


def accuracy(predicted: np.ndarray, measured: np.ndarray) -> Accuracy:
    """MAPE, share within +-10 % / +-15 % and Spearman of ``predicted`` against ``measured``."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    if len(m) == 0:
        return Accuracy(0, float("nan"), float("nan"), float("nan"), float("nan"))
    rel = np.abs(p - m) / m
    rho = float(spearmanr(p, m).statistic) if len(m) >= 3 else float("nan")
    eps = 1e-9  # so an error of exactly 10 % counts as within 10 % despite rounding
    return Accuracy(
        len(m),
        float(100 * rel.mean()),
        float(100 * np.mean(rel <= 0.10 + eps)),
        float(100 * np.mean(rel <= 0.15 + eps)),
        rho,
    )


def fit_nnls(x: np.ndarray, t: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """Non-negative ``w`` minimising the relative squared error plus the scaled ridge term."""
    x, t = np.asarray(x, float), np.asarray(t, float)
    if x.ndim != 2 or x.shape[0] != t.shape[0] or x.shape[0] == 0:
        raise DeepmadError(f"fit needs a (n, p) matrix and n times; got {x.shape} and {t.shape}")
    if np.any(t <= 0) or np.any(~np.isfinite(t)):
        raise DeepmadError("every measured time must be a positive finite number of ms")
    a = x / t[:, None]
    scale = np.abs(a).max(axis=0)
    live = scale > 0
    w = np.zeros(x.shape[1])
    if not live.any():
        return w
    a_live = a[:, live] / scale[live]
    b = np.ones(len(t))
    if ridge > 0:
        k = a_live.shape[1]
        a_live = np.vstack([a_live, np.sqrt(ridge) * np.eye(k)])
        b = np.concatenate([b, np.zeros(k)])
    sol, _ = nnls(a_live, b, maxiter=50 * a_live.shape[1] + 500)
    w[live] = sol / scale[live]
    return w


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def fit_cv(
    x: np.ndarray,
    t: np.ndarray,
    names: Sequence[str],
    lambdas: Sequence[float] = LAMBDAS,
    folds: int = 5,
    seed: int = 0,
) -> FitResult:
    """Choose the ridge weight by K-fold CV (within +-10 %, then MAPE), then fit on all rows."""
    x, t = np.asarray(x, float), np.asarray(t, float)
    best: tuple[float, float, float, Accuracy | None] = (-1.0, float("inf"), 0.0, None)
    if len(t) >= 2 * folds and len(lambdas) > 1:
        parts = _folds(len(t), folds, seed)
        for lam in lambdas:
            pred = np.empty(len(t))
            for idx in parts:
                train = np.setdiff1d(np.arange(len(t)), idx)
                pred[idx] = x[idx] @ fit_nnls(x[train], t[train], lam)
            acc = accuracy(pred, t)
            if (acc.within10, -acc.mape) > (best[0], -best[1]):
                best = (acc.within10, acc.mape, lam, acc)
    ridge = best[2] if best[3] is not None else (lambdas[0] if len(lambdas) == 1 else 0.0)
    w = fit_nnls(x, t, ridge)
    return FitResult(dict(zip(names, (float(v) for v in w))), ridge, best[3])
