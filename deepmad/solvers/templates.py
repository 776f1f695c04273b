"""Design-space templates and the ``--like PRESET`` table (budgets and layouts of the reference).

The reference (alibaba/lightweight-neural-architecture-search @ 8ccaf88) ships one config per
published DeepMAD model (``configs/classification/deepmad_*.py``): a seed structure fixing the
stage layout, budgets (``flops`` = TinyNAS FLOPs, ``model_size`` = TinyNAS params without the
classifier, ``efficient_score`` = rho) and a mutation space (``space_k1kxk1`` /
``space_k1dwsek1``). :func:`like` turns one of them into a :class:`DesignProblem` whose space
contains every structure the reference's mutators can reach from the seed (mutation ranges of
``tinynas/spaces/mutator/*.py``, the last block mutable):

* ResNet-style (``space_k1kxk1``): stem ``<= 32``; widths and bottlenecks multiples of 8 up to
  2048, widths non-decreasing (stem included); kernels {3, 5}; stage 1 depth <= 3. The
  mutators' ``b <= c`` and ``b >= c/10`` are applied only when b itself mutates, so neither is an
  invariant and neither is imposed.
* Mobile (``space_k1dwsek1``): stem in [16, 32] or the seed's; widths multiples of 8 up to 1280
  or the seed's; bottleneck in ``[smart_round(1.5 c), smart_round(6 c)]`` or the seed's; kernels
  {3, 5, 7}; stage 1 depth <= 3; the final 1x1 conv is never mutated.

Both: kernels obey the reference's ``adjust_structures_inplace`` rule ``1.5 k <= input side``;
depths have no cap in the reference (no ``layers`` budget), so :func:`depth_cap` derives the
largest depth any design meeting the budgets can have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from deepmad.errors import DeepmadError
from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers.problem import Budget, DesignProblem
from deepmad.solvers.space import Bottleneck, Channels, Design, DesignSpace, StageRange

__all__ = ["TEMPLATES", "LIKE_PRESETS", "LikePreset", "template", "like", "depth_cap", "kernel_rule"]

TEMPLATES = ("resnet", "mobile-se")
_RESNET_STRIDES = (2, 2, 2, 1, 2)
_MOBILE_STRIDES = (2, 2, 2, 2, 1)
_DEFAULT_DEPTH = 32  # template depth cap when the budgets give none


@dataclass(frozen=True)
class LikePreset:
    """One reference config: layout seed, budgets and the published structure to compare."""

    family: str  # "resnet" or "mobile-se" (mutation space)
    resolution: int
    macs: float  # TinyNAS "flops" budget
    params: float  # TinyNAS "model_size" budget
    rho: float  # "efficient_score" budget
    seed: Design  # the config's structure_info
    strides: tuple[int, ...]
    published: str  # preset name of the published network


def _seed(res: int, stem: int, rows: list[tuple[int, int]], final: int | None) -> Design:
    return Design(res, stem, tuple((c, b, 1, 3) for c, b in rows), final)


_R_SEED = [(256, 64), (512, 128), (768, 256), (1024, 256), (2048, 512)]
LIKE_PRESETS: dict[str, LikePreset] = {
    "deepmad_r18": LikePreset("resnet", 224, 1.82e9, 11.69e6, 0.3, _seed(224, 32, _R_SEED, None),
                              _RESNET_STRIDES, "deepmad_r18"),
    "deepmad_r34": LikePreset("resnet", 224, 3.68e9, 21.80e6, 0.3, _seed(224, 32, _R_SEED, None),
                              _RESNET_STRIDES, "deepmad_r34"),
    "deepmad_r50": LikePreset("resnet", 224, 4.13e9, 25.55e6, 0.3, _seed(224, 32, _R_SEED, None),
                              _RESNET_STRIDES, "deepmad_r50"),
    "deepmad_29m_224": LikePreset("mobile-se", 224, 4.5e9, 29e6, 0.5, _seed(
        224, 32, [(72, 432), (128, 768), (192, 1152), (288, 1728), (448, 2688)], 1792),
        _MOBILE_STRIDES, "deepmad_29m_224"),
    "deepmad_29m_288": LikePreset("mobile-se", 288, 4.5e9, 29e6, 0.5, _seed(
        288, 16, [(32, 192), (48, 288), (72, 432), (108, 648), (162, 972)], 1792),
        (2, 2, 2, 1, 2), "deepmad_29m_288"),
    "deepmad_50m": LikePreset("mobile-se", 224, 8.7e9, 50e6, 0.5, _seed(
        224, 48, [(84, 504), (144, 864), (216, 1296), (324, 1944), (512, 3072)], 2048),
        _MOBILE_STRIDES, "deepmad_50m"),
    "deepmad_89m": LikePreset("mobile-se", 224, 15.4e9, 89e6, 0.5, _seed(
        224, 64, [(144, 865), (216, 1296), (324, 1944), (486, 2916), (729, 4374)], 2560),
        _MOBILE_STRIDES, "deepmad_89m"),
}


def kernel_rule(kernels: tuple[int, ...], side: float) -> tuple[int, ...]:
    """Kernels with ``1.5 k <= side`` (reference ``adjust_structures_inplace``); never empty."""
    ok = tuple(k for k in kernels if 1.5 * k <= side)
    return ok or (min(kernels),)


def _stage_sides(resolution: int, stem_stride: int, strides: tuple[int, ...]) -> list[float]:
    side, out = resolution / stem_stride, []
    for s in strides:
        out.append(side)
        side /= s
    return out


def template(name: str, resolution: int = 224, strides: tuple[int, ...] | None = None,
             final_width: int = 1792, max_depth: int = _DEFAULT_DEPTH) -> DesignSpace:
    """A template space: ``"resnet"`` (R-series seed layout) or ``"mobile-se"`` (29M/50M/89M).

    Args:
        name: template name.
        resolution: input side (also used for the kernel rule).
        strides: per-stage strides; defaults to the template's layout.
        final_width: final 1x1 conv width (mobile-se only).
        max_depth: depth cap of stages 2.. (stage 1 is capped at 3 as in the reference).
    """
    if name not in TEMPLATES:
        raise DeepmadError(f"space {name!r} is invalid; allowed: {', '.join(TEMPLATES)}")
    mobile = name == "mobile-se"
    strides = strides or (_MOBILE_STRIDES if mobile else _RESNET_STRIDES)
    sides = _stage_sides(resolution, 2, strides)
    stages = []
    for i, (s, side) in enumerate(zip(strides, sides)):
        depth = (1, 3) if i == 0 else (1, max_depth)
        if mobile:
            rng = StageRange("res_k1dwsek1", s, Channels(8, 1280), Bottleneck(1.5, 6.0, ratio=True),
                             kernel_rule((3, 5, 7), side), depth)
        else:
            rng = StageRange("res_k1kxk1", s, Channels(8, 2048), Bottleneck(8, 2048),
                             kernel_rule((3, 5), side), depth)
        stages.append(rng)
    return DesignSpace(stem=Channels(16, 32) if mobile else Channels(8, 32), stages=tuple(stages),
                       final_conv=Channels.fixed(final_width) if mobile else None,
                       resolutions=(resolution,), name=name)


def depth_cap(space: DesignSpace, budgets: tuple[Budget, ...]) -> int | None:
    """Largest total number of counted conv layers D of any design meeting ``budgets``.

    With ``rho <= r0`` the geometric mean of the layer widths ``w_l = c_in k^2 / g`` is at least
    ``D / r0``. Every counted layer costs at least ``w_l * c_min`` params and
    ``w_l * c_min * side_min^2`` MACs (``c_min`` the smallest channel count of the space), so by
    AM-GM ``params >= c_min D^2 / r0`` and ``MACs >= c_min side_min^2 D^2 / r0``. A layers budget
    caps D directly. Returns None when no budget bounds D.
    """
    caps = [int(b.upper) for b in budgets if b.quantity == "layers" and b.upper is not None]
    rho = [b.upper for b in budgets if b.quantity == "rho" and b.upper is not None]
    if rho:
        r0 = min(rho)
        cmin = min([space.stem.values()[0]] + [min(s.width.values()[0], s.bottleneck.bounds(
            s.width.values()[0])[0]) for s in space.stages])
        side = min(_stage_sides(min(space.resolutions), space.stem_stride, tuple(
            s.stride for s in space.stages)) + [min(space.resolutions) / 2 ** (1 + sum(
                s.stride == 2 for s in space.stages))])
        side = max(1.0, math.floor(side))
        for b in budgets:
            if b.upper is None:
                continue
            scale = {"params": 1.0, "macs": side * side, "flops": 2 * side * side}.get(b.quantity)
            if scale is not None:
                caps.append(int(math.sqrt(r0 * b.upper / (max(1, cmin) * scale))))
    return min(caps) if caps else None


def cap_depths(space: DesignSpace, budgets: tuple[Budget, ...]) -> DesignSpace:
    """``space`` with each stage's depth range cut to what :func:`depth_cap` allows."""
    total = depth_cap(space, budgets)
    if total is None:
        return space
    fixed = 1 + (space.final_conv is not None)
    mins = [s.kind.layers_per_block * s.depth[0] for s in space.stages]
    stages = []
    for i, s in enumerate(space.stages):
        room = total - fixed - (sum(mins) - mins[i])
        hi = max(s.depth[0], min(s.depth[1], room // s.kind.layers_per_block))
        stages.append(replace(s, depth=(s.depth[0], hi)))
    return replace(space, stages=tuple(stages))


def _like_space(p: LikePreset) -> DesignSpace:
    sides = _stage_sides(p.resolution, 2, p.strides)
    seed = p.seed
    big = 10**6  # "no cap": cut later by depth_cap
    stages = []
    seed_widths = tuple(sorted({c for c, _, _, _ in seed.stages}))
    for i, (s, side, (_, b, _, _)) in enumerate(zip(p.strides, sides, seed.stages)):
        depth = (1, 3) if i == 0 else (1, big)
        if p.family == "mobile-se":
            # clamps to the neighbours' widths carry any seed width into any stage
            rng = StageRange("res_k1dwsek1", s, Channels(8, 1280, extra=seed_widths),
                             Bottleneck(1.5, 6.0, ratio=True, extra=(b,)), kernel_rule((3, 5, 7), side), depth)
        else:
            rng = StageRange("res_k1kxk1", s, Channels(8, 2048), Bottleneck(8, 2048),
                             kernel_rule((3, 5), side), depth)
        stages.append(rng)
    mobile = p.family == "mobile-se"
    stem = Channels(16, 32, extra=(seed.stem,)) if mobile else Channels(8, 32)
    return DesignSpace(stem=stem, stages=tuple(stages),
                       final_conv=Channels.fixed(seed.final) if seed.final else None,
                       resolutions=(p.resolution,), bottleneck_le_width=False, name=f"like-{p.published}")


def like_budgets(p: LikePreset) -> tuple[Budget, ...]:
    """The config's budgets: TinyNAS FLOPs (our tinynas MACs), params and rho upper bounds."""
    return (Budget("macs", upper=p.macs, convention="tinynas"),
            Budget("params", upper=p.params, convention="tinynas"),
            Budget("rho", upper=p.rho))


def like(name: str, objective: ScoreConfig, budgets: tuple[Budget, ...] | None = None) -> DesignProblem:
    """The design problem of the reference config of preset ``name``.

    Args:
        name: a key of :data:`LIKE_PRESETS`.
        objective: score config (mode etc.).
        budgets: replace the config's budgets (the layout and ranges stay).
    """
    if name not in LIKE_PRESETS:
        raise DeepmadError(f"--like {name!r} is invalid; allowed: {', '.join(LIKE_PRESETS)}")
    p = LIKE_PRESETS[name]
    budgets = like_budgets(p) if budgets is None else tuple(budgets)
    space = cap_depths(_like_space(p), budgets)
    if max(s.depth[1] for s in space.stages) >= 10**6:
        space = cap_depths(space, budgets + (Budget("layers", upper=3 * _DEFAULT_DEPTH * len(space.stages)),))
    return DesignProblem(space=space, objective=objective, budgets=budgets, name=f"like_{name}")
