"""Block-role tables: per (node, option) values of accuracy, latency, energy and FLOPs (no torch).

MathNAS (Wang et al., NeurIPS 2023, arXiv 2311.04943), Sec. 3.2-3.3: every block b_{i,j} has a
role, its average effect on a metric when node i switches to it (Eq. 3). A :class:`BlockTable`
stores those roles with the base values, and every metric is additive,

    value(N) = base + sum_i delta[i][J_i],

with ``delta = -b`` in the paper's notation (Eq. 5: Acc(N) = Acc(N~) - sum_i b^A_{i,Ji}). The
accuracy metric is written as drops ``b^A`` in JSON, the others as ``delta`` (for instance the
absolute per-stage latencies of the released MobileNetV3 tables, with base 0).

JSON format (``format: deepmad.mathnas.block_table``, ``version: 1``)::

    {"format": "deepmad.mathnas.block_table", "version": 1, "name": "...", "device": "...",
     "nodes": [...], "options": [[...], ...],
     "metrics": {"accuracy": {"base": 79.23, "drop": [[...]], "unit": "%"},
                 "latency": {"base": 0.0, "delta": [[...]], "unit": "ms"}, ...},
     "flops_reference": null,
     "variable_depth": {"skip_options": [null, 0, 0], "groups": [[1, 2]]},
     "provenance": {...}}

Each metric accepts ``drop`` (b, value = base - sum) or ``delta`` (value = base + sum).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deepmad.errors import DeepmadError
from deepmad.mathnas.space import Arch, Space, check_ragged
from deepmad.utils.io import atomic_write_json

__all__ = [
    "METRICS",
    "TABLE_FORMAT",
    "BlockTable",
    "MetricTable",
    "load_table_json",
    "save_table_json",
    "table_from_dict",
    "table_to_dict",
]

METRICS: tuple[str, ...] = ("accuracy", "latency", "energy", "flops")
TABLE_FORMAT = "deepmad.mathnas.block_table"
_TABLE_KEYS = {"format", "version", "name", "device", "nodes", "options", "metrics",
               "flops_reference", "variable_depth", "provenance"}


@dataclass(frozen=True)
class MetricTable:
    """One additive metric: ``value(N) = base + sum_i delta[i][J_i]`` (delta = -b of Eq. 5)."""

    base: float  # value of the reference network N~ (0 for absolute per-block tables)
    delta: tuple[tuple[float, ...], ...]  # per node, per option: contribution added to base
    unit: str = ""  # e.g. "%", "ms", "FLOPs"

    @property
    def drop(self) -> tuple[tuple[float, ...], ...]:
        """The paper's block values b_{i,j} = -delta (positive: the switch lowers the metric)."""
        return tuple(tuple(-v for v in row) for row in self.delta)

    def value(self, arch: Arch) -> float:
        """The metric of one architecture, ``base + sum_i delta[i][J_i]``."""
        return self.base + sum(self.delta[i][j] for i, j in enumerate(arch))

    def bounds(self) -> tuple[float, float]:
        """(min, max) of the metric over all networks (ignoring variable-depth constraints)."""
        lo = self.base + sum(min(row) for row in self.delta)
        hi = self.base + sum(max(row) for row in self.delta)
        return lo, hi

    def mean(self) -> float:
        """Mean of the metric over all networks of the space (uniform over options)."""
        return self.base + sum(sum(row) / len(row) for row in self.delta)


@dataclass(frozen=True)
class BlockTable:
    """Block roles of a space: ``nodes`` x ``options`` with additive metric tables.

    ``skip_options``/``depth_groups`` describe variable depth (Eq. 9): ``skip_options[i]`` is the
    index of node i's "no block" option (None when the node is mandatory) and each group is an
    ordered chain of nodes in which absence is monotone (once a node is absent, the later ones
    of its group are absent too).
    """

    name: str  # e.g. "mbv3-gpu"
    nodes: tuple[str, ...]  # node names
    options: tuple[tuple[str, ...], ...]  # option names per node (ragged)
    metrics: Mapping[str, MetricTable]  # keys from METRICS
    device: str = ""  # device of the latency/energy metrics, e.g. "tx2_gpu"
    flops_reference: float | None = None  # F-bar of Eq. 6; None -> mean FLOPs of the space
    skip_options: tuple[int | None, ...] | None = None  # variable depth: "no block" option per node
    depth_groups: tuple[tuple[int, ...], ...] = ()  # chains with monotone absence (Eq. 9)
    provenance: Mapping[str, Any] = field(default_factory=dict)  # source, notes, estimation record

    def __post_init__(self) -> None:
        space = Space(self.name, self.nodes, self.options)  # validates names and shape
        object.__setattr__(self, "nodes", space.nodes)
        object.__setattr__(self, "options", space.options)
        metrics = {}
        for key, metric in dict(self.metrics).items():
            if key not in METRICS:
                raise DeepmadError(f"metric {key!r} is not supported; allowed: {', '.join(METRICS)}")
            delta = check_ragged("BlockTable", f"metrics[{key!r}]", metric.delta, space.sizes)
            metrics[key] = MetricTable(float(metric.base), delta, metric.unit)
        if not metrics:
            raise DeepmadError(f"table {self.name!r} has no metrics; expected some of {', '.join(METRICS)}")
        object.__setattr__(self, "metrics", metrics)
        if self.flops_reference is not None and not float(self.flops_reference) > 0:
            raise DeepmadError(f"flops_reference={self.flops_reference!r} is invalid; expected a positive number")
        self._check_depth(space.sizes)

    def _check_depth(self, sizes: tuple[int, ...]) -> None:
        if self.skip_options is None:
            if self.depth_groups:
                raise DeepmadError("depth_groups need skip_options (the 'no block' option of each node)")
            return
        skips = tuple(None if s is None else int(s) for s in self.skip_options)
        if len(skips) != len(sizes):
            raise DeepmadError(f"skip_options has {len(skips)} entries; expected one per node ({len(sizes)})")
        for i, s in enumerate(skips):
            if s is not None and not 0 <= s < sizes[i]:
                raise DeepmadError(f"skip_options[{i}]={s} is out of range 0..{sizes[i] - 1}")
        groups = tuple(tuple(int(i) for i in g) for g in self.depth_groups)
        seen: set[int] = set()
        for g in groups:
            for i in g:
                if not 0 <= i < len(sizes) or skips[i] is None or i in seen:
                    raise DeepmadError(
                        f"depth group {list(g)} is invalid: node {i} must exist, have a skip option "
                        "and belong to one group only"
                    )
                seen.add(i)
        object.__setattr__(self, "skip_options", skips)
        object.__setattr__(self, "depth_groups", groups)

    # --- structure ---------------------------------------------------------------------
    @property
    def sizes(self) -> tuple[int, ...]:
        """Options per node."""
        return tuple(len(row) for row in self.options)

    @property
    def space(self) -> Space:
        """The table's :class:`Space` (with FLOPs when the table has a ``flops`` metric)."""
        flops = self.metrics.get("flops")
        return Space(self.name, self.nodes, self.options,
                     flops=None if flops is None else flops.delta,
                     flops_base=0.0 if flops is None else flops.base)

    def metric(self, name: str) -> MetricTable:
        """The metric table called ``name``; the error lists the metrics this table has."""
        try:
            return self.metrics[name]
        except KeyError:
            raise DeepmadError(
                f"table {self.name!r} has no {name!r} values; it has: {', '.join(self.metrics)}"
            ) from None

    def has(self, name: str) -> bool:
        """True when the table holds the metric ``name``."""
        return name in self.metrics

    @property
    def variable_depth(self) -> bool:
        """True when some node may be absent (Eq. 9)."""
        return self.skip_options is not None and any(s is not None for s in self.skip_options)

    def is_valid_depth(self, arch: Arch) -> bool:
        """True when ``arch`` respects the monotone absence of every depth group."""
        if not self.variable_depth:
            return True
        for g in self.depth_groups:
            absent = [arch[i] == self.skip_options[i] for i in g]  # type: ignore[index]
            if any(a and not b for a, b in zip(absent, absent[1:])):
                return False
        return True

    def flops_mean(self) -> float:
        """F-bar of Eq. 6: ``flops_reference`` when set, else the mean FLOPs over the space."""
        if self.flops_reference is not None:
            return float(self.flops_reference)
        return self.metric("flops").mean()

    def with_metrics(self, **metrics: MetricTable | None) -> BlockTable:
        """A copy with metrics added, replaced, or removed (``name=None``)."""
        merged = dict(self.metrics)
        for key, value in metrics.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return replace(self, metrics=merged)


# --- JSON --------------------------------------------------------------------------------
def _metric_to_dict(name: str, metric: MetricTable) -> dict[str, Any]:
    out: dict[str, Any] = {"base": metric.base}
    if name == "accuracy":
        out["drop"] = [list(r) for r in metric.drop]
    else:
        out["delta"] = [list(r) for r in metric.delta]
    if metric.unit:
        out["unit"] = metric.unit
    return out


def table_to_dict(table: BlockTable) -> dict[str, Any]:
    """JSON-able dict of ``table`` (format ``deepmad.mathnas.block_table``, version 1)."""
    out: dict[str, Any] = {
        "format": TABLE_FORMAT, "version": 1, "name": table.name, "device": table.device,
        "nodes": list(table.nodes), "options": [list(r) for r in table.options],
        "metrics": {k: _metric_to_dict(k, m) for k, m in table.metrics.items()},
        "flops_reference": table.flops_reference,
    }
    if table.skip_options is not None:
        out["variable_depth"] = {"skip_options": list(table.skip_options),
                                 "groups": [list(g) for g in table.depth_groups]}
    out["provenance"] = dict(table.provenance)
    return out


def _metric_from_dict(name: str, data: Mapping[str, Any]) -> MetricTable:
    extra = set(data) - {"base", "drop", "delta", "unit"}
    if extra or ("drop" in data) == ("delta" in data):
        raise DeepmadError(
            f"metric {name!r} must have 'base' and exactly one of 'drop' or 'delta' (and optional 'unit'); got keys {sorted(data)}"
        )
    key = "drop" if "drop" in data else "delta"
    sign = -1.0 if key == "drop" else 1.0
    rows = data[key]
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise DeepmadError(f"metrics[{name!r}].{key} must be a list of lists of numbers")
    delta = tuple(tuple(sign * _number(v, f"metrics[{name!r}].{key}[{i}][{j}]") for j, v in enumerate(row))
                  for i, row in enumerate(rows))
    return MetricTable(_number(data.get("base", 0.0), f"metrics[{name!r}].base"), delta, str(data.get("unit", "")))


def _number(value: Any, where: str) -> float:
    """``float(value)`` for a JSON number; a one-line error naming the field otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise DeepmadError(f"{where}={value!r} is invalid; expected a number")
    return float(value)


def table_from_dict(data: Mapping[str, Any]) -> BlockTable:
    """Inverse of :func:`table_to_dict`; unknown keys are rejected."""
    if data.get("format") != TABLE_FORMAT:
        raise DeepmadError(f"format={data.get('format')!r} is not a block table; expected {TABLE_FORMAT!r}")
    if data.get("version") != 1:
        raise DeepmadError(f"block table version={data.get('version')!r} is not supported; allowed: 1")
    extra = set(data) - _TABLE_KEYS
    if extra:
        raise DeepmadError(f"block table has unknown keys {sorted(extra)}; allowed: {sorted(_TABLE_KEYS)}")
    depth = data.get("variable_depth") or {}
    return BlockTable(
        name=str(data.get("name", "")), nodes=tuple(data["nodes"]),
        options=tuple(tuple(r) for r in data["options"]),
        metrics={k: _metric_from_dict(k, v) for k, v in data["metrics"].items()},
        device=str(data.get("device", "")), flops_reference=data.get("flops_reference"),
        skip_options=None if not depth else tuple(depth["skip_options"]),
        depth_groups=tuple(tuple(g) for g in depth.get("groups", ())),
        provenance=dict(data.get("provenance", {})),
    )


def save_table_json(table: BlockTable, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` to ``path`` atomically."""
    return atomic_write_json(path, table_to_dict(table))


def load_table_json(path: str | os.PathLike[str]) -> BlockTable:
    """Read a block table written by :func:`save_table_json` (or by hand in that format)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise DeepmadError(f"{path}: not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, dict):
        raise DeepmadError(f"{path}: expected a JSON object holding a block table")
    try:
        return table_from_dict(data)
    except DeepmadError as exc:
        raise DeepmadError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise DeepmadError(f"{path}: malformed block table ({type(exc).__name__}: {exc})") from None

