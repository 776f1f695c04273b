"""JSON round-trip of :class:`NetworkSpec` with a schema version; unknown keys are rejected."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from deepmad.errors import SpecError
from deepmad.spec.blocks import ConvBNAct, ResNetStem, StageSpec
from deepmad.spec.network import HeadSpec, NetworkSpec
from deepmad.utils.io import atomic_write_json

__all__ = ["SCHEMA_VERSION", "spec_to_dict", "spec_from_dict", "load_spec_json", "save_spec_json"]

SCHEMA_VERSION = 1
_STEMS = {ConvBNAct.type: ConvBNAct, ResNetStem.type: ResNetStem}


def _fields_to_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}


def _build(cls: type, data: Any, where: str, skip: tuple[str, ...] = ()) -> Any:
    if not isinstance(data, dict):
        raise SpecError(f"{where} must be a JSON object, got {type(data).__name__}")
    allowed = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - allowed - set(skip))
    if unknown:
        raise SpecError(f"{where} has unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    kwargs = {k: v for k, v in data.items() if k in allowed}
    try:
        return cls(**kwargs)
    except (TypeError, SpecError) as exc:
        raise SpecError(f"{where}: {exc}") from None


def _conv_to_dict(conv: ConvBNAct | ResNetStem) -> dict[str, Any]:
    return {"type": conv.type, **_fields_to_dict(conv)}


def _conv_from_dict(data: Any, where: str) -> ConvBNAct | ResNetStem:
    if not isinstance(data, dict) or data.get("type") not in _STEMS:
        got = data.get("type") if isinstance(data, dict) else data
        raise SpecError(f"{where}.type={got!r} is invalid; allowed: {', '.join(_STEMS)}")
    return _build(_STEMS[data["type"]], data, where, skip=("type",))


def spec_to_dict(spec: NetworkSpec) -> dict[str, Any]:
    """Plain JSON-able dict of ``spec``, tagged with ``schema_version``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "name": spec.name,
        "resolution": spec.resolution,
        "in_channels": spec.in_channels,
        "stem": _conv_to_dict(spec.stem),
        "stages": [_fields_to_dict(s) for s in spec.stages],
        "final_conv": None if spec.final_conv is None else _conv_to_dict(spec.final_conv),
        "head": _fields_to_dict(spec.head),
    }


def spec_from_dict(data: Any) -> NetworkSpec:
    """Inverse of :func:`spec_to_dict`; raises :class:`SpecError` on any unknown or bad key."""
    if not isinstance(data, dict):
        raise SpecError(f"a network spec must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if "schema_version" not in data:
        raise SpecError(f"not a deepmad network spec: no 'schema_version' key (expected {SCHEMA_VERSION}, "
                        f"with 'stem' and 'stages'); got keys {sorted(data)}")
    if version != SCHEMA_VERSION:
        raise SpecError(f"spec schema_version={version!r} is not supported; expected {SCHEMA_VERSION}")
    allowed = {"schema_version", "name", "resolution", "in_channels", "stem", "stages", "final_conv", "head"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecError(f"spec has unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    if "stem" not in data or "stages" not in data:
        raise SpecError("spec must have 'stem' and 'stages'")
    stages_raw = data["stages"]
    if not isinstance(stages_raw, list):
        raise SpecError("spec 'stages' must be a list of stage objects")
    final = data.get("final_conv")
    stages = tuple(_build(StageSpec, s, f"stages[{i}]") for i, s in enumerate(stages_raw))
    try:
        return _network(data, stages, final)
    except TypeError as exc:
        raise SpecError(f"spec: {exc}") from None


def _network(data: dict[str, Any], stages: tuple[StageSpec, ...], final: Any) -> NetworkSpec:
    return NetworkSpec(
        stem=_conv_from_dict(data["stem"], "stem"),
        stages=stages,
        final_conv=None if final is None else _conv_from_dict(final, "final_conv"),
        head=_build(HeadSpec, data.get("head", {}), "head"),
        resolution=data.get("resolution", 224),
        in_channels=data.get("in_channels", 3),
        name=data.get("name", ""),
    )


def load_spec_json(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read a spec JSON file (a bare spec, or any object with a ``spec`` key, e.g. a design result)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file (expected a JSON spec)") from None
    except json.JSONDecodeError as exc:
        what = "truncated: it ends" if exc.pos >= len(exc.doc.rstrip()) else f"{exc.msg}:"
        raise SpecError(f"{path}: not valid JSON ({what} at line {exc.lineno} column {exc.colno})") from None
    if isinstance(data, dict) and "spec" in data and "schema_version" not in data:
        data = data["spec"]
    try:
        return spec_from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def save_spec_json(spec: NetworkSpec, path: str | os.PathLike[str]) -> Path:
    """Atomically write ``spec`` as JSON."""
    return atomic_write_json(path, spec_to_dict(spec))
