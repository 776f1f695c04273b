"""Lookup evaluator over a user's CSV of architectures and metrics (no torch).

MathNAS (arXiv 2311.04943), Sec. 4: on NAS-Bench-201 an "evaluation" is a table lookup. This
module reads any CSV with one architecture column and metric columns chosen by name, and
serves it as an evaluator ``arch -> {metric: value}`` for block-role estimation. Architecture
cells are NAS-Bench-201 strings (``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``) or option indices /
option names separated by commas, dashes or spaces (``3,4,4,4,3``).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping

from deepmad.errors import DeepmadError
from deepmad.mathnas.nb201 import NB201_OPS, parse_arch
from deepmad.mathnas.space import Arch, Space

__all__ = ["LookupEvaluator", "MissingArchitecture", "parse_arch_text", "read_metrics_csv"]


class MissingArchitecture(DeepmadError):
    """The evaluator has no record of the requested architecture."""


def parse_arch_text(text: str, space: Space) -> Arch:
    """Parse one architecture cell for ``space`` (NB201 string, indices or option names)."""
    text = text.strip()
    if text.startswith("|"):
        arch = parse_arch(text)
        if len(space.nodes) != 6:
            raise DeepmadError(f"{text!r} is a NAS-Bench-201 string but space {space.name!r} has {len(space.nodes)} nodes")
        return space.check_arch(tuple(space.option_index(i, NB201_OPS[j]) for i, j in enumerate(arch)))
    parts = [p for p in re.split(r"[\s,;\-()\[\]]+", text) if p]
    if all(re.fullmatch(r"\d+", p) for p in parts):
        return space.check_arch(int(p) for p in parts)
    if len(parts) != len(space.nodes):
        raise DeepmadError(f"architecture {text!r} has {len(parts)} entries; expected {len(space.nodes)}")
    return tuple(space.option_index(i, p) for i, p in enumerate(parts))


def _float(value: str, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DeepmadError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(out):
        raise DeepmadError(f"{where}: {value!r} is not a finite number")
    return out


def read_metrics_csv(path: str | os.PathLike[str], space: Space, arch_column: str,
                     metric_columns: Mapping[str, str]) -> dict[Arch, dict[str, float]]:
    """Read ``{arch: {metric: value}}`` from a CSV; repeated architectures are averaged.

    Args:
        path: CSV file with a header row.
        space: The space the architectures belong to.
        arch_column: Name of the architecture column.
        metric_columns: Table metric name -> CSV column, e.g. ``{"accuracy": "val_acc"}``.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        for col in (arch_column, *metric_columns.values()):
            if col not in header:
                raise DeepmadError(f"{path}: column {col!r} not found; columns: {', '.join(header)}")
        sums: dict[Arch, dict[str, float]] = {}
        counts: dict[Arch, int] = {}
        for line, row in enumerate(reader, start=2):
            arch = parse_arch_text(row[arch_column], space)
            values = {m: _float(row[c], f"{path}:{line} column {c!r}") for m, c in metric_columns.items()}
            acc = sums.setdefault(arch, dict.fromkeys(values, 0.0))
            for m, v in values.items():
                acc[m] += v
            counts[arch] = counts.get(arch, 0) + 1
    if not sums:
        raise DeepmadError(f"{path}: no architectures found")
    return {a: {m: v / counts[a] for m, v in vals.items()} for a, vals in sums.items()}


class LookupEvaluator:
    """``arch -> metrics`` by table lookup; counts the distinct architectures it served."""

    def __init__(self, records: Mapping[Arch, Mapping[str, float]], space: Space) -> None:
        self.space = space
        self.records = {space.check_arch(a): dict(v) for a, v in records.items()}
        self.served: set[Arch] = set()

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], space: Space, arch_column: str,
                 metric_columns: Mapping[str, str]) -> LookupEvaluator:
        """Build from a CSV (see :func:`read_metrics_csv`)."""
        return cls(read_metrics_csv(path, space, arch_column, metric_columns), space)

    @property
    def architectures(self) -> frozenset[Arch]:
        """Every architecture the table holds."""
        return frozenset(self.records)

    def __call__(self, arch: Arch) -> dict[str, float]:
        key = tuple(int(j) for j in arch)
        try:
            value = self.records[key]
        except KeyError:
            raise MissingArchitecture(
                f"architecture {list(key)} is not in the lookup table ({len(self.records)} of {self.space.size} architectures)"
            ) from None
        self.served.add(key)
        return dict(value)
