"""Predictor validation: predictions for every architecture, rank correlations (no torch).

MathNAS (arXiv 2311.04943), Sec. 4.1 and Table 9 report the predictor's Spearman rho and
Kendall tau against the true accuracy (0.97 on NAS-Bench-201, tau 0.86 on MobileNetV3), and
its RMSE / MAE (Table 5). This module computes the same figures for any table and any set of
measured architectures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau, spearmanr

from deepmad.errors import DeepmadError
from deepmad.mathnas.predictors import predict_accuracy
from deepmad.mathnas.space import Arch
from deepmad.mathnas.tables import BlockTable

__all__ = ["Validation", "predict_space", "rank_correlations", "validate"]


@dataclass(frozen=True)
class Validation:
    """How well predictions rank and match the truth."""

    count: int  # architectures compared
    spearman: float  # Spearman rho
    kendall: float  # Kendall tau-b
    rmse: float  # root mean squared error
    mae: float  # mean absolute error
    predictor: str = ""

    def to_dict(self) -> dict[str, float | int | str]:
        """JSON-able copy."""
        return dict(self.__dict__)


def rank_correlations(predicted: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(Spearman rho, Kendall tau-b) of two equally long vectors."""
    p, t = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    if p.shape != t.shape or p.ndim != 1 or len(p) < 3:
        raise DeepmadError(f"need two vectors of equal length >= 3 to correlate; got {p.shape} and {t.shape}")
    return float(spearmanr(p, t)[0]), float(kendalltau(p, t)[0])


def validate(table: BlockTable, truth: Mapping[Arch, float], predictor: str = "additive") -> Validation:
    """Compare ``table``'s predicted accuracy with measured ``truth`` ({arch: accuracy})."""
    archs = list(truth)
    y = np.array([truth[a] for a in archs], dtype=float)
    pred = predict_accuracy(table, archs, predictor)
    rho, tau = rank_correlations(pred, y)
    err = pred - y
    return Validation(len(archs), rho, tau, float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err))), predictor)


def predict_space(table: BlockTable, predictor: str = "additive", limit: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Every architecture of the table (lexicographic, depth rules applied) and its prediction."""
    archs = table.space.all_archs(limit)
    if table.variable_depth:
        archs = archs[[table.is_valid_depth(tuple(a)) for a in archs]]
    return archs, predict_accuracy(table, archs, predictor)
