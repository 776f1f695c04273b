"""Import / export of TinyNAS structure files (``configs/classification/models/*.txt``).

A TinyNAS structure is a Python literal: a list of block dicts with the keys ``class``, ``in``,
``out``, ``s``, ``k`` and, for super blocks, ``L`` and ``btn`` -- optionally wrapped as
``{'best_structures': [[...]], 'space_arch': 'CnnNet'}``. It is parsed with
:func:`ast.literal_eval` (never ``eval``). The file holds no input resolution, so it is a
parameter of :func:`spec_from_tinynas`.
"""

from __future__ import annotations

import ast
import os
import pprint
from pathlib import Path
from typing import Any

from deepmad.errors import SpecError
from deepmad.spec.blocks import BLOCK_KINDS, ConvBNAct, StageSpec
from deepmad.spec.network import NetworkSpec
from deepmad.utils.io import atomic_write_text

__all__ = ["parse_tinynas_text", "spec_from_tinynas", "spec_to_tinynas", "load_tinynas", "save_tinynas"]

_CONV = "ConvKXBNRELU"
_SUPER = {k.tinynas_class: k.name for k in BLOCK_KINDS.values() if k.tinynas_class}
_CONV_KEYS = {"class", "in", "out", "s", "k", "g", "p"}
_SUPER_KEYS = _CONV_KEYS | {"L", "btn", "inner_class"}


def parse_tinynas_text(text: str) -> list[dict[str, Any]]:
    """Parse TinyNAS structure text into its list of block dicts (safely, no ``eval``)."""
    try:
        data = ast.literal_eval(text.strip())
    except SyntaxError as exc:
        raise SpecError(f"not a TinyNAS structure literal (syntax error at line {exc.lineno}: "
                        f"{exc.msg})") from None
    except ValueError:
        raise SpecError(f"not a TinyNAS structure literal: {_first_non_literal(text.strip())}") from None
    if isinstance(data, dict) and "best_structures" in data:
        data = data["best_structures"]
        if isinstance(data, list) and len(data) == 1 and isinstance(data[0], list):
            data = data[0]
    if not isinstance(data, list) or not data or not all(isinstance(b, dict) for b in data):
        raise SpecError("a TinyNAS structure must be a non-empty list of block dicts")
    return data


def _first_non_literal(text: str) -> str:
    """Where ``text`` leaves Python literals (the reason ``ast.literal_eval`` refused it)."""
    allowed = (ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.UnaryOp,
               ast.USub, ast.UAdd, ast.Load)
    for node in ast.walk(ast.parse(text, mode="eval")):
        if not isinstance(node, allowed):
            seg = ast.get_source_segment(text, node) or type(node).__name__
            hint = " (JSON true/false/null? a JSON spec must end in .json)" if seg in ("true", "false", "null") else ""
            return f"{seg[:40]!r} at line {node.lineno} is not a Python literal{hint}"
    return "only lists, dicts, numbers and strings are allowed"


def _check_block(i: int, b: dict[str, Any]) -> None:
    cls = b.get("class")
    if cls != _CONV and cls not in _SUPER:
        raise SpecError(
            f"block {i}: class {cls!r} is not supported; allowed: {_CONV}, {', '.join(sorted(_SUPER))}"
        )
    keys = _CONV_KEYS if cls == _CONV else _SUPER_KEYS
    unknown = sorted(set(b) - keys)
    if unknown:
        raise SpecError(f"block {i} ({cls}): unsupported key(s) {unknown}; allowed: {sorted(keys)}")
    for key in ("in", "out", "k") + (("L", "btn") if cls != _CONV else ()):
        if key not in b:
            raise SpecError(f"block {i} ({cls}): missing key {key!r}")
    if b.get("g", 1) != 1:
        raise SpecError(f"block {i} ({cls}): g={b['g']!r} is not supported; allowed: 1")
    if "p" in b and b["p"] != (b["k"] - 1) // 2:
        raise SpecError(f"block {i} ({cls}): p={b['p']!r} is not supported; allowed: (k-1)//2")


def spec_from_tinynas(blocks: list[dict[str, Any]], resolution: int = 224,
                      num_classes: int = 1000, name: str = "") -> NetworkSpec:
    """Convert a TinyNAS block list into a :class:`NetworkSpec` (TinyNAS shortcut rules)."""
    from deepmad.spec.network import HeadSpec

    for i, b in enumerate(blocks):
        _check_block(i, b)
    if blocks[0]["class"] != _CONV:
        raise SpecError(f"block 0: the first block must be {_CONV} (the stem), got {blocks[0]['class']!r}")
    for i in range(1, len(blocks)):
        if blocks[i]["in"] != blocks[i - 1]["out"]:
            raise SpecError(
                f"block {i}: in={blocks[i]['in']} does not match the previous block's out={blocks[i - 1]['out']}"
            )
    body = blocks[1:]
    final = None
    if body and body[-1]["class"] == _CONV:
        final = body.pop()
    for i, b in enumerate(body, start=1):
        if b["class"] == _CONV:
            raise SpecError(f"block {i}: {_CONV} is only supported as the stem or the last block")

    def conv(b: dict[str, Any]) -> ConvBNAct:
        return ConvBNAct(out_channels=b["out"], kernel_size=b["k"], stride=b.get("s", 1))

    def stage(i: int, b: dict[str, Any]) -> StageSpec:
        try:
            return StageSpec(block=_SUPER[b["class"]], out_channels=b["out"], bottleneck_channels=b["btn"],
                             depth=b["L"], stride=b.get("s", 1), kernel_size=b["k"])
        except SpecError as exc:
            raise SpecError(f"block {i} ({b['class']}): {exc}") from None

    return NetworkSpec(
        stem=conv(blocks[0]),
        stages=tuple(stage(i, b) for i, b in enumerate(body, start=1)),
        final_conv=None if final is None else conv(final),
        head=HeadSpec(num_classes=num_classes),
        resolution=resolution,
        in_channels=blocks[0]["in"],
        name=name,
    )


def spec_to_tinynas(spec: NetworkSpec) -> list[dict[str, Any]]:
    """Convert ``spec`` to a TinyNAS block list; raises if it uses features TinyNAS lacks."""
    def conv(c: Any, cin: int, where: str) -> dict[str, Any]:
        if not isinstance(c, ConvBNAct) or c.groups != 1 or c.act != "relu" or c.conv != "plain":
            raise SpecError(f"{where} cannot be written as TinyNAS {_CONV} (needs a plain ReLU ConvBNAct, groups 1)")
        return {"class": _CONV, "in": cin, "out": c.out_channels, "s": c.stride, "k": c.kernel_size}

    out = [conv(spec.stem, spec.in_channels, "stem")]
    for i, st in enumerate(spec.stages):
        tn = st.kind.tinynas_class
        if tn is None or st.shortcut != "tinynas" or st.act is not None or st.conv != "plain":
            raise SpecError(f"stages[{i}] ({st.block}, shortcut {st.shortcut}) has no TinyNAS equivalent")
        out.append({"L": st.depth, "btn": st.bottleneck_channels, "class": tn,
                    "in": spec.stage_in_channels(i), "inner_class": tn.replace("Super", "", 1),
                    "k": st.kernel_size, "out": st.out_channels, "s": st.stride})
    if spec.final_conv is not None:
        out.append(conv(spec.final_conv, spec.stage_in_channels(len(spec.stages)), "final_conv"))
    return out


def load_tinynas(path: str | os.PathLike[str], resolution: int = 224, num_classes: int = 1000) -> NetworkSpec:
    """Read a TinyNAS structure file into a spec."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file (expected a TinyNAS structure)") from None
    if text.lstrip().startswith("{") and '"schema_version"' in text:
        raise SpecError(f"{path} holds a deepmad JSON spec, not a TinyNAS structure; name it .json")
    try:
        return spec_from_tinynas(parse_tinynas_text(text), resolution=resolution,
                                 num_classes=num_classes, name=p.stem)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def save_tinynas(spec: NetworkSpec, path: str | os.PathLike[str]) -> Path:
    """Atomically write ``spec`` in TinyNAS's ``best_structures`` format."""
    body = pprint.pformat(spec_to_tinynas(spec), width=120, sort_dicts=True)
    text = "{'best_structures': [\n" + body + "\n],\n'space_arch': 'CnnNet'}\n"
    return atomic_write_text(path, text)
