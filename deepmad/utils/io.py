"""Atomic file writes: a reader never sees a half-written file, and a crash leaves the old one.

Each write goes to a temporary file in the same directory, is flushed and fsync'ed, then
renamed over the target with :func:`os.replace` (atomic on POSIX), and the directory is
fsync'ed so the rename itself survives a power cut. The file gets the mode a plain ``open()``
would give it (``0o666 & ~umask`` for a new file, the old mode when replacing one), not
``mkstemp``'s private 0600.

Output-directory policy (every writer of the package): a missing parent directory is created.
:func:`check_output` checks, before any long work, that the path can be written (not a
directory, its nearest existing ancestor a writable directory, the right suffix).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from deepmad.errors import DeepmadError

__all__ = ["why_unwritable", "atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "check_output"]


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_mode(dest: Path) -> int:
    try:
        return stat.S_IMODE(dest.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def why_unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be written as a file (None when it can, creating missing parents)."""
    if path.is_dir():
        return "it is a directory"
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink() or parent == parent.parent:  # dangling link or missing root
            return f"its directory {parent} cannot be created"
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"directory {parent} is not writable"
    return None


def check_output(path: str | os.PathLike[str], flag: str = "",
                 suffixes: Sequence[str] = ()) -> Path:
    """Refuse, before any work, an output path that cannot be written.

    Args:
        path: The file a command will write; missing parent directories are allowed (they are
            created on write).
        flag: How the caller names the path in the message (``"--output"``; empty: not named).
        suffixes: Allowed extensions (e.g. ``(".json",)``); empty allows any.

    Returns:
        ``path`` as a :class:`Path`.
    """
    text = os.fspath(path)
    named = f"{flag} " if flag else ""
    if not text:
        raise DeepmadError(f"{named or 'the output path '}is empty; expected a file path")
    p = Path(text)
    if suffixes and p.suffix.lower() not in suffixes:
        raise DeepmadError(f"{named}{text!r} must end in {' or '.join(suffixes)} "
                           f"(got {p.suffix or 'no extension'})")
    why = why_unwritable(p)
    if why:
        raise DeepmadError(f"cannot write {named}{text}: {why}")
    return p


def _clean_os_error(dest: Path, exc: OSError) -> OSError:
    why = why_unwritable(dest) or exc.strerror or type(exc).__name__
    err = OSError(f"cannot write {dest}: {why}")
    err.errno = exc.errno
    return err


def _interrupted(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__context__
    return False


def atomic_write(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], None]) -> Path:
    """Call ``writer(fileobj)`` on a temp file next to ``path``, then atomically rename it.

    A ``KeyboardInterrupt`` during the write (also one that the writer turned into another
    error, as ``torch.save`` does) removes the temp file and is re-raised as a plain
    ``KeyboardInterrupt``; an ``OSError`` is re-raised naming ``path``, never the temp file.

    Args:
        path: Destination file; its parent directory is created if missing.
        writer: Writes the full content to the binary file object it is given.

    Returns:
        The destination path.
    """
    dest = Path(path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        mode = _new_mode(dest)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise _clean_os_error(dest, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if _interrupted(exc):
            raise KeyboardInterrupt from None
        if isinstance(exc, OSError):
            raise _clean_os_error(dest, exc) from None
        raise
    dir_fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return dest


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write ``data`` to ``path``."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> Path:
    """Atomically write ``obj`` as JSON (sorted keys are not forced, order is kept)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")
