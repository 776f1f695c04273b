"""The block tables shipped with deepmad, loaded from package data (no torch).

The MobileNetV3 and NAS-Bench-201 tables of MathNAS (arXiv 2311.04943) as released in
``wangqinsi1/MathNAS`` (commit b16b5519), copied verbatim, provenance included, to
``deepmad/data/mathnas/{mbv3,nb201}.json``:

* ``mbv3-gpu``: GPU block set, 5 stages x 5 options, TX2-GPU latency (ms);
* ``mbv3-cpu``: CPU block set, TX2-CPU or Raspberry-Pi latency (ms);
* ``nb201``: 6 edges x 5 ops, edge-GPU or FPGA latency and energy (units not stated in the
  source; microseconds / microjoules inferred).

FLOPs are computed (:mod:`deepmad.mathnas.mbv3`, :mod:`deepmad.mathnas.nb201`) since the
released tables have none; the NB201 table gets the ImageNet16-120 FLOPs, the dataset its base
accuracy 40.78 most likely belongs to (inferred, see the data file's notes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deepmad.errors import DeepmadError
from deepmad.mathnas.mbv3 import mbv3_fixed_macs, mbv3_option_macs
from deepmad.mathnas.nb201 import nb201_space
from deepmad.mathnas.tables import BlockTable, MetricTable, load_table_json

__all__ = ["TABLE_DEVICES", "list_tables", "load_table"]

_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "mathnas"

# table name -> (devices, default device)
TABLE_DEVICES: dict[str, tuple[tuple[str, ...], str]] = {
    "mbv3-gpu": (("tx2_gpu",), "tx2_gpu"),
    "mbv3-cpu": (("tx2_cpu", "raspberry_pi"), "tx2_cpu"),
    "nb201": (("edgegpu", "fpga"), "edgegpu"),
}


def list_tables() -> list[str]:
    """Names of the shipped tables."""
    return sorted(TABLE_DEVICES)


def _read_source(filename: str) -> dict[str, Any]:
    path = _DATA_DIR / filename  # package data, shipped by pyproject's deepmad/data/**/*.json
    return json.loads(path.read_text(encoding="utf-8"))


def _provenance(src: dict[str, Any], **extra: Any) -> dict[str, Any]:
    keep = {k: src[k] for k in ("source", "notes", "units", "formulas", "indexing") if k in src}
    return {**keep, **extra}


def _mbv3_option_name(j: int, opt: dict[str, Any]) -> str:
    d = int(opt["depth"])
    e = "".join(str(v) for v in opt["expand"][:d])
    k = "".join(str(v) for v in opt["kernel"][:d])
    return f"o{j}:d{d}-e{e}-k{k}"


def _load_mbv3(block_set: str, device: str) -> BlockTable:
    src = _read_source("mbv3.json")
    data = src["block_sets"][block_set]
    options = tuple(tuple(_mbv3_option_name(j, o) for j, o in enumerate(row)) for row in data["options"])
    metrics = {
        "accuracy": MetricTable(float(src["base_accuracy"]), tuple(tuple(-v for v in r) for r in data["acc_drop"]), "%"),
        "latency": MetricTable(0.0, tuple(tuple(r) for r in data["latency_ms"][device]), "ms"),
        "flops": MetricTable(float(mbv3_fixed_macs()), mbv3_option_macs(data["options"]), "MACs"),
    }
    return BlockTable(
        name=f"mbv3-{block_set}", nodes=tuple(f"stage{i + 1}" for i in range(len(options))),
        options=options, metrics=metrics, device=device,
        provenance=_provenance(src, block_set=block_set, stage_options=data["options"],
                               flops_note="MACs at 224x224 computed by deepmad.mathnas.mbv3 (not in the source)"),
    )


def _load_nb201(device: str) -> BlockTable:
    src = _read_source("nb201.json")
    space = nb201_space("ImageNet16-120")
    dev = src["devices"][device]

    def negated(rows: list[list[float]]) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(-v for v in r) for r in rows)

    metrics = {
        "accuracy": MetricTable(float(src["base_accuracy"]), negated(src["acc_drop"]), "%"),
        "latency": MetricTable(float(dev["latency"]["base"]), negated(dev["latency"]["table"]), "us"),
        "energy": MetricTable(float(dev["energy"]["base"]), negated(dev["energy"]["table"]), "uJ"),
        "flops": MetricTable(space.flops_base, space.flops, "FLOPs (NAS-Bench-201, ImageNet16-120)"),  # type: ignore[arg-type]
    }
    return BlockTable(
        name="nb201", nodes=tuple(src["edges"]), options=(tuple(src["ops"]),) * len(src["edges"]),
        metrics=metrics, device=device,
        provenance=_provenance(src, base_constants_in_code=src.get("base_constants_in_code"),
                               flops_note="ImageNet16-120 FLOPs computed by deepmad.mathnas.nb201 (not in the source)",
                               units_note="latency us and energy uJ are inferred; the source states no unit"),
    )


def load_table(name: str, device: str | None = None) -> BlockTable:
    """A shipped table (``mbv3-gpu``, ``mbv3-cpu``, ``nb201``) or a block-table JSON path.

    Args:
        name: Shipped table name, or the path of a ``deepmad.mathnas.block_table`` JSON file.
        device: Latency/energy device of a shipped table; None picks the table's default.
            For a JSON file it must be None or equal to the file's ``device``.
    """
    if name not in TABLE_DEVICES:
        if name.endswith(".json"):
            table = load_table_json(name)
            if device is not None and table.device and device != table.device:
                raise DeepmadError(f"device {device!r} does not match the table's device {table.device!r}")
            return table
        raise DeepmadError(f"table {name!r} is unknown; allowed: {', '.join(list_tables())} or a PATH.json")
    devices, default = TABLE_DEVICES[name]
    device = default if device is None else device
    if device not in devices:
        raise DeepmadError(f"device {device!r} has no latency in table {name!r}; allowed: {', '.join(devices)}")
    if name == "nb201":
        return _load_nb201(device)
    return _load_mbv3(name.split("-")[1], device)
