"""Entry point of the ``deepmad`` command.

Subcommands live in small modules (``deepmad.cli.<area>``), each exporting ``COMMANDS``, a
list of :class:`deepmad.cli.base.Command` subclasses. This module collects them into one
argparse parser. User errors, bad flag values included, print a single ``deepmad COMMAND: error: ...`` line and
exit 2 (argparse's usage block is left to ``--help``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from deepmad import __version__
from deepmad.cli.base import Command

__all__ = ["main", "build_parser", "one_line_parser"]

# One module per product area; each defines COMMANDS = [CommandClass, ...].
COMMAND_MODULES: tuple[str, ...] = (
    "deepmad.cli.core",
    "deepmad.cli.train",
    "deepmad.cli.enlarge",
    "deepmad.cli.mathnas",
    "deepmad.cli.design",
    "deepmad.cli.report",
    "deepmad.cli.hardware",
    "deepmad.cli.export",
    "deepmad.cli.run",
)


class UsageError(Exception):
    """A command-line usage error (bad flag, bad value), reported in one line."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(f"{prog}: error: {message}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(self.prog, message)


def one_line_parser(**kwargs: object) -> argparse.ArgumentParser:
    """An argparse parser whose usage errors raise :class:`UsageError` (one line, exit 2)."""
    return _Parser(**kwargs)  # type: ignore[arg-type]


def _commands() -> dict[str, Command]:
    found: dict[str, Command] = {}
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        for cls in module.COMMANDS:
            cmd = cls()
            if cmd.name in found:
                raise RuntimeError(f"CLI command {cmd.name!r} registered twice")
            found[cmd.name] = cmd
    return found


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    """Build the top-level parser and return it with the name -> command map."""
    parser = _Parser(
        prog="deepmad",
        description="Design CNNs mathematically (DeepMAD, MathNAS, greedy enlarging) and train them.",
    )
    parser.add_argument("--version", action="version", version=f"deepmad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = _commands()
    for name, cmd in commands.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 on success)."""
    parser, commands = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{exc} (see --help)", file=sys.stderr)
        return 2
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(commands[args.command].run(args) or 0)
    except KeyboardInterrupt:
        print("deepmad: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:  # DeepmadError is a ValueError
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        action = getattr(args, "mathnas_action", None)
        print(f"deepmad {args.command}{' ' + action if action else ''}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
