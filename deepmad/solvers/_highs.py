"""``scipy.optimize.milp`` (HiGHS) with HiGHS's own prints kept off the user's stdout.

scipy's bundled HiGHS writes debug lines straight to file descriptor 1, bypassing Python (seen
on ``deepmad design --like deepmad_50m``: dozens of
``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();``), which would
corrupt ``design --json`` and the summary. :func:`quiet_milp` points descriptor 1 at the null
device for the call, flushes the C library's stdout buffer into it (HiGHS uses ``printf``: with
stdout a pipe or file the text would otherwise sit in that buffer and come out later), and
restores descriptor 1 (the solvers call HiGHS from one thread).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from typing import Any

from scipy.optimize import milp

__all__ = ["quiet_milp"]


def quiet_milp(*args: Any, **kwargs: Any) -> Any:
    """``scipy.optimize.milp(*args, **kwargs)`` with descriptor 1 silenced during the call."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no descriptor 1 to protect
        return milp(*args, **kwargs)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        return milp(*args, **kwargs)
    finally:
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)


@functools.cache
def _libc() -> Any:
    """This process's C library (None where ctypes cannot open it)."""
    try:
        return ctypes.CDLL(None)
    except (OSError, TypeError):
        return None


def _flush_c_stdio() -> None:
    """``fflush(NULL)``: write out every C stdio buffer (where the platform exposes libc)."""
    fflush = getattr(_libc(), "fflush", None)
    if fflush is not None:
        fflush(None)
