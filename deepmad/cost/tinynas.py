"""The DeepMAD reference's ("TinyNAS") params/FLOPs convention, reproduced exactly.

Reference: alibaba/lightweight-neural-architecture-search @ 8ccaf88, ``blocks_basic.py``
(``ConvKXBN``, ``ConvKXBNRELU``, ``SE``, ``BaseSuperBlock``), ``super_res_k1kxk1.py``,
``super_res_kxkx.py``, ``super_res_k1dwk1.py``, ``super_res_k1dwsek1.py``, ``cnnnet.py``.

Every conv+BN costs ``in*out*k^2/g/s^2 + 2*out/s^2`` per *input* pixel and ``in*out*k^2/g + 2*out``
params; each ReLU adds its output elements; a stride-2 residual adds ``in`` per input pixel for the
2x2 avg-pool; SE params count but SE FLOPs do not; the classifier counts in neither. Costs are
per-pixel rates times ``R^2`` where ``R`` is walked with float division by each stride (so odd
sizes are not floored, as in the reference). These "FLOPs" are MACs plus the extras above.
Blocks the reference lacks (torchvision stem/shortcut) follow the same rules: the stem is a
7x7 ConvKXBNRELU (max-pool free), a torchvision projection is a ConvKXBN at the output side plus
its ReLU-rate term like the reference's projection. One departure: ``SuperResKXKX`` in the
reference prices its second conv and first ReLU at the block's input side (4x too much for a
stride-2 block); we use the output side (no DeepMAD config uses KXKX blocks).
IC convs (``conv="ic"``, the project's IC-style unit, not in the reference) add the rate of
:func:`deepmad.cost.ic.ic_tinynas_rate` to their ``ConvKXBN``.
"""

from __future__ import annotations

from collections.abc import Callable

from deepmad.cost.ic import ic_tinynas_rate
from deepmad.spec.blocks import ConvBNAct, ResNetStem, StageSpec, se_channels

__all__ = ["TINYNAS_BLOCKS", "tinynas_conv_bn_act", "tinynas_stem", "tinynas_block"]

Rate = tuple[float, float]  # (params, FLOPs per input pixel)


def _conv_bn(cin: int, cout: int, k: int, s: int, g: int = 1, conv: str = "plain") -> Rate:
    """``ConvKXBN``: params and FLOPs per input pixel (plus the IC branch for ``conv="ic"``)."""
    p, f = cin * cout * k * k / g + 2 * cout, cin * cout * k * k / s**2 / g + 2 * cout / s**2
    if conv == "ic":
        ip, fi = ic_tinynas_rate(cin, cout, k, s, g)
        p, f = p + ip, f + fi
    return p, f


def tinynas_conv_bn_act(conv: ConvBNAct, cin: int) -> Rate:
    """``ConvKXBNRELU``: conv+BN plus one ReLU per output element."""
    p, f = _conv_bn(cin, conv.out_channels, conv.kernel_size, conv.stride, conv.groups, conv.conv)
    return p, f + conv.out_channels / conv.stride**2


def tinynas_stem(stem: ConvBNAct | ResNetStem, cin: int) -> Rate:
    """Stem rate; a torchvision stem counts as a stride-2 ConvKXBNRELU (max-pool free)."""
    if isinstance(stem, ResNetStem):
        return tinynas_conv_bn_act(ConvBNAct(stem.out_channels, stem.kernel_size, 2), cin)
    return tinynas_conv_bn_act(stem, cin)


def _residual(st: StageSpec, cin: int, s: int, first: bool, projectable: bool) -> Rate:
    c = st.out_channels
    if st.shortcut == "torchvision":
        if s == 1 and cin == c:
            return 0.0, 0.0
        p, f = _conv_bn(cin, c, 1, s)
        return p, f + c / s**2
    force = first and st.kind.projection == "first"
    if projectable and (cin != c or force):
        p, f = _conv_bn(cin, c, 1, 1)
        p, f = p, f / s**2 + c / s**2
    elif cin == c:
        p, f = 0.0, 0.0
    else:
        return 0.0, 0.0  # depthwise kinds: no shortcut at all when in != out
    return p, f + (cin if s == 2 else 0.0)


def _k1kxk1(st: StageSpec, cin: int, s: int, first: bool) -> Rate:
    b, c, k = st.bottleneck_channels, st.out_channels, st.kernel_size
    p1, f1 = _conv_bn(cin, b, 1, 1)
    p2, f2 = _conv_bn(b, b, k, s, conv=st.conv)
    p3, f3 = _conv_bn(b, c, 1, 1)
    relu = b + b / s**2 + c / s**2
    pr, fr = _residual(st, cin, s, first, projectable=True)
    return p1 + p2 + p3 + pr, f1 + f2 + f3 / s**2 + relu + fr


def _kxkx(st: StageSpec, cin: int, s: int, first: bool) -> Rate:
    b, c, k = st.bottleneck_channels, st.out_channels, st.kernel_size
    p1, f1 = _conv_bn(cin, b, k, s, conv=st.conv)
    p2, f2 = _conv_bn(b, c, k, 1, conv=st.conv)
    # The reference evaluates conv2 (and conv1's ReLU) at the block's input side, which
    # over-counts stride-2 blocks 4x; KXKX is not used by any DeepMAD config, so we count
    # both at the true output side instead (a documented departure).
    f2 /= s**2
    relu = b / s**2 + c / s**2
    pr, fr = _residual(st, cin, s, first, projectable=True)
    return p1 + p2 + pr, f1 + f2 + relu + fr


def _k1dwk1(st: StageSpec, cin: int, s: int, first: bool) -> Rate:
    b, c, k = st.bottleneck_channels, st.out_channels, st.kernel_size
    p1, f1 = _conv_bn(cin, b, 1, 1)
    p2, f2 = _conv_bn(b, b, k, s, g=b, conv=st.conv)
    p3, f3 = _conv_bn(b, c, 1, 1)
    se_p = 0.0
    if st.kind.se:
        se = se_channels(b)
        se_p = _conv_bn(b, se, 1, 1)[0] + _conv_bn(se, b, 1, 1)[0]  # params only
    relu = b + b / s**2 + c / s**2
    pr, fr = _residual(st, cin, s, first, projectable=False)
    return p1 + p2 + p3 + se_p + pr, f1 + f2 + f3 / s**2 + relu + fr


TINYNAS_BLOCKS: dict[str, Callable[[StageSpec, int, int, bool], Rate]] = {
    "res_k1kxk1": _k1kxk1,
    "res_kxkx": _kxkx,
    "res_k1dwk1": _k1dwk1,
    "res_k1dwsek1": _k1dwk1,
}


def tinynas_block(st: StageSpec, cin: int, stride: int, first: bool) -> Rate:
    """(params, FLOPs per input pixel) of one block of stage ``st``."""
    return TINYNAS_BLOCKS[st.block](st, cin, stride, first)
