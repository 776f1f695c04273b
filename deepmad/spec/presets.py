"""Published networks as a table of literal specs, and the preset registry.

DeepMAD presets are transcribed from the reference's ``configs/classification/models/*.txt``
(DeepMAD, Shen et al., CVPR 2023, arXiv 2303.02165); the ResNets are built exactly like
``torchvision.models.resnet{18,34,50}`` (He et al., 2016). ``ic_resnet18/50`` put the project's
IC-style conv (see :mod:`deepmad.cost.ic`; An et al., arXiv 2102.03495, formula not available)
in place of every kxk conv of the blocks.
"""

from __future__ import annotations

import dataclasses
import fnmatch

from deepmad.errors import SpecError
from deepmad.spec.blocks import ConvBNAct, ResNetStem, StageSpec
from deepmad.spec.network import NetworkSpec

__all__ = ["PRESETS", "DISPLAY_NAMES", "register_preset", "list_presets", "get_preset"]

PRESETS: dict[str, NetworkSpec] = {}
DISPLAY_NAMES: dict[str, str] = {}


def register_preset(name: str, spec: NetworkSpec, display_name: str = "") -> NetworkSpec:
    """Register ``spec`` under ``name`` (snake_case); registering a name twice is an error."""
    if name in PRESETS:
        raise ValueError(f"preset {name!r} is already registered")
    PRESETS[name] = spec.replace(name=name)
    DISPLAY_NAMES[name] = display_name or name
    return PRESETS[name]


def list_presets(pattern: str = "*") -> list[str]:
    """Sorted preset names matching the shell-style ``pattern`` (e.g. ``"deepmad_*"``)."""
    return sorted(n for n in PRESETS if fnmatch.fnmatch(n, pattern))


def get_preset(name: str) -> NetworkSpec:
    """The preset spec called ``name``; the error lists the allowed names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise SpecError(f"unknown preset {name!r}; allowed: {', '.join(list_presets())}") from None


def _deepmad(stem: int, rows: list[tuple[int, int, int, int, int]], block: str,
             final: int | None = None, resolution: int = 224) -> NetworkSpec:
    """rows: (out, stride, kernel, depth L, bottleneck) per super block, as in TinyNAS files."""
    return NetworkSpec(
        stem=ConvBNAct(out_channels=stem, kernel_size=3, stride=2),
        stages=tuple(
            StageSpec(block=block, out_channels=c, stride=s, kernel_size=k, depth=d,
                      bottleneck_channels=b)
            for c, s, k, d, b in rows
        ),
        final_conv=None if final is None else ConvBNAct(out_channels=final, kernel_size=1),
        resolution=resolution,
    )


def _resnet(block: str, depths: tuple[int, ...], expansion: int) -> NetworkSpec:
    widths = (64, 128, 256, 512)
    return NetworkSpec(
        stem=ResNetStem(out_channels=64),
        stages=tuple(
            StageSpec(block=block, out_channels=w * expansion, bottleneck_channels=w, depth=d,
                      stride=1 if i == 0 else 2, kernel_size=3, shortcut="torchvision")
            for i, (w, d) in enumerate(zip(widths, depths))
        ),
    )


_K1KXK1, _DWSE = "res_k1kxk1", "res_k1dwsek1"

register_preset("deepmad_r18", _deepmad(32, [
    (96, 2, 5, 1, 40), (384, 2, 5, 6, 40), (384, 2, 5, 9, 64),
    (1024, 1, 3, 10, 104), (672, 2, 5, 12, 104)], _K1KXK1), "DeepMAD-R18")
register_preset("deepmad_r34", _deepmad(24, [
    (128, 2, 5, 1, 24), (512, 2, 5, 10, 48), (896, 2, 5, 13, 88),
    (1024, 1, 5, 11, 104), (616, 2, 5, 14, 128)], _K1KXK1), "DeepMAD-R34")
register_preset("deepmad_r50", _deepmad(32, [
    (128, 2, 5, 1, 40), (512, 2, 5, 11, 48), (872, 2, 5, 12, 88),
    (1024, 1, 5, 13, 104), (1232, 2, 5, 15, 120)], _K1KXK1), "DeepMAD-R50")
register_preset("deepmad_29m_224", _deepmad(40, [
    (40, 1, 5, 2, 240), (85, 2, 5, 4, 512), (134, 2, 5, 6, 800),
    (201, 2, 5, 6, 1208), (312, 2, 5, 5, 1872)], _DWSE, final=1792), "DeepMAD-29M-224")
register_preset("deepmad_29m_288", _deepmad(40, [
    (61, 2, 5, 4, 368), (96, 2, 5, 4, 576), (145, 2, 5, 5, 872),
    (217, 1, 5, 6, 1304), (328, 2, 5, 4, 1968)], _DWSE, final=1792, resolution=288),
    "DeepMAD-29M-288")
register_preset("deepmad_50m", _deepmad(48, [
    (112, 2, 5, 7, 672), (168, 2, 5, 9, 1008), (252, 2, 5, 7, 1512),
    (378, 2, 5, 3, 2272), (576, 1, 3, 1, 3456)], _DWSE, final=2048), "DeepMAD-50M")
register_preset("deepmad_89m", _deepmad(56, [
    (136, 2, 5, 10, 816), (204, 2, 5, 9, 1224), (326, 2, 5, 7, 1952),
    (490, 2, 5, 4, 2944), (744, 1, 3, 1, 4464)], _DWSE, final=2560), "DeepMAD-89M")
register_preset("resnet18", _resnet("res_kxkx", (2, 2, 2, 2), 1), "ResNet-18")
register_preset("resnet34", _resnet("res_kxkx", (3, 4, 6, 3), 1), "ResNet-34")
register_preset("resnet50", _resnet("res_k1kxk1", (3, 4, 6, 3), 4), "ResNet-50")


def _ic(spec: NetworkSpec) -> NetworkSpec:
    """IC-style unit (``conv="ic"``, project design; not arXiv 2102.03495's formula) in every
    kxk conv of the blocks; stem, shortcuts and 1x1 convs stay plain."""
    return spec.replace(stages=tuple(dataclasses.replace(st, conv="ic") for st in spec.stages))


register_preset("ic_resnet18", _ic(PRESETS["resnet18"]), "IC-ResNet-18 (IC-style unit, project design)")
register_preset("ic_resnet50", _ic(PRESETS["resnet50"]), "IC-ResNet-50 (IC-style unit, project design)")
