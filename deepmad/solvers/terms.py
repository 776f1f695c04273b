"""Every cost and entropy term of the DeepMAD program, written once (no torch).

DeepMAD (Shen et al., CVPR 2023, arXiv 2303.02165) designs a CNN by maximising closed formulas
of its stage variables ``(c_in, c, b, k, L)``. The solvers evaluate those formulas on very
different objects: Python numbers (:mod:`deepmad.solvers.fasteval`, local search), numpy arrays
over thousands of cells (the DP bound, :mod:`deepmad.solvers._dp`), reals (the continuous
relaxation), linear forms (the depth-leaf MILP reads the coefficients) and SCIP expressions
(:mod:`deepmad.solvers.scip`). Each term below uses only ``+``, ``-``, ``*``, ``/`` on its
arguments (logs are passed in, not taken), so one function serves all of them; the tests check
each term against :func:`deepmad.cost.count_network` and :func:`deepmad.scores.entropy.score_spec`
(``tests/solvers/test_terms.py``).

Costs (one conv with BN: ``c_in k^2 / g * c_out`` weights, 2 BN parameters per channel;
TinyNAS adds BN (2) and ReLU (1) per output element to its MACs, as :mod:`deepmad.cost.tinynas`):

* K1KXK1 / K1DW(SE)K1 block: 1x1 ``c_in -> b``, kxk ``b -> b`` (depthwise: ``g = b``, stride),
  1x1 ``b -> c``; SE adds ``2 b se + 2 se + 2 b`` params, ``2 b se`` MACs, ``se + b`` outputs;
* KXKX block: kxk ``c_in -> b`` (stride), kxk ``b -> c``;
* shortcut projection (:attr:`BlockKind.projection`): a 1x1 ``c_in -> c`` conv + BN; TinyNAS
  counts its stride-2 average pool as ``c_in`` per input pixel.

Entropy (DeepMAD Sec. 3.2): a unit's term is ``h = f (a1 X + a2 Y)`` and its log layer widths
``LW = X + Y``, with ``X = sum_l ln(c_in,l / g_l)`` and ``Y = sum_l 2 ln k_l``; for a stage of
``L`` blocks ``X = ln c_in + (L - 1) ln c + L n_b ln b`` and ``Y = L n_k ln k``
(:attr:`BlockKind.entropy_exponents`).

Latency (``latency_ms``, :mod:`deepmad.hardware`): a calibration's model
``sum_j w_j F_j`` over per-layer features (:func:`deepmad.hardware.features.conv_terms`,
:func:`~deepmad.hardware.features.elementwise_terms`), priced by :class:`LatencyTerms` on the
same layers as the costs above: per block its 1x1 / kxk (dense or depthwise, class by kernel) /
1x1 convs, SE convs at side 1 and its pool-and-rescale (``se.elems``), the projection, the
block's output (``block.out``) and ``block.count``; the stem (class ``stem``), the final 1x1
conv, and in the head the global pool, the classifier and the per-network ``const``. Every
feature is a polynomial in the widths (sides and classes are fixed per stage and kernel), so
latency is one more polynomial cost; without a calibration it is 0.

A new cost quantity is one more entry of :data:`COST_NAMES`, one more element in the tuples of
:func:`conv_bn_costs`, :func:`block_costs` and :func:`stage_costs` (and :func:`head_costs` if the
classifier counts), its mapping in :func:`quantity_row` and a field of :class:`Costs`, all in this
module; the DP, the MILPs, the continuous relaxation and the SCIP model iterate over
:data:`COST_NAMES` (the independent check, :func:`deepmad.cost.count_network`, needs it too).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from deepmad.hardware.features import LatencyTerms
from deepmad.spec.blocks import BlockKind

__all__ = [
    "COST_NAMES",
    "LAYERS",
    "FLOAT_QUANTITIES",
    "rounding_slack",
    "Costs",
    "LatencyTerms",
    "LogTerms",
    "se_of",
    "conv_bn_costs",
    "block_costs",
    "stage_costs",
    "head_costs",
    "quantity_row",
    "se_cost_terms",
    "projection_rule",
    "projection_costs",
    "block_latency",
    "head_latency",
    "pool_rule",
    "stage_log_terms",
    "stage_parts",
    "stem_parts",
    "final_parts",
    "unit_entropy",
    "log_width",
    "entropy_and_log_width",
]

# base cost quantities of the network body (stem, stages, final conv; no classifier), in the order
# every cost tuple of this module uses; LAYERS indexes the counted conv layers after them
COST_NAMES = ("params", "macs_torch", "macs_tinynas", "activations", "latency_ms")
LAYERS = len(COST_NAMES)
# budget quantities that are floats, not rounded integer counts (exact models loosen an integer
# row by a rounding unit, a float row only by a relative tolerance)
FLOAT_QUANTITIES = ("rho", "latency_ms")


def rounding_slack(name: str, limit: float, units: float) -> float:
    """Loosening of a budget row named ``name`` (``quantity`` or ``quantity<=``) for rounding:
    ``units`` for integer costs, a relative 1e-9 of ``limit`` for :data:`FLOAT_QUANTITIES`."""
    if name.rstrip("<=>") in FLOAT_QUANTITIES:
        return 1e-9 * max(1.0, abs(limit))
    return units


def se_of(b: Any) -> Any:
    """SE reduction width ``max(1, round(b / 4) // 8) * 8`` (TinyNAS), scalar or array."""
    if isinstance(b, np.ndarray):
        return np.maximum(1, np.round(0.25 * b) // 8) * 8
    return max(1, round(0.25 * b) // 8) * 8


def conv_bn_costs(cin: Any, cout: Any, k: Any, stride: int, side_out: Any, rf: Any,
                  lat: LatencyTerms | None = None, cls: str = "pw", side_in: Any = None) -> tuple[Any, ...]:
    """(params, torch MACs, TinyNAS MACs, activations, latency) of one dense conv + BN.

    ``side_out``: the true output side; ``rf``: TinyNAS's float input side (its MACs are per
    input pixel divided by ``stride^2``). Latency (0 without ``lat``) prices op class ``cls``
    with input side ``side_in`` (default ``side_out``).
    """
    w = cin * cout * k * k
    ms = 0.0 if lat is None else lat.conv(cls, cin, cout, k, 1, side_out if side_in is None else side_in, side_out)
    return (w + 2 * cout, w * side_out * side_out, (w + 3 * cout) / (stride * stride) * rf * rf,
            cout * side_out * side_out, ms)


def projection_rule(kind: BlockKind, shortcut: str, cin: Any, c: Any, s: int, first: bool) -> Any:
    """1 where the block has a 1x1 projection shortcut, else 0 (None: never)."""
    def differ() -> Any:  # the non-first blocks pass the same object twice
        return 0 if cin is c else (cin != c) * 1

    if shortcut == "torchvision":
        return 1 if s != 1 else differ()
    if kind.projection == "first":
        return 1 if first else differ()
    if kind.projection == "change":
        return differ()
    return None


def pool_rule(kind: BlockKind, shortcut: str, cin: Any, c: Any, s: int) -> Any:
    """TinyNAS MACs per input pixel of the 2x2 average-pool shortcut (stride-2 residuals).

    Kinds without a projection have a shortcut (and so a pool) only when ``c_in == c``.
    """
    if s != 2 or shortcut == "torchvision":
        return 0
    if kind.projection == "none":
        return cin * (cin == c)
    return cin


def projection_costs(shortcut: str, cin: Any, c: Any, s: int, ri: Any, ro: Any, rf: Any = 1.0,
                     lat: LatencyTerms | None = None) -> tuple[Any, ...]:
    """:func:`conv_bn_costs` of a block's 1x1 shortcut projection (``rf = 1``: TinyNAS MACs per
    input pixel).

    The TinyNAS shortcut average-pools a stride-2 input first (the conv reads side ``ro``);
    torchvision's projection is a strided 1x1 conv (it reads ``ri``).
    """
    return conv_bn_costs(cin, c, 1, s, ro, rf, lat, "pw", ri if shortcut == "torchvision" else ro)


def block_latency(lat: LatencyTerms, kind: BlockKind, cin: Any, c: Any, b: Any, k: Any, ri: Any, ro: Any,
                  se: Any) -> Any:
    """ms of one block without its projection: its convs, SE, output and per-block count.

    K1KXK1 / K1DW(SE)K1: 1x1 ``c_in -> b`` at ``ri``, kxk ``b -> b`` (``ri -> ro``), SE convs
    ``b -> se -> b`` at side 1 and the rescale over ``b ro^2``, 1x1 ``b -> c`` at ``ro``;
    KXKX: kxk ``c_in -> b`` (``ri -> ro``), kxk ``b -> c``.
    """
    if kind.layers_per_block == 2:
        ms = lat.kxk(False, cin, b, k, ri, ro) + lat.kxk(False, b, c, k, ro, ro)
    else:
        ms = lat.conv("pw", cin, b, 1, 1, ri, ri) + lat.kxk(kind.depthwise, b, b, k, ri, ro) + lat.conv("pw", b, c, 1, 1, ro, ro)
        if kind.se:
            ms = (ms + lat.conv("se", b, se, 1, 1, 1, 1) + lat.conv("se", se, b, 1, 1, 1, 1)
                  + lat.elem("se.elems", b, ro))
    return ms + lat.elem("block.out", c, ro) + lat.price({"block.count": 1.0})


def block_costs(kind: BlockKind, shortcut: str, cin: Any, c: Any, b: Any, k: Any, s: int,
                ri: Any, ro: Any, first: bool, se: Any = None, pool: bool = True,
                lat: LatencyTerms | None = None) -> tuple[Any, ...]:
    """(params, torch MACs, TinyNAS MACs per input pixel, activations, latency) of one block.

    Multiply the third entry by the block's float input side squared for TinyNAS MACs. ``se``
    overrides the SE width; ``pool=False`` leaves out the average-pool shortcut term (the only
    cost that is not monotone in the channels; the exact solver bounds it apart). Latency is 0
    without ``lat``.
    """
    s2 = s * s
    if kind.se:
        se = se_of(b) if se is None else se
    ms = 0.0 if lat is None else block_latency(lat, kind, cin, c, b, k, ri, ro, se)
    if kind.layers_per_block == 2:  # KXKX
        params = cin * b * k * k + b * c * k * k + 2 * b + 2 * c
        macs = ro * ro * (cin * b * k * k + b * c * k * k)
        acts = ro * ro * (b + c)
        rate = (cin * b * k * k + 2 * b + b * c * k * k + 2 * c + b + c) / s2
    else:  # K1-KX-K1, the kxk conv depthwise or dense
        mid = b * k * k if kind.depthwise else b * b * k * k
        params = cin * b + mid + b * c + 4 * b + 2 * c
        macs = ri * ri * cin * b + ro * ro * (mid + b * c)
        acts = ri * ri * b + ro * ro * (b + c)
        rate = cin * b + 2 * b + (mid + 2 * b + b * c + 2 * c) / s2 + b + (b + c) / s2
        if kind.se:
            params = params + 2 * b * se + 2 * se + 2 * b
            macs = macs + 2 * b * se
            acts = acts + se + b
    proj = projection_rule(kind, shortcut, cin, c, s, first)
    if proj is not None:
        pp, pm, pr, pa, pt = projection_costs(shortcut, cin, c, s, ri, ro, 1.0, lat)
        params = params + proj * pp
        macs = macs + proj * pm
        acts = acts + proj * pa
        rate = rate + proj * pr
        ms = ms + proj * pt
    if pool:
        rate = rate + pool_rule(kind, shortcut, cin, c, s)
    return params, macs, rate, acts, ms


def stage_costs(kind: BlockKind, shortcut: str, cin: Any, c: Any, b: Any, depth: Any, k: Any, s: int,
                ri: Any, ro: Any, rf: Any, se: Any = None, pool: bool = True,
                lat: LatencyTerms | None = None) -> tuple[Any, ...]:
    """(params, torch MACs, TinyNAS MACs, activations, latency) of a stage of ``depth`` blocks.

    The first block takes ``c_in`` and the stride; the ``depth - 1`` others map ``c -> c``.
    """
    p1, m1, f1, a1, t1 = block_costs(kind, shortcut, cin, c, b, k, s, ri, ro, True, se, pool, lat)
    p2, m2, f2, a2, t2 = block_costs(kind, shortcut, c, c, b, k, 1, ro, ro, False, se, pool, lat)
    n = depth - 1
    return p1 + n * p2, m1 + n * m2, f1 * rf * rf + n * f2 * (rf / s) ** 2, a1 + n * a2, t1 + n * t2


@functools.cache
def se_cost_terms(kind: BlockKind, lat: LatencyTerms | None = None) -> tuple[tuple[float, float], ...]:
    """Per cost quantity: ``(beta, gamma)`` with the SE part of a block's cost ``se (beta b + gamma)``.

    Read off :func:`block_costs` (affine in ``se`` for fixed ``b``; the SE convs sit at side 1,
    so no side enters), so it cannot drift from it.
    """
    def part(b: float) -> np.ndarray:
        with_se = block_costs(kind, "tinynas", 1.0, 1.0, b, 1.0, 1, 1.0, 1.0, False, se=1.0, pool=False, lat=lat)
        without = block_costs(kind, "tinynas", 1.0, 1.0, b, 1.0, 1, 1.0, 1.0, False, se=0.0, pool=False, lat=lat)
        return np.array(with_se, float) - np.array(without, float)

    gamma, at1 = part(0.0), part(1.0)
    return tuple((float(a - g), float(g)) for a, g in zip(at1, gamma))


def head_costs(cin: Any, num_classes: int) -> tuple[Any, Any, Any]:
    """(params, MACs, activations) of the linear classifier (torch convention only)."""
    if not num_classes:
        return 0, 0, 0
    return cin * num_classes + num_classes, cin * num_classes, num_classes


def head_latency(lat: LatencyTerms | None, cin: Any, num_classes: int, side: Any) -> Any:
    """ms of the head: the global pool over ``cin side^2``, the classifier and ``const``."""
    if lat is None:
        return 0.0
    ms = lat.elem("pool.elems", cin, side) + lat.const()
    if num_classes:
        ms = ms + lat.conv("linear", cin, num_classes, 1, 1, 1, 1)
    return ms


def quantity_row(quantity: str, convention: str, num_classes: int, lat: LatencyTerms | None = None,
                 last_side: Any = 1) -> tuple[np.ndarray, float, float, float]:
    """A budget quantity as ``weights . base + (hp + hm) nc c_f + const``.

    ``base`` is (:data:`COST_NAMES`, layers) of the body and ``c_f`` the classifier's input
    width; ``hp`` / ``hm`` price the classifier's params / MACs per ``nc c_f``. From
    :func:`head_costs`: torch params add ``nc c_f + nc``, torch MACs ``nc c_f``, activations ``nc``;
    from :func:`head_latency` (``last_side``: the side of the final feature map), latency adds
    ``(ms per c_f) c_f + ms at c_f = 0``, written per ``nc c_f``.
    """
    w, hp, hm, hc = np.zeros(LAYERS + 1), 0.0, 0.0, 0.0
    torch = convention == "torch"
    nc = float(num_classes)
    if quantity == "params":
        w[0] = 1.0
        if torch:
            hp, hc = 1.0, nc
    elif quantity in ("macs", "flops"):
        mult = 2.0 if quantity == "flops" else 1.0
        w[1 if torch else 2] = mult
        hm = mult if torch else 0.0
    elif quantity == "activations":
        w[3], hc = 1.0, nc
    elif quantity == "layers":
        w[LAYERS] = 1.0
    elif quantity == "latency_ms":
        w[COST_NAMES.index("latency_ms")] = 1.0
        hc = float(head_latency(lat, 0.0, num_classes, last_side))
        per_cf = float(head_latency(lat, 1.0, num_classes, last_side)) - hc
        if per_cf and not num_classes:
            raise ValueError("a latency row needs a classifier (num_classes > 0)")
        hm = per_cf / nc if num_classes else 0.0
    else:
        raise KeyError(quantity)
    return w, hp, hm, hc


@dataclass(frozen=True)
class Costs:
    """Network costs in both conventions (``tinynas`` params exclude the classifier)."""

    params_torch: int
    params_tinynas: int
    macs_torch: int
    macs_tinynas: int
    activations: int
    layers: int
    latency_ms: float = 0.0  # the latency model's prediction (0 without one)

    @classmethod
    def from_body(cls, body: tuple, layers: int, cin: int, num_classes: int,
                  lat: LatencyTerms | None = None, last_side: Any = 1) -> Costs:
        """Costs from the body's base costs (:data:`COST_NAMES`) and the classifier's input."""
        p, m, f, a, t = body
        hp, hm, ha = head_costs(cin, num_classes)
        return cls(int(round(p + hp)), int(round(p)), int(round(m + hm)), int(round(f)), int(a + ha), layers,
                   float(t + head_latency(lat, cin, num_classes, last_side)))

    def get(self, quantity: str, convention: str) -> float:
        """``quantity`` in params / macs / flops / activations / layers, in ``convention``."""
        if quantity == "params":
            return self.params_torch if convention == "torch" else self.params_tinynas
        if quantity in ("macs", "flops"):
            macs = self.macs_torch if convention == "torch" else self.macs_tinynas
            return 2 * macs if quantity == "flops" else macs
        if quantity == "activations":
            return self.activations
        if quantity == "layers":
            return self.layers
        if quantity == "latency_ms":
            return self.latency_ms
        raise KeyError(quantity)


class LogTerms(NamedTuple):
    """A unit's entropy parts as coefficients of the logs: ``X = cin ln c_in + c ln c + b ln b``,
    ``Y = k ln k`` (numbers, arrays over depths, or solver expressions)."""

    cin: Any
    c: Any
    b: Any
    k: Any


def stage_log_terms(kind: BlockKind, depth: Any) -> LogTerms:
    """Coefficients of a stage of ``depth`` blocks: ``(1, L - 1, L n_b, L n_k)``."""
    nb, nk = kind.entropy_exponents  # type: ignore[misc]
    return LogTerms(1, depth - 1, depth * nb, depth * nk)


def stage_parts(kind: BlockKind, depth: Any, lcin: Any, lc: Any, lb: Any, lk: Any) -> tuple[Any, Any]:
    """(X, Y) of a stage from the logs of its input width, width, bottleneck and kernel: the
    coefficients of :func:`stage_log_terms` times the logs (written out: the evaluators' hot path)."""
    nb, nk = kind.entropy_exponents  # type: ignore[misc]
    return lcin + (depth - 1) * lc + depth * nb * lb, depth * nk * lk


def stem_parts(in_channels: int, kernel: int, log: Any) -> tuple[Any, Any]:
    """(X, Y) of the stem conv: ``(ln c_in, 2 ln k)``."""
    return log(in_channels), 2 * log(kernel)


def final_parts(lcin: Any) -> tuple[Any, Any]:
    """(X, Y) of the final 1x1 conv: ``(ln c_in, 0)``."""
    return lcin, 0.0


def entropy_and_log_width(x: Any, y: Any, f: float, a1: float, a2: float) -> tuple[Any, Any]:
    """A unit's entropy term ``h = f (a1 X + a2 Y)`` (DeepMAD Sec. 3.2; f = 1 paper, 0.5 reference)
    and its log layer widths ``LW = X + Y = sum_l ln(c_in,l k_l^2 / g_l)`` (the rho term, Sec. 3.3)."""
    return f * (a1 * x + a2 * y), x + y


def unit_entropy(x: Any, y: Any, f: float, a1: float, a2: float) -> Any:
    """``h`` of :func:`entropy_and_log_width`."""
    return entropy_and_log_width(x, y, f, a1, a2)[0]


def log_width(x: Any, y: Any) -> Any:
    """``LW`` of :func:`entropy_and_log_width`."""
    return entropy_and_log_width(x, y, 0.0, 0.0, 0.0)[1]
