"""Random networks that span the design spaces, for calibration (no torch).

Each draw picks a block kind per network (a quarter of the draws mix kinds per stage), a stem
(3x3 stride-2 conv, or the ResNet stem), 3-5 stages with strides, widths growing by 1.2-2.2x a
stage, bottlenecks in the kind's usual ratio (K1KXK1: c/12..c/2, as deep-narrow DeepMAD
nets; KXKX: c/2..3c/2; depthwise: 1..6 c), depths 1-12, kernels 3/5 (depthwise 3/5/7), a 1x1
final conv on half of the mobile draws and a
resolution from the requested range. Draws whose forward MACs x batch fall outside
``[min_macs, max_macs]`` are redrawn, so the calibration's time stays bounded. Presets (at the
smallest resolution of the range, when within the MAC range) join the training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.spec.blocks import ConvBNAct, ResNetStem, StageSpec
from deepmad.spec.network import NetworkSpec
from deepmad.spec.presets import get_preset

__all__ = ["SPACES", "SampleConfig", "preset_networks", "random_network", "random_networks"]

SPACES: dict[str, tuple[str, ...]] = {
    "resnet": ("res_k1kxk1", "res_kxkx"),
    "mobile-se": ("res_k1dwk1", "res_k1dwsek1"),
    "all": ("res_k1kxk1", "res_kxkx", "res_k1dwk1", "res_k1dwsek1"),
}
SPACE_PRESETS: dict[str, tuple[str, ...]] = {
    "resnet": ("resnet18", "resnet34", "resnet50", "deepmad_r18", "deepmad_r34", "deepmad_r50"),
    "mobile-se": ("deepmad_29m_224", "deepmad_50m"),
}
SPACE_PRESETS["all"] = SPACE_PRESETS["resnet"] + SPACE_PRESETS["mobile-se"]


@dataclass(frozen=True)
class SampleConfig:
    """What to draw: space, resolutions, batch and the MAC range (forward MACs x batch)."""

    space: str = "all"
    resolutions: tuple[int, ...] = (224,)
    batch: int = 1
    min_macs: float = 5e6
    max_macs: float = 1.5e9

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise DeepmadError(f"--space {self.space!r} is invalid; allowed: {', '.join(SPACES)}")
        if not self.resolutions or any(not isinstance(r, int) or r < 16 for r in self.resolutions):
            raise DeepmadError(
                f"resolutions {self.resolutions!r} are invalid; expected integers >= 16"
            )


def _round8(x: float) -> int:
    return max(8, int(round(x / 8.0)) * 8)


def _bottleneck(rng: np.random.Generator, kind: str, c: int) -> int:
    if kind == "res_k1kxk1":
        return _round8(c / rng.uniform(2.0, 12.0))
    if kind == "res_kxkx":
        return _round8(c * rng.uniform(0.5, 1.5))
    return _round8(c * rng.uniform(1.0, 6.0))


def _strides(rng: np.random.Generator, n: int, stem_stride: int) -> list[int]:
    total = 5 - (2 if stem_stride == 4 else 1)  # downsample to /32 at most
    strides = [1] * n
    for i in rng.permutation(n)[: min(n, total)]:
        strides[int(i)] = 2
    return strides


def random_network(rng: np.random.Generator, kinds: Sequence[str], resolution: int) -> NetworkSpec:
    """One random network of the given block kinds (see the module docstring)."""
    kind = str(rng.choice(kinds))
    mixed = rng.random() < 0.25
    mobile = kind in ("res_k1dwk1", "res_k1dwsek1")
    if not mobile and rng.random() < 0.2:
        stem: ConvBNAct | ResNetStem = ResNetStem(out_channels=int(rng.choice([32, 64])))
    else:
        stem = ConvBNAct(
            out_channels=_round8(rng.uniform(16, 48 if mobile else 64)), kernel_size=3, stride=2
        )
    n = int(rng.integers(3, 6))
    strides = _strides(rng, n, stem.stride)
    c = stem.out_channels
    stages = []
    for i in range(n):
        k_i = str(rng.choice(kinds)) if mixed else kind
        grow = rng.uniform(1.2, 2.2) if (i > 0 or rng.random() < 0.5) else 1.0
        if k_i == "res_k1kxk1" and i == 0:
            grow *= rng.uniform(1.0, 3.0)
        c = _round8(c * grow)
        kernel = int(rng.choice([3, 5, 7] if k_i in ("res_k1dwk1", "res_k1dwsek1") else [3, 5]))
        stages.append(
            StageSpec(
                block=k_i,
                out_channels=c,
                bottleneck_channels=_bottleneck(rng, k_i, c),
                depth=int(rng.integers(1, 13)),
                stride=strides[i],
                kernel_size=kernel,
            )
        )
    final = None
    if mobile and rng.random() < 0.5:
        final = ConvBNAct(out_channels=_round8(c * rng.uniform(2.0, 6.0)), kernel_size=1)
    return NetworkSpec(stem=stem, stages=tuple(stages), final_conv=final, resolution=resolution)


def _macs(spec: NetworkSpec) -> int:
    return count_network(spec, "torch").macs


def random_networks(cfg: SampleConfig, count: int, seed: int = 0) -> list[NetworkSpec]:
    """``count`` distinct random networks whose MACs x batch lie in the configured range."""
    rng = np.random.default_rng(seed)
    out: list[NetworkSpec] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < count:
        tries += 1
        if tries > 200 * (count + 1):
            raise DeepmadError(
                f"could not draw {count} networks with MACs x batch in "
                f"[{cfg.min_macs:.3g}, {cfg.max_macs:.3g}]; widen the range"
            )
        res = int(rng.choice(cfg.resolutions))
        spec = random_network(rng, SPACES[cfg.space], res)
        if not cfg.min_macs <= _macs(spec) * cfg.batch <= cfg.max_macs:
            continue
        key = repr(spec)
        if key not in seen:
            seen.add(key)
            out.append(spec.replace(name=f"random{len(out):04d}"))
    return out


def preset_networks(cfg: SampleConfig) -> list[NetworkSpec]:
    """The space's presets at the smallest resolution, those within the MAC range."""
    res = min(cfg.resolutions)
    specs = [get_preset(name).replace(resolution=res) for name in SPACE_PRESETS[cfg.space]]
    return [s for s in specs if cfg.min_macs <= _macs(s) * cfg.batch <= cfg.max_macs]
