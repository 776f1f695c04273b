"""Closed-form per-layer latency features (no torch): the basis of the device latency model.

The latency model (:mod:`deepmad.hardware.fit`) is ``t = sum_j w_j * F_j(spec)`` with every
``w_j >= 0`` and every network feature ``F_j`` a sum over the network's layers of a per-layer
feature ``f_j(layer)``. The layers are enumerated by the cost module's own walk
(:func:`deepmad.cost.count_network`'s ``layer_records`` and ``blocks``), never by a second one.

Op classes (:func:`conv_class`): ``stem`` (the network's first conv), ``dense3`` / ``dense5``
(k x k convs with k = 3 / k >= 5, grouped convs included), ``pw`` (1x1), ``dw3`` / ``dw5``
(depthwise, k = 3 / k >= 5), ``se`` (the squeeze-excitation 1x1 convs at side 1) and ``linear``.
Per conv-like layer of class C with input side ``ri``, output side ``ro`` and batch ``B``:

* ``C.macs``    = B ro^2 c_out (c_in/g) k^2          (arithmetic)
* ``C.in``      = B ri^2 c_in,  ``C.out`` = B ro^2 c_out   (feature-map traffic; ``out`` also
  prices the conv's BN and activation, which every conv has)
* ``C.weights`` = c_out (c_in/g) k^2                  (weights read / updated)
* ``C.count``   = 1                                    (per-op launch overhead)
* ``C.macs<=S`` = ``C.macs`` * [ro <= S] for S in :data:`SIDES` (side buckets, cumulative: the
  per-MAC cost at side ro is ``w_macs + sum_{S >= ro} w_S``, so small feature maps may cost more
  per MAC, as they do on CPUs)
* ``C.pix``     = B ro^2 k^2                          (a cost per output pixel and kernel tap,
  whatever the widths: loop and im2col overhead, which dominates narrow layers; it gives a
  narrow layer a higher cost per MAC than a wide one of the same shape)

Every feature is a polynomial in the layer's channel counts (sides, kernels and classes are
fixed per stage), so the design solvers carry the model exactly: the exact solver's bound fits
each stage's cost as a polynomial of degree <= 2 in the bottleneck, bilinear in (c_in, c)
(:mod:`deepmad.solvers.terms`, ``docs/hardware.md``). An earlier version used a hinge
``min(c_in, 32) min(c_out, 32)`` here; ``C.pix`` equals it up to the constant 1024 for every
layer with both widths >= 32 and fitted held-out networks as well (docs/benchmarks.md).

A class carries only the features listed in :data:`CLASS_FEATURES` (a feature that is a fixed
multiple of another at a fixed batch is left out: the fit could not tell them apart).
Elementwise features: ``block.out`` (every block's output: residual add and final activation),
``se.elems`` (the SE pool and rescale over b ro^2), ``pool.elems`` (ResNet stem max-pool,
global average pool), ``block.count`` (module-call overhead per block) and ``const``.

Why the prediction is monotone in every width, bottleneck and depth (by construction):
each per-layer feature is a product of non-negative, non-decreasing functions of the channel
counts (``c``, or none for ``pix``; a depthwise conv has ``c_in = c_out = g = b``, so its
``c_out c_in / g = b``). Sides, kernels and op classes do not change with a
width, so a wider stage only raises features of the same layers; a deeper stage only adds
layers with non-negative features; the SE width ``se_channels(b)`` is non-decreasing in b.
With ``w >= 0`` the sum is non-decreasing. Width buckets are never written as
"coefficient a below T, coefficient a' above": a coefficient that jumps at T could make a
wider layer cheaper. ``pix`` has the same effect (extra cost per MAC for narrow layers) with
a feature constant in the widths. The one exception is the architecture itself:
a block whose shortcut projection disappears when ``c_in == c`` loses a layer (its MACs drop
too), which no cost model that charges the projection can hide; a solver must treat that
structural case as it treats the MACs. Side buckets may jump: sides are fixed by the layout, not by widths.

Every function here uses only ``+``, ``*`` and ``/`` on the channel counts (comparisons only
on sides), so it evaluates Python numbers, numpy arrays (the solvers' per-cell arrays) and
solver expressions alike.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deepmad.cost import count_network
from deepmad.cost.report import LayerRecord
from deepmad.spec.blocks import ResNetStem
from deepmad.spec.network import NetworkSpec, conv_out_size

__all__ = [
    "CONV_CLASSES",
    "LatencyTerms",
    "FEATURE_NAMES",
    "SIDES",
    "conv_class",
    "conv_terms",
    "elementwise_terms",
    "network_features",
    "segment_features",
]

CONV_CLASSES = ("stem", "dense3", "dense5", "pw", "dw3", "dw5", "se", "linear")
SIDES = (7, 14, 28)  # side buckets (output side <= S)
_FULL = ("macs", "in", "out", "weights", "count")
# Per class, the features it carries. Left out where a feature is a fixed multiple of another
# (the fit could not tell them apart): depthwise out = macs / k^2; SE at side 1 has
# macs = batch x weights and out = in; the classifier's in, out and weights are fixed
# multiples of its MACs; the stem and the classifier occur once per network (count = const).
CLASS_FEATURES: dict[str, tuple[str, ...]] = {
    "stem": ("macs", "in", "out", "weights"),
    "dense3": _FULL,
    "dense5": _FULL,
    "pw": _FULL,
    "dw3": ("macs", "in", "weights", "count"),
    "dw5": ("macs", "in", "weights", "count"),
    "se": ("macs", "in", "count"),
    "linear": ("macs",),
}
_BUCKETED = ("dense3", "dense5", "pw", "dw3", "dw5")
_ELEMENTWISE = ("block.out", "se.elems", "pool.elems", "block.count", "const")


def _names() -> tuple[str, ...]:
    out: list[str] = []
    for c in CONV_CLASSES:
        out += [f"{c}.{f}" for f in CLASS_FEATURES[c]]
        if c in _BUCKETED:
            out += [f"{c}.macs<={s}" for s in SIDES]
            out.append(f"{c}.pix")
    return (*out, *_ELEMENTWISE)


FEATURE_NAMES: tuple[str, ...] = _names()


def conv_class(rec: LayerRecord) -> str:
    """Op class of a conv / linear record (see the module docstring)."""
    if rec.op == "linear":
        return "linear"
    if rec.stage == "stem":
        return "stem"
    if rec.name.startswith("se."):
        return "se"
    k = rec.kernel_size
    if rec.groups > 1 and rec.groups == rec.in_channels == rec.out_channels:
        return "dw3" if k <= 3 else "dw5"
    if k == 1:
        return "pw"
    return "dense3" if k <= 3 else "dense5"


def conv_terms(
    cls: str, cin: Any, cout: Any, k: Any, groups: Any, in_side: Any, out_side: Any, batch: Any = 1
) -> dict[str, Any]:
    """Per-layer features of one conv-like layer of class ``cls`` (generic over numpy arrays).

    ``groups`` is the conv's group count (``b`` for depthwise, 1 otherwise; pass ``cin`` for a
    depthwise layer given as arrays). Returns ``{feature name: value}``; absent names are 0.
    """
    # weights; a depthwise conv has c_in = groups (written without the division: b / b is 0 / 0
    # at b = 0, where the solvers read polynomial coefficients off)
    per_out = cout * k * k if cls in ("dw3", "dw5") else cout * (cin / groups) * k * k
    pix = batch * out_side * out_side
    macs = pix * per_out
    every = {
        "macs": macs,
        "in": batch * in_side * in_side * cin,
        "out": pix * cout,
        "weights": per_out,
        "count": 1 + 0 * macs,
    }
    terms = {f"{cls}.{f}": every[f] for f in CLASS_FEATURES[cls]}
    if cls in _BUCKETED:
        for s in SIDES:
            terms[f"{cls}.macs<={s}"] = macs * (out_side <= s)
        terms[f"{cls}.pix"] = pix * k * k
    return terms


def elementwise_terms(name: str, channels: Any, side: Any, batch: Any = 1) -> dict[str, Any]:
    """``{name: B c side^2}`` for one elementwise feature (``block.out``, ``se.elems``, ``pool.elems``)."""
    if name not in _ELEMENTWISE[:3]:
        raise KeyError(
            f"{name!r} is not an elementwise feature; allowed: {', '.join(_ELEMENTWISE[:3])}"
        )
    return {name: batch * channels * side * side}


def _add(acc: dict[str, float], terms: dict[str, Any]) -> None:
    for key, value in terms.items():
        acc[key] = acc.get(key, 0.0) + float(value)


def segment_features(spec: NetworkSpec, batch: int = 1) -> dict[str, dict[str, float]]:
    """Features per segment (``stem``, ``stage1``.., ``final_conv``, ``head``), plus ``network``
    holding the per-network ``const``. Layers come from :func:`deepmad.cost.count_network`."""
    report = count_network(spec, "torch")
    segs: dict[str, dict[str, float]] = {}
    for rec in report.layer_records:
        acc = segs.setdefault(rec.stage, {})
        if rec.op == "bn":  # priced with its conv's out (or in) feature: always one per conv
            continue
        cls = conv_class(rec)
        _add(
            acc,
            conv_terms(
                cls,
                rec.in_channels,
                rec.out_channels,
                rec.kernel_size,
                rec.groups,
                rec.in_size,
                rec.out_size,
                batch,
            ),
        )
        if cls == "se" and rec.name.endswith(("conv1", "reduce")):
            side = _block_out_side(report.blocks, rec)
            _add(acc, elementwise_terms("se.elems", rec.in_channels, side, batch))
    for blk in report.blocks:
        if blk.stage.startswith("stage"):
            acc = segs.setdefault(blk.stage, {})
            _add(acc, elementwise_terms("block.out", blk.out_channels, blk.out_size, batch))
            _add(acc, {"block.count": 1.0})
    _add(segs.setdefault("stem", {}), _stem_pool(spec, batch))
    last = report.blocks[-1] if report.blocks[-1].stage != "head" else report.blocks[-2]
    _add(
        segs.setdefault("head", {}),
        elementwise_terms("pool.elems", last.out_channels, last.out_size, batch),
    )
    segs["network"] = {"const": 1.0}
    return segs


def _block_out_side(blocks: Iterable[Any], rec: LayerRecord) -> int:
    for blk in blocks:
        if blk.stage == rec.stage and blk.index == rec.block:
            return int(blk.out_size)
    raise KeyError(f"no block {rec.stage}[{rec.block}]")


def _stem_pool(spec: NetworkSpec, batch: int) -> dict[str, Any]:
    """The ResNet stem's 3x3 stride-2 max-pool reads the stem conv's output."""
    if not isinstance(spec.stem, ResNetStem):
        return {}
    side = conv_out_size(spec.resolution, spec.stem.kernel_size, 2)
    return elementwise_terms("pool.elems", spec.stem.out_channels, side, batch)


def network_features(spec: NetworkSpec, batch: int = 1) -> dict[str, float]:
    """Whole-network features: the sum of :func:`segment_features` over every segment."""
    total: dict[str, float] = {}
    for terms in segment_features(spec, batch).values():
        _add(total, terms)
    return total


def weighted_sum(weights: Mapping[str, float], terms: Mapping[str, Any]) -> Any:
    """The model's latency, ``sum_j w_j terms[j]`` in ms, over the terms with a non-zero weight.

    ``terms`` holds Python numbers, numpy arrays or solver expressions; the one place the
    fitted weights meet the features (prediction, solver pricing)."""
    total: Any = 0.0
    for name, value in terms.items():
        w = weights.get(name, 0.0)
        if w:
            total = total + w * value
    return total


@dataclass(frozen=True)
class LatencyTerms:
    """A calibration's coefficients (ms per feature unit) and batch, hashable (solver caches).

    Build it with :meth:`of` from a :class:`deepmad.hardware.Calibration`; every method takes
    numbers, numpy arrays or (with a numeric kernel) solver expressions.
    """

    weights: tuple[tuple[str, float], ...]
    batch: int = 1

    @classmethod
    def of(cls, calibration: Any) -> LatencyTerms:
        """From a :class:`deepmad.hardware.Calibration` (its non-zero coefficients)."""
        return cls(tuple(sorted((k, float(v)) for k, v in calibration.coefficients.items() if v)),
                   int(calibration.batch))

    @functools.cached_property
    def _w(self) -> dict[str, float]:
        return dict(self.weights)

    def price(self, features: dict[str, Any]) -> Any:
        """``sum_j w_j features[j]`` (ms), see :func:`weighted_sum`."""
        return weighted_sum(self._w, features)

    def conv(self, cls: str, cin: Any, cout: Any, k: Any, groups: Any, ri: Any, ro: Any) -> Any:
        """ms of one conv-like layer of op class ``cls`` (:func:`deepmad.hardware.features.conv_class`)."""
        return self.price(conv_terms(cls, cin, cout, k, groups, ri, ro, self.batch))

    def kxk(self, depthwise: bool, cin: Any, cout: Any, k: Any, ri: Any, ro: Any) -> Any:
        """ms of a k x k conv whose class follows k as in :func:`conv_class` (dense: ``pw`` at
        k = 1, ``dense3`` at k <= 3, else ``dense5``; depthwise: ``dw3`` / ``dw5``); k a number
        or a numpy array."""
        a, b, g = ("dw3", "dw5", cout) if depthwise else ("dense3", "dense5", 1)
        if isinstance(k, (int, float)):
            cls = "pw" if k == 1 and not depthwise else (a if k <= 3 else b)
            return self.conv(cls, cin, cout, k, g, ri, ro)
        small = (k <= 3) * 1.0
        one = 0.0 if depthwise else (k == 1) * 1.0
        out = (small - one) * self.conv(a, cin, cout, k, g, ri, ro) + (1 - small) * self.conv(b, cin, cout, k, g, ri, ro)
        return out + one * self.conv("pw", cin, cout, k, g, ri, ro) if not depthwise else out

    def elem(self, name: str, channels: Any, side: Any) -> Any:
        """ms of one elementwise feature (``block.out``, ``se.elems``, ``pool.elems``)."""
        return self.price(elementwise_terms(name, channels, side, self.batch))

    def const(self) -> float:
        """The per-network constant (ms)."""
        return self._w.get("const", 0.0)
