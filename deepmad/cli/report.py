"""``deepmad show``: a spec's per-stage table and, with ``--plot``, its design report picture.

Prints the table of :func:`deepmad.cli.core.describe` and adds ``--plot FILE.png`` (structure, shares of
MACs / params / activations per stage, and the constraint slacks when the file is a design
result) and ``--compare PRESET`` (a reference drawn next to it, same axes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deepmad.cli import core
from deepmad.cli.base import Command, output_file
from deepmad.cost import CONVENTIONS
from deepmad.errors import DeepmadError
from deepmad.solvers.problem import ConstraintValue
from deepmad.spec import load_spec
from deepmad.spec.presets import DISPLAY_NAMES, PRESETS

__all__ = ["COMMANDS", "Show", "result_constraints", "result_title"]


def _result(source: str) -> dict:
    """The design result stored in ``source`` ({} for a preset, a bare spec or an unreadable file)."""
    if source in PRESETS or Path(source).suffix != ".json" or not Path(source).is_file():
        return {}
    try:
        data = json.loads(Path(source).read_text())
    except (OSError, json.JSONDecodeError):
        return {}  # load_spec reports the file's problem
    return data if isinstance(data, dict) and "spec" in data else {}


def result_title(source: str) -> str:
    """'objective X (solver: status, gap Y %)' of a design result JSON ('' for anything else)."""
    data = _result(source)
    obj, sol = data.get("objective"), data.get("solver")
    if not isinstance(obj, int | float) or not isinstance(sol, dict):
        return ""
    gap = sol.get("gap")
    gap_text = "no bound" if not isinstance(gap, int | float) else f"{100 * gap:.2f} %"
    return f"objective {obj:.1f} ({sol.get('name')}: {sol.get('status')}, gap {gap_text})"


def result_constraints(source: str) -> tuple[ConstraintValue, ...]:
    """The constraint values stored in a design result JSON (none for a preset or a bare spec)."""
    rows = _result(source).get("constraints")
    if not isinstance(rows, list):
        return ()
    try:
        return tuple(ConstraintValue.from_dict(r) for r in rows)
    except (KeyError, TypeError, ValueError):
        raise DeepmadError(f"{source}: constraints list is malformed; expected deepmad design output") from None


def _title(source: str, compared: bool) -> str:
    title = result_title(source)
    return f"left: {title}" if title and compared else title


def _name(source: str, spec_name: str) -> str:
    return DISPLAY_NAMES.get(source) or spec_name or Path(source).stem


class Show(Command):
    """``deepmad show SPEC|PRESET [--plot FILE.png] [--compare PRESET]``."""

    name = "show"
    help = "Print a readable per-stage table of a spec; --plot draws its design report."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        core.add_model_args(parser)
        parser.add_argument("--plot", type=output_file(".png"), metavar="FILE.png",
                            help="draw the design report: per-stage c, b, L, k; shares of MACs, params, "
                                 "activations; constraint slacks of a design result")
        parser.add_argument("--compare", metavar="PRESET", help="a reference (preset or spec file) drawn side by side (needs --plot)")
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

            path = draw_design(args.plot, spec, name=_name(args.model, spec.name),
                               constraints=result_constraints(args.model), compare=ref,
                               compare_name=_name(args.compare, ref.name) if ref is not None else "",
                               convention=args.convention, title=_title(args.model, ref is not None))
            print(f"wrote {path}")
        return 0


COMMANDS = [Show]
