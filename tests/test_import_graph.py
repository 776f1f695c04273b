"""Import layering: the design core never imports torch, builders never import costs or scores,
and the solvers import without the optional pyscipopt (STYLE guideline 2, docs/design.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deepmad"

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
    "deepmad.solvers.terms",
    "deepmad.solvers._bound",
    "deepmad.solvers._dp",
    "deepmad.solvers._depthleaf",
    "deepmad.solvers._milpmodel",
    "deepmad.solvers.scip",
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


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, in any form (``import a.b``, ``from a import b``, relative
    imports resolved against the file's package, ``importlib.import_module("a.b")`` literals)."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in
              ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)):
            out.add(str(node.args[0].value))
    return out


BUILDER_FILES = sorted(p for sub in ("models", "layers") for p in (PACKAGE / sub).rglob("*.py"))
FORBIDDEN_FOR_BUILDERS = ("deepmad.cost", "deepmad.scores", "deepmad.solvers")


@pytest.mark.parametrize("path", BUILDER_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_builders_never_import_cost_or_score_code(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path)
                 if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_FOR_BUILDERS))
    assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}: builders take widths from deepmad.spec"


def test_import_scan_sees_every_import_form(tmp_path: Path) -> None:
    """The scanner itself: each import form of a cost module is found (so the test above can fail)."""
    pkg = PACKAGE / "models"
    forms = ["import deepmad.cost.counts", "from deepmad.cost import counts", "from ..cost.ic import x",
             "from deepmad import cost", "    from deepmad.scores.entropy import score_spec",
             "importlib.import_module('deepmad.cost.ic')"]
    for i, form in enumerate(forms):
        f = pkg / f"_scan_probe_{i}.py"
        try:
            f.write_text(("def f():\n" + form + "\n") if form.startswith(" ") else form + "\n")
            found = imported_modules(f)
            assert any(m.startswith(("deepmad.cost", "deepmad.scores")) for m in found), (form, found)
        finally:
            f.unlink()


def test_solvers_import_without_pyscipopt_and_scip_says_how_to_install() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pyscipopt' or name.startswith('pyscipopt.'):\n"
        "            raise ImportError('No module named pyscipopt')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import deepmad.solvers as s\n"
        "from deepmad.errors import DeepmadError\n"
        "try:\n"
        "    s.design(like='deepmad_r18', solver='scip', time_limit=1)\n"
        "except DeepmadError as e:\n"
        "    print(str(e)); sys.exit(0)\n"
        "sys.exit(1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pip install 'deepmad[scip]'" in proc.stdout and len(proc.stdout.strip().splitlines()) == 1


LIBRARY_FILES = sorted(p for p in PACKAGE.rglob("*.py")
                       if p.parts[len(PACKAGE.parts)] != "cli" and p.name != "__main__.py")


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_modules_never_import_the_cli(path: Path) -> None:
    """The CLI depends on the library, never the reverse; only ``__main__`` entry points may."""
    bad = sorted(m for m in imported_modules(path) if m == "deepmad.cli" or m.startswith("deepmad.cli."))
    assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_no_module_imports_a_main_entry_point() -> None:
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if any(m.endswith(".__main__") for m in imported_modules(p)))
    assert not users, f"entry points imported by {users}"


def test_python_m_train_usage_errors_are_one_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "deepmad.train", "--epochs", "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
