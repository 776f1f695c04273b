"""Our own CNN block spaces as MathNAS spaces: a base network plus per-stage options (no torch).

MathNAS (arXiv 2311.04943) defines a block as one whole stage on MobileNetV3; this module does
the same for any deepmad :class:`~deepmad.spec.NetworkSpec`: a *node* is a stage, an *option*
a set of :class:`~deepmad.spec.StageSpec` fields to replace (kernel size, bottleneck width,
depth, block kind, ...). The switched network of an architecture is the base with every node's
option applied, built by :func:`deepmad.models.build_model` when profiling latency.

JSON format (``format: deepmad.mathnas.cnn_space``, ``version: 1``)::

    {"format": "deepmad.mathnas.cnn_space", "version": 1, "name": "demo",
     "base": "resnet18" | {NetworkSpec dict}, "resolution": 160,
     "nodes": [{"stage": 0, "name": "stage1",
                "options": [{"kernel_size": 3}, {"name": "k5-d3", "kernel_size": 5, "depth": 3}]}]}

Per-block FLOPs b^F are the stage's FLOPs (2 x MACs, :func:`deepmad.cost.count_network`) with
the option applied to the base; they are exact when options keep the stage's ``out_channels``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.mathnas.space import Arch, Space
from deepmad.spec import NetworkSpec, StageSpec, load_spec, spec_from_dict

__all__ = ["CNN_SPACE_FORMAT", "CnnNode", "CnnSpace", "load_cnn_space"]

CNN_SPACE_FORMAT = "deepmad.mathnas.cnn_space"
_STAGE_FIELDS = {f.name for f in dataclasses.fields(StageSpec) if f.init}
_DEMO = Path(__file__).resolve().parent.parent / "data" / "mathnas" / "cnn_space_demo.json"


@dataclass(frozen=True)
class CnnNode:
    """One node: a stage of the base network and its alternative settings."""

    stage: int  # index into base.stages
    name: str  # node name, e.g. "stage1"
    options: tuple[Mapping[str, Any], ...]  # StageSpec field overrides per option
    option_names: tuple[str, ...]  # display names per option


@dataclass(frozen=True)
class CnnSpace:
    """A base spec and its nodes; :meth:`spec_for` builds the switched network of an arch."""

    name: str
    base: NetworkSpec
    nodes: tuple[CnnNode, ...]

    def __post_init__(self) -> None:
        for node in self.nodes:
            if not 0 <= node.stage < len(self.base.stages):
                raise DeepmadError(f"node {node.name!r}: stage={node.stage} is out of range 0..{len(self.base.stages) - 1}")
            for opt in node.options:
                self._apply(self.base, node, opt)  # validates every option once

    @staticmethod
    def _apply(spec: NetworkSpec, node: CnnNode, option: Mapping[str, Any]) -> NetworkSpec:
        try:
            return spec.with_stage(node.stage, **option)
        except (TypeError, ValueError) as exc:
            raise DeepmadError(f"node {node.name!r} option {dict(option)}: {str(exc).splitlines()[0]}") from None

    def spec_for(self, arch: Arch) -> NetworkSpec:
        """The base with node i's option ``arch[i]`` applied, for every node in order."""
        spec = self.base
        for node, j in zip(self.nodes, self.space.check_arch(arch)):
            spec = self._apply(spec, node, node.options[j])
        return spec.replace(name=f"{self.name}:{'-'.join(str(j) for j in arch)}")

    @cached_property
    def space(self) -> Space:
        """The MathNAS :class:`Space`, with per-stage FLOPs (2 x MACs, torch convention)."""
        return _space_with_flops(self)


def _stage_flops(spec: NetworkSpec, stage: int) -> float:
    """FLOPs (2 x MACs) of body stage ``stage`` (the report names it ``stage{stage + 1}``)."""
    costs = {s.name: s.macs for s in count_network(spec).stages}
    return 2.0 * costs[f"stage{stage + 1}"]


def _space_with_flops(space: CnnSpace) -> Space:
    flops = []
    for node in space.nodes:
        flops.append(tuple(_stage_flops(CnnSpace._apply(space.base, node, opt), node.stage) for opt in node.options))
    stages = {n.stage for n in space.nodes}
    fixed = 2.0 * count_network(space.base).macs - sum(_stage_flops(space.base, i) for i in stages)
    return Space(space.name, tuple(n.name for n in space.nodes), tuple(n.option_names for n in space.nodes),
                 flops=tuple(flops), flops_base=fixed)


def _option_name(option: Mapping[str, Any]) -> str:
    short = {"kernel_size": "k", "bottleneck_channels": "b", "depth": "d", "out_channels": "c", "block": ""}
    return "-".join(f"{short.get(k, k + '=')}{v}" for k, v in option.items()) or "base"


def _node_from_dict(data: Mapping[str, Any], index: int) -> CnnNode:
    extra = set(data) - {"stage", "name", "options"}
    if extra or "options" not in data or "stage" not in data:
        raise DeepmadError(f"nodes[{index}] needs 'stage' and 'options' (and optional 'name'); got keys {sorted(data)}")
    options, names = [], []
    for j, opt in enumerate(data["options"]):
        bad = set(opt) - _STAGE_FIELDS - {"name"}
        if bad:
            raise DeepmadError(f"nodes[{index}].options[{j}] has unknown keys {sorted(bad)}; allowed: {sorted(_STAGE_FIELDS)} and name")
        fields = {k: v for k, v in opt.items() if k != "name"}
        options.append(fields)
        names.append(str(opt.get("name", _option_name(fields))))
    return CnnNode(int(data["stage"]), str(data.get("name", f"stage{int(data['stage']) + 1}")), tuple(options), tuple(names))


def load_cnn_space(source: str | os.PathLike[str] | Mapping[str, Any]) -> CnnSpace:
    """Load a CNN space from a JSON path, a dict, or ``"demo"`` (the shipped example)."""
    if isinstance(source, Mapping):
        return _space_from_dict(dict(source))
    path = _DEMO if os.fspath(source) == "demo" else Path(source)
    if not path.is_file():
        raise DeepmadError(f"space file {os.fspath(source)!r} does not exist (or use 'demo')")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = f"{exc.msg}: line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "binary"
        raise DeepmadError(f"space file {os.fspath(source)}: not valid JSON ({why})") from None
    try:
        return _space_from_dict(data)
    except DeepmadError as exc:
        raise DeepmadError(f"space file {os.fspath(source)}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DeepmadError(f"space file {os.fspath(source)}: malformed CNN space ({type(exc).__name__}: "
                           f"{exc})") from None


def _space_from_dict(data: Any) -> CnnSpace:
    if not isinstance(data, dict):
        raise DeepmadError(f"a CNN space must be a JSON object, got {type(data).__name__}")
    if data.get("format") != CNN_SPACE_FORMAT or data.get("version") != 1:
        raise DeepmadError(f"not a CNN space: expected format {CNN_SPACE_FORMAT!r}, version 1")
    extra = set(data) - {"format", "version", "name", "base", "resolution", "nodes"}
    if extra:
        raise DeepmadError(f"CNN space has unknown keys {sorted(extra)}")
    base_raw = data["base"]
    base = spec_from_dict(base_raw) if isinstance(base_raw, Mapping) else load_spec(str(base_raw))
    if data.get("resolution") is not None:
        base = base.replace(resolution=int(data["resolution"]))
    nodes = tuple(_node_from_dict(n, i) for i, n in enumerate(data["nodes"]))
    return CnnSpace(str(data.get("name", "cnn")), base, nodes)
