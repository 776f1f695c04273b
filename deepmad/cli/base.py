"""Base class for CLI subcommands (optuna ``_BaseCommand`` style).

A subcommand is a class with a ``name``, a one-line ``help``, ``add_arguments(parser)`` and
``run(args) -> int``. Raising :class:`deepmad.errors.DeepmadError` (or any ``ValueError``/
``OSError``) from ``run`` makes the CLI print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import math
from abc import ABC, abstractmethod
from collections.abc import Callable

from deepmad.errors import DeepmadError
from deepmad.utils.io import check_output

__all__ = ["Command", "parse_count", "number", "output_file"]

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
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite non-negative number")
    return value


def number(kind: type = float, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type=`` for a finite number in a range, e.g. ``number(float, low=0, high=1,
    high_open=True)`` accepts ``0 <= x < 1``; the error names the value and the range."""
    lo = "" if low is None else (f"> {low:g}" if low_open else f">= {low:g}")
    hi = "" if high is None else (f"< {high:g}" if high_open else f"<= {high:g}")
    allowed = " and ".join(p for p in (lo, hi) if p) or "finite"
    what = "an integer" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}; expected {what} {allowed}") from None
        bad = not math.isfinite(value)
        bad = bad or (low is not None and (value <= low if low_open else value < low))
        bad = bad or (high is not None and (value >= high if high_open else value > high))
        if bad:
            raise argparse.ArgumentTypeError(f"{text} is out of range; expected {what} {allowed}")
        return value

    parse.__name__ = kind.__name__
    return parse


def output_file(*suffixes: str) -> Callable[[str], str]:
    """An argparse ``type=`` for a file the command will write, checked before any work.

    The file must not be a directory, its nearest existing parent must be a writable
    directory (missing parents are created when writing), and it must end in one of
    ``suffixes`` (any when none). See :func:`deepmad.utils.io.check_output`.
    """
    def parse(text: str) -> str:
        try:
            check_output(text, "", suffixes)
        except DeepmadError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    parse.__name__ = "output_file"
    return parse
