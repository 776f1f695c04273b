"""Base class for CLI subcommands (optuna ``_BaseCommand`` style).

A subcommand is a class with a ``name``, a one-line ``help``, ``add_arguments(parser)`` and
``run(args) -> int``. Raising :class:`deepmad.errors.DeepmadError` (or any ``ValueError``/
``OSError``) from ``run`` makes the CLI print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod

__all__ = ["Command", "parse_count"]

_SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


class Command(ABC):
    """One ``deepmad`` subcommand."""

    name: str = ""
    help: str = ""

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare this subcommand's flags on ``parser``."""

    @abstractmethod
    def run(self, args: argparse.Namespace) -> int:
        """Execute the subcommand and return the process exit code."""


def parse_count(text: str) -> float:
    """Parse a count with an optional SI suffix: ``"25.5M"`` -> 25.5e6, ``"4.13G"`` -> 4.13e9.

    Used as an argparse ``type=``; raises ``argparse.ArgumentTypeError`` with the bad value.
    """
    s = text.strip()
    mult = 1.0
    if s and s[-1] in _SUFFIXES:
        mult = _SUFFIXES[s[-1]]
        s = s[:-1]
    try:
        value = float(s) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; expected e.g. 25.5M, 4.13G or 4130000000"
        ) from None
    if value != value or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a non-negative number")
    return value
