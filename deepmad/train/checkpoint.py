"""Checkpoints that survive a kill: atomic files holding everything needed to continue exactly.

A checkpoint is written with :func:`deepmad.utils.io.atomic_write` (temp file, fsync, rename),
so a reader sees the old file or the new one, never half of one. ``last.pt`` holds the model,
optimiser, LR scheduler, AMP grad scaler, EMA, the position in the run (epoch, step within the
epoch, global step: the sampler position, since the batch order is a function of
``(seed, epoch)``), the running epoch meters, the metric history and every RNG state of every
process. Resuming from it continues the same trajectory bit for bit on CPU.

Loading never falls back to a fresh start: a missing, corrupt or incompatible file raises a
one-line :class:`~deepmad.errors.DeepmadError`.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from deepmad.errors import DeepmadError
from deepmad.train.config import RESUME_EXTENDABLE_FIELDS, RESUME_MUTABLE_FIELDS, TrainConfig
from deepmad.utils.io import atomic_write

__all__ = [
    "FORMAT", "VERSION", "save_checkpoint", "load_checkpoint", "check_compatible", "load_weights",
    "check_checkpoint_path", "read_torch_file", "checked_checkpoint", "checkpoint_meta", "weights_from", "rng_state", "set_rng_state", "GracefulStop",
]

FORMAT = "deepmad-train-checkpoint"
VERSION = 1


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch CPU and current-CUDA-device generator states (tensors, plain numbers)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(gauss)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()  # this process's current device
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    random.setstate(_as_tuple(state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (a dict with at least ``model``) with ``torch.save``."""
    body = {"format": FORMAT, "version": VERSION, **payload}
    return atomic_write(path, lambda f: torch.save(body, f))


def _unreadable_reason(path: Path, exc: Exception) -> str:
    with path.open("rb") as f:
        head = f.read(4096)
    if not head:
        return "the file is empty"
    if head.startswith(b"PK\x03\x04"):
        return f"truncated or damaged torch.save archive ({path.stat().st_size:,} bytes)"
    try:
        head.decode("utf-8")
        return "it is a text file, not torch.save output"
    except UnicodeDecodeError:
        pass
    return f"not torch.save output, or a damaged one in the legacy format ({type(exc).__name__})"


def check_checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if it is an existing file; a one-line error naming it otherwise (cheap, no load)."""
    path = Path(path)
    if not path.exists():
        raise DeepmadError(f"checkpoint {path} does not exist")
    if path.is_dir():
        found = [str(path / n) for n in ("best.pt", "last.pt") if (path / n).is_file()]
        hint = f"; e.g. {', '.join(found)}" if found else ""
        raise DeepmadError(f"checkpoint {path} is a directory; expected a .pt file{hint}")
    return path


def read_torch_file(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` (weights only, on CPU) with a one-line error naming the file and the cause:
    missing, a directory, empty, truncated, a text file, or not ``torch.save`` output."""
    path = check_checkpoint_path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged zip / pickle data
        raise DeepmadError(f"checkpoint {path} is corrupt or unreadable: {_unreadable_reason(path, exc)}") from None


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; one-line error otherwise."""
    return checked_checkpoint(read_torch_file(path), path)


def checked_checkpoint(ckpt: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """``ckpt`` (what :func:`read_torch_file` returned) if it is a deepmad checkpoint of this version."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DeepmadError(f"{path} is not a deepmad training checkpoint (no format={FORMAT!r} key)")
    if ckpt.get("version") != VERSION:
        raise DeepmadError(f"checkpoint {path} has version {ckpt.get('version')!r}; this deepmad reads {VERSION}")
    return ckpt


def checkpoint_meta(obj: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The deepmad checkpoint ``obj`` (checked), or ``{}`` for a bare state-dict file."""
    return checked_checkpoint(obj, path) if isinstance(obj, dict) and obj.get("format") == FORMAT else {}


def check_compatible(ckpt: dict[str, Any], config: TrainConfig, path: str | os.PathLike[str]) -> None:
    """Raise if ``config`` differs from the checkpoint's in a field that changes the run."""
    saved = ckpt.get("config")
    if not isinstance(saved, dict):
        raise DeepmadError(f"checkpoint {path} has no training config; it cannot be resumed")
    current = config.to_dict()
    for name in sorted(current):
        if name in RESUME_MUTABLE_FIELDS | RESUME_EXTENDABLE_FIELDS or saved.get(name) == current[name]:
            continue
        raise DeepmadError(
            f"checkpoint {path} was written with {name}={saved.get(name)!r}, not {current[name]!r}; "
            f"resume with the same value or use a new run directory"
        )


def load_weights(path: str | os.PathLike[str], key: str = "model") -> dict[str, torch.Tensor]:
    """A model state dict from a deepmad checkpoint (``ckpt[key]``) or from a bare state-dict file.

    ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) prefixes are removed.
    """
    return weights_from(read_torch_file(path), path, key)


def weights_from(obj: Any, path: str | os.PathLike[str], key: str = "model") -> dict[str, torch.Tensor]:
    """:func:`load_weights` on an already loaded file ``obj``."""
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        state = obj.get(key)
        if key == "ema" and state is None:
            if "ema" not in obj:  # best.pt: one set of weights, recorded with its source
                raise DeepmadError(f"{path} holds one set of weights (source: {obj.get('source', 'model')}), "
                                   f"no separate EMA weights; evaluate its 'model' weights")
            decay = (obj.get("config") or {}).get("ema_decay")
            raise DeepmadError(f"{path} has no EMA weights: the run was trained without EMA "
                               f"(ema_decay={decay!r}); evaluate its 'model' weights")
    elif isinstance(obj, dict) and key == "model":
        state = obj.get("model", obj.get("state_dict", obj))
    else:
        state = None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DeepmadError(f"{path} holds no {key!r} state dict (neither a deepmad checkpoint nor a state dict)")
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            k = k.removeprefix(prefix)
        out[k] = v
    return out


class GracefulStop:
    """Context manager turning SIGTERM / SIGINT into a flag the loop polls between steps.

    The loop then writes a checkpoint and returns. A second signal raises ``KeyboardInterrupt``
    at once. Handlers are only installed from the main thread and are restored on exit.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """True once a signal has arrived."""
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
