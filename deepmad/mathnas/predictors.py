"""Network predictors from block roles: additive and FLOPs-scaled (no torch).

MathNAS (arXiv 2311.04943), Sec. 3.3, Eq. 5/6, with b the block values of the table
(``b = -delta``):

* additive (the released code's predictor): Acc(N) = Acc(N~) - sum_i b^A_{i,Ji};
* FLOPs-scaled (the paper's, Eq. 6): Acc(N) = Acc(N~) - (F-bar / F(N)) * sum_i b^A_{i,Ji}, with
  F(N) = sum_i b^F_{i,Ji} (plus the fixed FLOPs of the table's ``flops.base``) and F-bar the
  mean FLOPs of the networks the block values were averaged over (``flops_reference``, or the
  mean FLOPs of the space when the table does not say);
* latency, energy and FLOPs are additive in both: Lat(N) = Lat(N~) - sum_i b^L_{i,Ji}.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from deepmad.errors import DeepmadError
from deepmad.mathnas.space import Arch
from deepmad.mathnas.tables import BlockTable, MetricTable

__all__ = ["PREDICTORS", "as_arch_array", "check_predictor", "metric_values", "predict", "predict_accuracy"]

PREDICTORS: tuple[str, ...] = ("additive", "flops")


def check_predictor(predictor: str) -> str:
    """Validate a predictor name."""
    if predictor not in PREDICTORS:
        raise DeepmadError(f"predictor {predictor!r} is unknown; allowed: {', '.join(PREDICTORS)}")
    return predictor


def as_arch_array(table: BlockTable, archs: Iterable[Sequence[int]] | np.ndarray) -> np.ndarray:
    """Architectures as an int array (K, m), range-checked against ``table``."""
    arr = np.asarray(list(archs) if not isinstance(archs, np.ndarray) else archs, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != len(table.nodes):
        raise DeepmadError(f"architectures must have {len(table.nodes)} option indices each; got shape {arr.shape}")
    sizes = np.asarray(table.sizes)
    if arr.size and ((arr < 0).any() or (arr >= sizes).any()):
        bad = arr[((arr < 0) | (arr >= sizes)).any(axis=1)][0]
        raise DeepmadError(f"architecture {bad.tolist()} has an option index out of range; sizes are {list(table.sizes)}")
    return arr


def metric_values(metric: MetricTable, archs: np.ndarray) -> np.ndarray:
    """``base + sum_i delta[i][J_i]`` for every row of ``archs`` (K, m)."""
    total = np.full(len(archs), metric.base, dtype=np.float64)
    for i, row in enumerate(metric.delta):
        total += np.asarray(row)[archs[:, i]]
    return total


def predict_accuracy(table: BlockTable, archs: Iterable[Sequence[int]] | np.ndarray,
                     predictor: str = "additive") -> np.ndarray:
    """Predicted accuracy of each architecture (Eq. 5 additive, or Eq. 6 FLOPs-scaled).

    Args:
        table: Block table with an ``accuracy`` metric (and ``flops`` for ``predictor="flops"``).
        archs: Architectures, one 0-based option index per node.
        predictor: ``"additive"`` or ``"flops"``.

    Returns:
        Array of predicted accuracies, one per architecture.
    """
    check_predictor(predictor)
    arr = as_arch_array(table, archs)
    acc = table.metric("accuracy")
    if predictor == "additive":
        return metric_values(acc, arr)
    if not table.has("flops"):
        raise DeepmadError(f"table {table.name!r} has no FLOPs; predictor 'flops' needs them (allowed: additive)")
    drop_sum = acc.base - metric_values(acc, arr)  # sum_i b^A_{i,Ji}
    flops = metric_values(table.metric("flops"), arr)
    if (flops <= 0).any():
        raise DeepmadError(f"table {table.name!r} gives a network non-positive FLOPs; Eq. 6 needs F(N) > 0")
    return acc.base - table.flops_mean() * drop_sum / flops


def predict(table: BlockTable, arch: Arch, predictor: str = "additive") -> dict[str, float]:
    """Every metric of one architecture: accuracy by ``predictor``, the others additive."""
    arr = as_arch_array(table, [arch])
    out: dict[str, float] = {}
    for name, metric in table.metrics.items():
        if name == "accuracy":
            out[name] = float(predict_accuracy(table, arr, predictor)[0])
        else:
            out[name] = float(metric_values(metric, arr)[0])
    return out
