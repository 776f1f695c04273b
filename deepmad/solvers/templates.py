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

Layouts for the input size (:func:`layout`): the templates' ImageNet layouts downsample 32x (stem
stride 2, then four stride-2 stages), which leaves a 1-px final map at 32 px. At a smaller input
the earliest stride-2 positions (stem first, then stage 1, 2, ...) become stride 1 until the final
feature map is at least ``min_final_side`` px (4 by default): 224 px keeps the ImageNet layout
(final 7 px), 64 px drops the stem's stride, 32 and 28 px also stage 1's (CIFAR-style: stem and
stage 1 at full resolution, final 4 px). ``strides`` overrides the rule: one value per position,
the stem first, then each stage (6 values for both templates), each 1 or 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from deepmad.errors import DeepmadError
from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers.problem import Budget, DesignProblem
from deepmad.solvers.space import Bottleneck, Channels, Design, DesignSpace, StageRange
from deepmad.spec.network import conv_out_size

__all__ = ["TEMPLATES", "TEMPLATE_RHO", "MIN_FINAL_SIDE", "LIKE_PRESETS", "LikePreset", "Layout",
           "layout", "template", "space_problem", "like", "depth_cap", "kernel_rule"]

TEMPLATES = ("resnet", "mobile-se")
TEMPLATE_RHO = {"resnet": 0.3, "mobile-se": 0.5}  # default rho budget of a template
MIN_FINAL_SIDE = 4  # default smallest final feature map side of a template layout
_RESNET_STRIDES = (2, 2, 2, 1, 2)
_MOBILE_STRIDES = (2, 2, 2, 2, 1)
_DEFAULT_DEPTH = 32  # template depth cap when the budgets give none
# names of the layout arguments in error messages (the CLI passes its flag names)
_API_LABELS = {"strides": "strides", "min_final_side": "min_final_side", "resolution": "resolution"}


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


@dataclass(frozen=True)
class Layout:
    """Strides of a template at one resolution: the stem's, then each stage's."""

    stem_stride: int
    strides: tuple[int, ...]  # per stage
    sides: tuple[int, ...]  # true feature-map sides after the stem and after each stage

    @property
    def final_side(self) -> int:
        """Side of the last feature map (the one the classifier pools)."""
        return self.sides[-1]


def _true_sides(resolution: int, positions: tuple[int, ...]) -> tuple[int, ...]:
    """Sides after each stride (stem first); odd kernels, padding (k-1)/2: ``ceil(side / s)``."""
    out, side = [], resolution
    for s in positions:
        side = conv_out_size(side, 3, s)
        out.append(side)
    return tuple(out)


def _default_positions(base: tuple[int, ...], resolution: int, min_final_side: int) -> tuple[int, ...]:
    """``base`` with its earliest 2s set to 1 until the final side is >= ``min_final_side``."""
    pos = list(base)
    for i in range(len(pos)):
        if _true_sides(resolution, tuple(pos))[-1] >= min_final_side:
            break
        pos[i] = 1
    return tuple(pos)


def _check_strides(name: str, strides: tuple[int, ...], example: tuple[int, ...],
                   lab: dict[str, str]) -> tuple[int, ...]:
    text = ",".join(str(s) for s in strides)
    try:
        vals = tuple(int(s) for s in strides)
    except (TypeError, ValueError):
        raise DeepmadError(f"{lab['strides']}={text} is invalid; expected integers 1 or 2") from None
    if len(vals) != len(example):
        raise DeepmadError(f"{lab['strides']}={text} has {len(vals)} values; {name!r} needs {len(example)}: "
                           f"the stem's stride, then one per stage (e.g. {','.join(map(str, example))})")
    if any(v not in (1, 2) or v != s for v, s in zip(vals, strides)):
        raise DeepmadError(f"{lab['strides']}={text} is invalid; each stride must be 1 or 2")
    return vals


def _require_int(label: str, v: object, lo: int) -> None:
    """A one-line error unless ``v`` is an integer (not a bool) >= ``lo``."""
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise DeepmadError(f"{label}={v!r} is invalid; expected an integer >= {lo}")


def layout(name: str, resolution: int, strides: tuple[int, ...] | None = None,
           min_final_side: int = MIN_FINAL_SIDE, labels: dict[str, str] | None = None) -> Layout:
    """The stem and stage strides of template ``name`` at input side ``resolution``.

    Without ``strides``, the template's ImageNet layout (32x) with its earliest stride-2 positions
    (stem first) set to 1 until the final side ``ceil(r / 2^n)`` is at least ``min_final_side``.

    Args:
        name: template name.
        resolution: input side.
        strides: explicit strides, the stem's first, then one per stage; each 1 or 2.
        min_final_side: smallest allowed final feature-map side (px).
        labels: names of ``strides``, ``min_final_side`` and ``resolution`` in error messages.

    Raises:
        DeepmadError: bad strides, or a final side below ``min_final_side``.
    """
    lab = {**_API_LABELS, **(labels or {})}
    if name not in TEMPLATES:
        raise DeepmadError(f"space {name!r} is invalid; allowed: {', '.join(TEMPLATES)}")
    _require_int(lab["min_final_side"], min_final_side, 1)
    base = (2,) + (_MOBILE_STRIDES if name == "mobile-se" else _RESNET_STRIDES)
    if strides is not None:
        pos = _check_strides(name, tuple(strides), _default_positions(base, resolution, min_final_side), lab)
        final = _true_sides(resolution, pos)[-1]
        if final < min_final_side:
            raise DeepmadError(
                f"{lab['strides']}={','.join(map(str, pos))} leaves a final feature map of {final} px at "
                f"{lab['resolution']}={resolution}, below {lab['min_final_side']}={min_final_side}; use fewer 2s")
    else:
        if resolution < min_final_side:
            raise DeepmadError(f"{lab['resolution']}={resolution} is below {lab['min_final_side']}="
                               f"{min_final_side}: no layout keeps a final map that large")
        pos = _default_positions(base, resolution, min_final_side)
    return Layout(pos[0], pos[1:], _true_sides(resolution, pos))


def template(name: str, resolution: int = 224, strides: tuple[int, ...] | None = None,
             final_width: int = 1792, max_depth: int = _DEFAULT_DEPTH, *,
             min_final_side: int = MIN_FINAL_SIDE, in_channels: int = 3, num_classes: int = 1000,
             labels: dict[str, str] | None = None) -> DesignSpace:
    """A template space: ``"resnet"`` (R-series seed layout) or ``"mobile-se"`` (29M/50M/89M).

    Args:
        name: template name.
        resolution: input side (sets the layout, see :func:`layout`, and the kernel rule).
        strides: the stem's stride, then one per stage; default: :func:`layout`'s rule.
        final_width: final 1x1 conv width (mobile-se only).
        max_depth: depth cap of stages 2.. (stage 1 is capped at 3 as in the reference).
        min_final_side: smallest final feature-map side the layout may leave.
        in_channels: image channels (the stem's input; costed in the stem).
        num_classes: classifier outputs (0: no classifier; costed in the head).
        labels: argument names in error messages (see :func:`layout`).
    """
    lay = layout(name, resolution, strides, min_final_side, labels)
    for arg, v, lo in (("in_channels", in_channels, 1), ("num_classes", num_classes, 0)):
        _require_int((labels or {}).get(arg, arg), v, lo)
    mobile = name == "mobile-se"
    sides = _stage_sides(resolution, lay.stem_stride, lay.strides)
    stages = []
    for i, (s, side) in enumerate(zip(lay.strides, sides)):
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
                       resolutions=(resolution,), stem_stride=lay.stem_stride,
                       in_channels=in_channels, num_classes=num_classes, name=name)


def as_resolutions(resolution: int | tuple[int, ...], labels: dict[str, str] | None = None) -> tuple[int, ...]:
    """``resolution`` (one side or several) as a non-empty tuple of sides."""
    res = (resolution,) if isinstance(resolution, int) else tuple(resolution)
    if not res:
        raise DeepmadError(f"{(labels or _API_LABELS)['resolution']}=() is invalid; expected a side >= 8")
    return res


def space_problem(name: str, objective: ScoreConfig, budgets: tuple[Budget, ...],
                  resolution: int | tuple[int, ...] = 224, strides: tuple[int, ...] | None = None,
                  min_final_side: int = MIN_FINAL_SIDE, in_channels: int = 3, num_classes: int = 1000,
                  labels: dict[str, str] | None = None, latency_model: Any = None) -> DesignProblem:
    """The design problem of template ``name`` under ``budgets`` (rho defaults to the template's).

    The layout is set at the smallest resolution; depth ranges are cut by :func:`cap_depths`.
    A ``latency_ms`` budget (priced by ``latency_model``, a
    :class:`deepmad.hardware.Calibration`) is a cost budget like the others, but caps no depth:
    the template's depth ranges stay as they are unless another budget cuts them.
    """
    res = as_resolutions(resolution, labels)
    budgets = tuple(budgets)
    if not any(b.quantity not in ("rho", "resolution") for b in budgets):
        raise DeepmadError(f"space {name!r} needs a cost budget: params, macs, flops, activations, layers "
                           "or latency_ms")
    if not any(b.quantity == "rho" for b in budgets):
        budgets += (Budget("rho", upper=TEMPLATE_RHO[name]),)
    space = template(name, resolution=min(res), strides=strides, min_final_side=min_final_side,
                     in_channels=in_channels, num_classes=num_classes, labels=labels)
    space = cap_depths(replace(space, resolutions=res), budgets)
    return DesignProblem(space, objective, budgets, name=f"space_{name}", latency_model=latency_model)


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
            s.stride for s in space.stages)) + [min(space.resolutions) / space.stem_stride / 2 ** sum(
                s.stride == 2 for s in space.stages)])
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


def like(name: str, objective: ScoreConfig, budgets: tuple[Budget, ...] | None = None,
         resolution: int | tuple[int, ...] | None = None) -> DesignProblem:
    """The design problem of the reference config of preset ``name``.

    Args:
        name: a key of :data:`LIKE_PRESETS`.
        objective: score config (mode etc.).
        budgets: replace the config's budgets (the layout and ranges stay).
        resolution: input side(s) instead of the config's; set before the depth caps, which
            depend on the smallest side (:func:`depth_cap`).
    """
    if name not in LIKE_PRESETS:
        raise DeepmadError(f"--like {name!r} is invalid; allowed: {', '.join(LIKE_PRESETS)}")
    p = LIKE_PRESETS[name]
    budgets = like_budgets(p) if budgets is None else tuple(budgets)
    space = _like_space(p)
    if resolution is not None:
        space = replace(space, resolutions=as_resolutions(resolution))
    space = cap_depths(space, budgets)
    if max(s.depth[1] for s in space.stages) >= 10**6:
        space = cap_depths(space, budgets + (Budget("layers", upper=3 * _DEFAULT_DEPTH * len(space.stages)),))
    return DesignProblem(space=space, objective=objective, budgets=budgets, name=f"like_{name}")
