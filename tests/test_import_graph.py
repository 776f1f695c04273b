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
    "deepmad.utils.io",
    "deepmad.errors",
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
