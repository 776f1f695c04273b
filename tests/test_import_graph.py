"""The design core never imports torch (STYLE guideline 2)."""

from __future__ import annotations

import subprocess
import sys

# Modules that must be importable without pulling torch into sys.modules.
TORCH_FREE_MODULES = [
    "deepmad",
    "deepmad.cli.base",
    "deepmad.spec",
    "deepmad.cost",
    "deepmad.cost.ic",
    "deepmad.utils.io",
    "deepmad.errors",
    "deepmad.train.config",
    "deepmad.train.readers",
    "deepmad.train.plot",
    "deepmad.cli.train",
    "deepmad.spec.ghost",
    "deepmad.cost.ghost",
    "deepmad.enlarge",
    "deepmad.enlarge.train_eval",
    "deepmad.enlarge.plot",
    "deepmad.cli.enlarge",
    "deepmad.mathnas",
    "deepmad.mathnas.brute",
    "deepmad.mathnas.catalog",
    "deepmad.mathnas.cnn_space",
    "deepmad.mathnas.estimate",
    "deepmad.mathnas.fractional",
    "deepmad.mathnas.linear",
    "deepmad.mathnas.lookup",
    "deepmad.mathnas.mbv3",
    "deepmad.mathnas.milp",
    "deepmad.mathnas.nb201",
    "deepmad.mathnas.predictors",
    "deepmad.mathnas.problem",
    "deepmad.mathnas.solve",
    "deepmad.mathnas.space",
    "deepmad.mathnas.tables",
    "deepmad.mathnas.validate",
    "deepmad.cli.mathnas",
    "deepmad.scores",
    "deepmad.scores.entropy",
    "deepmad.solvers",
    "deepmad.solvers.space",
    "deepmad.solvers.fasteval",
    "deepmad.solvers.problem",
    "deepmad.solvers.templates",
    "deepmad.solvers.exact",
    "deepmad.solvers.evolution",
    "deepmad.solvers.diagnose",
    "deepmad.solvers.base",
    "deepmad.cli.design",
]


def test_design_core_does_not_import_torch() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {TORCH_FREE_MODULES!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "print(len(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"torch imported by the design core: {proc.stdout}{proc.stderr}"
