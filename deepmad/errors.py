"""Exception types shared by the whole package.

Every error a user can cause by bad input is a :class:`DeepmadError`; the CLI prints its
message as one line and exits non-zero, without a traceback.
"""

from __future__ import annotations

__all__ = ["DeepmadError", "SpecError", "InfeasibleError"]


class DeepmadError(ValueError):
    """A user-facing error whose message is one line naming the bad value and what is allowed."""


class SpecError(DeepmadError):
    """An architecture spec (or a file holding one) is invalid."""


class InfeasibleError(DeepmadError):
    """No design meets the budgets; the message says which constraint and by how much."""
