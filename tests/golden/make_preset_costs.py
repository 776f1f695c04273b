"""Regenerate ``preset_costs.json`` (run by hand after an intended cost change, then review the diff).

    python tests/golden/make_preset_costs.py
"""

from __future__ import annotations

import json
from pathlib import Path

from deepmad.cost import CONVENTIONS, count_network
from deepmad.spec import get_preset, list_presets

GOLDEN = Path(__file__).with_name("preset_costs.json")


def compute() -> dict[str, dict[str, dict[str, int]]]:
    """Totals of every registered preset in both conventions."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name in list_presets():
        out[name] = {}
        for conv in CONVENTIONS:
            r = count_network(get_preset(name), conv)
            out[name][conv] = {"params": r.params, "macs": r.macs, "flops": r.flops,
                               "activations": r.activations, "layers": r.layers}
    return out


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
