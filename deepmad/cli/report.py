"""``deepmad show``: a spec's per-stage table and, with ``--plot``, its design report picture.

Extends the table of :class:`deepmad.cli.core.Show` with ``--plot FILE.png`` (structure, shares of
MACs / params / activations per stage, and the constraint slacks when the file is a design
result) and ``--compare PRESET`` (a reference drawn next to it, same axes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deepmad.cli import core
from deepmad.cost import CONVENTIONS
from deepmad.errors import DeepmadError
from deepmad.solvers.problem import ConstraintValue
from deepmad.spec import load_spec
from deepmad.spec.presets import DISPLAY_NAMES, PRESETS

__all__ = ["COMMANDS", "Show", "result_constraints"]


def result_constraints(source: str) -> tuple[ConstraintValue, ...]:
    """The constraint values stored in a design result JSON (none for a preset or a bare spec)."""
    if source in PRESETS or Path(source).suffix != ".json" or not Path(source).is_file():
        return ()
    try:
        data = json.loads(Path(source).read_text())
    except (OSError, json.JSONDecodeError):
        return ()  # load_spec reports the file's problem
    rows = data.get("constraints") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return ()
    try:
        return tuple(ConstraintValue(r["name"], r["sense"], float(r["value"]), float(r["limit"]),
                                     float(r["slack"])) for r in rows)
    except (KeyError, TypeError, ValueError):
        raise DeepmadError(f"{source}: constraints list is malformed; expected deepmad design output") from None


class Show(core.Show):
    """``deepmad show SPEC|PRESET [--plot FILE.png] [--compare PRESET]``."""

    help = "Print a readable per-stage table of a spec; --plot draws its design report."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--plot", metavar="FILE.png",
                            help="draw the design report: per-stage c, b, L, k; shares of MACs, params, "
                                 "activations; constraint slacks of a design result")
        parser.add_argument("--compare", metavar="PRESET", help="a reference spec drawn side by side (needs --plot)")
        parser.add_argument("--convention", choices=CONVENTIONS, default="torch",
                            help="cost convention of the shares (default torch)")

    def run(self, args: argparse.Namespace) -> int:
        if args.compare and not args.plot:
            raise DeepmadError("--compare draws a reference next to the spec; it needs --plot FILE.png")
        spec = load_spec(args.model, resolution=args.resolution)
        ref = load_spec(args.compare) if args.compare else None  # checked before drawing
        print(core.describe(spec))
        if args.plot:
            from deepmad.report import draw_design

            name = DISPLAY_NAMES.get(args.model, spec.name or Path(args.model).stem)
            path = draw_design(args.plot, spec, name=name, constraints=result_constraints(args.model),
                               compare=ref, compare_name=DISPLAY_NAMES.get(args.compare or "", args.compare or ""),
                               convention=args.convention)
            print(f"wrote {path}")
        return 0


COMMANDS = [Show]
