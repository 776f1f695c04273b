"""Resolve what a user typed (preset name, spec JSON, TinyNAS text, or a spec) into a spec."""

from __future__ import annotations

import os
from pathlib import Path

from deepmad.errors import SpecError
from deepmad.spec.network import NetworkSpec
from deepmad.spec.presets import PRESETS, get_preset
from deepmad.spec.serialize import load_spec_json
from deepmad.spec.tinynas_io import load_tinynas

__all__ = ["load_spec"]


def load_spec(source: str | os.PathLike[str] | NetworkSpec, resolution: int | None = None) -> NetworkSpec:
    """Return the spec named by ``source``.

    Args:
        source: a :class:`NetworkSpec`, a preset name, a ``.json`` spec (or design result) file,
            or a ``.txt`` TinyNAS structure file.
        resolution: if given, overrides the spec's input resolution.
    """
    if isinstance(source, NetworkSpec):
        spec = source
    else:
        text = os.fspath(source)
        path = Path(text)
        if text in PRESETS:
            spec = get_preset(text)
        elif path.suffix == ".json":
            if not path.is_file():
                raise SpecError(f"spec file {text!r} does not exist")
            spec = load_spec_json(path)
        elif path.suffix == ".txt":
            if not path.is_file():
                raise SpecError(f"TinyNAS file {text!r} does not exist")
            spec = load_tinynas(path)
        else:
            raise SpecError(
                f"{text!r} is neither a preset nor a .json/.txt file; presets: {', '.join(sorted(PRESETS))}"
            )
    if resolution is not None:
        if resolution <= 0:
            raise SpecError(f"resolution={resolution} is invalid; expected a positive integer")
        spec = spec.replace(resolution=resolution)
    return spec
