"""Shared helpers for the MathNAS tests: the NB201 subset, random tables, CSV writers."""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from deepmad.mathnas import BlockTable, MetricTable, arch_from_naslib_key, format_arch
from deepmad.mathnas.space import Arch

# ../shared/data next to the repository (the data folder).
SUBSET = Path(__file__).resolve().parents[3] / "shared" / "data" / "nb201_subset" / "zc_nasbench201.json"


@lru_cache(maxsize=1)
def _subset_raw() -> dict:
    if not SUBSET.is_file():
        pytest.skip(f"NAS-Bench-201 subset not found at {SUBSET}")
    return json.loads(SUBSET.read_text())["nasbench201"]


def subset_records(dataset: str = "ImageNet16-120") -> dict[Arch, dict[str, float]]:
    """{arch: {"accuracy", "flops" (MFLOPs), "params" (M)}} of NASLib's 491-cell NB201 subset."""
    return {
        arch_from_naslib_key(k): {"accuracy": v["val_accuracy"], "flops": v["flops"], "params": v["params"]}
        for k, v in _subset_raw()[dataset].items()
    }


def write_subset_csv(path: Path, dataset: str = "ImageNet16-120") -> Path:
    """The subset as a CSV with columns arch, val_acc, params."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "val_acc", "params"])
        for arch, rec in subset_records(dataset).items():
            w.writerow([format_arch(arch), rec["accuracy"], rec["params"]])
    return path


def random_table(rng: np.random.Generator, sizes: tuple[int, ...], *, energy: bool = True,
                 name: str = "random") -> BlockTable:
    """A table with random accuracy drops (some negative), latency, energy and positive FLOPs."""

    def rows(lo: float, hi: float) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(float(v) for v in rng.uniform(lo, hi, n)) for n in sizes)

    metrics = {
        "accuracy": MetricTable(75.0, rows(-1.5, 0.2), "%"),
        "latency": MetricTable(5.0, rows(0.5, 10.0), "ms"),
        "flops": MetricTable(1e6, rows(1e5, 5e6), "FLOPs"),
    }
    if energy:
        metrics["energy"] = MetricTable(50.0, rows(-5.0, 20.0), "mJ")
    return BlockTable(name=name, nodes=tuple(f"n{i}" for i in range(len(sizes))),
                      options=tuple(tuple(f"o{j}" for j in range(n)) for n in sizes), metrics=metrics)
