"""Entry point of the ``deepmad`` command.

Subcommands live in small modules (``deepmad.cli.<area>``), each exporting ``COMMANDS``, a
list of :class:`deepmad.cli.base.Command` subclasses. This module collects them into one
argparse parser. User errors print a single ``deepmad: error: ...`` line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from deepmad.cli.base import Command

__all__ = ["main", "build_parser"]

# One module per product area; each defines COMMANDS = [CommandClass, ...].
COMMAND_MODULES: tuple[str, ...] = (
    "deepmad.cli.core",
    "deepmad.cli.train",
    "deepmad.cli.enlarge",
    "deepmad.cli.mathnas",
    "deepmad.cli.design",
    "deepmad.cli.export",
    "deepmad.cli.run",
)


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
    parser = argparse.ArgumentParser(
        prog="deepmad",
        description="Design CNNs mathematically (DeepMAD, MathNAS, greedy enlarging) and train them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = _commands()
    for name, cmd in commands.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 on success)."""
    parser, commands = build_parser()
    args = parser.parse_args(argv)
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
        print(f"deepmad {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
