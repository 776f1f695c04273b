"""Ctrl-C that native code cannot lose.

Python turns SIGINT into ``KeyboardInterrupt`` between bytecodes. When that happens inside a
callback of a C extension that ignores exceptions (a solver library calling back into Python),
the exception is dropped and the search would run on to its time limit. :class:`SigintFlag`
records every SIGINT as well as raising, so a loop can check :attr:`SigintFlag.raised` and stop.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["SigintFlag"]


class SigintFlag:
    """Context manager: while active (main thread only), SIGINT sets :attr:`raised` and raises
    ``KeyboardInterrupt``; the previous handler is restored on exit."""

    def __init__(self) -> None:
        self.raised = False
        self._previous: Any = None

    def __enter__(self) -> SigintFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.raised = True
        raise KeyboardInterrupt
