"""Closed-form costs of the GhostNet block kinds (no torch), registered into the cost registries.

Papers: GhostNet (Han et al., CVPR 2020, arXiv 1911.11907) and S-GhostNet / Greedy Network
Enlarging (Liu et al., arXiv 2108.00177); block structure as in ``mindspore-ai/models``
``research/cv/S-GhostNet/src/big_net.py`` and :mod:`deepmad.spec.ghost`.

``torch`` convention: one tracer call per layer :mod:`deepmad.models.ghost` builds, so the totals
equal ``FlopCounterMode`` / 2 and ``sum(p.numel())``. The SE convs and the head's post-pool conv
have a bias: it counts in params, not in MACs (PyTorch's convention). Counted layers (DeepMAD
widths, :attr:`LayerRecord.counted`): the Ghost modules' primary and cheap convs, the stride-2
depthwise conv and the head's pre-pool 1x1 conv; not the SE, the shortcut or the post-pool conv.

``tinynas`` convention (the DeepMAD reference has no Ghost block; we extend its rules): every
conv + BN costs ``c_in c_out k^2 / g / s^2 + 2 c_out / s^2`` per input pixel and
``c_in c_out k^2 / g + 2 c_out`` params; each activation adds its output elements; SE params
count but SE FLOPs do not; the head's post-pool conv, like the classifier, counts in neither.
"""

from __future__ import annotations

from dataclasses import replace

from deepmad.cost.tinynas import TINYNAS_BLOCKS
from deepmad.cost.trace import BLOCK_TRACERS, Tracer
from deepmad.spec.blocks import StageSpec
from deepmad.spec.ghost import GHOST, GHOST_HEAD, check_ghost_stage, ghost_se_channels

__all__ = ["trace_ghost", "trace_ghost_head", "tinynas_ghost", "tinynas_ghost_head"]

Rate = tuple[float, float]  # (params, FLOPs per input pixel)


def _biased_conv(tr: Tracer, name: str, cin: int, cout: int, size: int) -> None:
    """A 1x1 conv with bias: the bias adds ``c_out`` params and no MACs."""
    tr.conv(name, cin, cout, 1, 1, 1, size, counted=False)
    rec = tr.records[-1]
    tr.records[-1] = replace(rec, params=rec.params + cout)


def _ghost_module(tr: Tracer, name: str, cin: int, cout: int, size: int) -> None:
    """1x1 primary conv+BN ``c_in -> c_out/2``, 3x3 depthwise cheap conv+BN on its output."""
    half = cout // 2
    tr.conv_bn(name + ".primary", cin, half, 1, 1, 1, size)
    tr.conv_bn(name + ".cheap", half, half, 3, 1, half, size)


def trace_ghost(tr: Tracer, st: StageSpec, cin: int, stride: int, first: bool, size: int) -> int:
    """Ghost bottleneck, layer by layer as :class:`deepmad.models.ghost.GhostBottleneck`."""
    check_ghost_stage(st)
    b, c, k = st.hidden_width(first), st.out_channels, st.kernel_size
    _ghost_module(tr, "ghost1", cin, b, size)
    out = size
    if stride > 1:
        out = tr.conv_bn("dw", b, b, k, stride, b, size)
    if st.se_ratio is not None:
        se = ghost_se_channels(b, st.se_ratio)
        _biased_conv(tr, "se.reduce", b, se, 1)
        _biased_conv(tr, "se.expand", se, b, 1)
    _ghost_module(tr, "ghost2", b, c, out)
    if cin != c or stride != 1:
        tr.conv_bn("shortcut.dw", cin, cin, k, stride, cin, size, counted=False)
        tr.conv_bn("shortcut.pw", cin, c, 1, 1, 1, out, counted=False)
    return out


def trace_ghost_head(tr: Tracer, st: StageSpec, cin: int, stride: int, first: bool, size: int) -> int:
    """GhostNet head: 1x1 conv+BN ``c_in -> b`` (counted), global pool, 1x1 conv+bias ``b -> c``."""
    check_ghost_stage(st)
    tr.conv_bn("conv", cin, st.bottleneck_channels, 1, 1, 1, size)
    _biased_conv(tr, "head_conv", st.bottleneck_channels, st.out_channels, 1)
    return 1


def _conv_bn(cin: int, cout: int, k: int, s: int, g: int = 1) -> Rate:
    """TinyNAS ``ConvKXBN``: params and FLOPs per input pixel."""
    return cin * cout * k * k / g + 2 * cout, cin * cout * k * k / s**2 / g + 2 * cout / s**2


def _ghost_module_rate(cin: int, cout: int, act: bool) -> Rate:
    half = cout // 2
    p1, f1 = _conv_bn(cin, half, 1, 1)
    p2, f2 = _conv_bn(half, half, 3, 1, half)
    return p1 + p2, f1 + f2 + (cout if act else 0)


def tinynas_ghost(st: StageSpec, cin: int, s: int, first: bool) -> Rate:
    """(params, FLOPs per input pixel) of one Ghost bottleneck in the TinyNAS convention."""
    check_ghost_stage(st)
    b, c, k = st.hidden_width(first), st.out_channels, st.kernel_size
    p, f = _ghost_module_rate(cin, b, act=True)
    if s > 1:
        pd, fd = _conv_bn(b, b, k, s, b)
        p, f = p + pd, f + fd
    if st.se_ratio is not None:
        se = ghost_se_channels(b, st.se_ratio)
        p += b * se + se + se * b + b  # params only, as the reference's SE
    p2, f2 = _ghost_module_rate(b, c, act=False)
    p, f = p + p2, f + f2 / s**2
    if cin != c or s != 1:
        pd, fd = _conv_bn(cin, cin, k, s, cin)
        pp, fp = _conv_bn(cin, c, 1, 1)
        p, f = p + pd + pp, f + fd + fp / s**2
    return p, f


def tinynas_ghost_head(st: StageSpec, cin: int, s: int, first: bool) -> Rate:
    """Pre-pool 1x1 ConvKXBNRELU only; the post-pool conv is part of the (uncounted) classifier."""
    check_ghost_stage(st)
    p, f = _conv_bn(cin, st.bottleneck_channels, 1, 1)
    return p, f + st.bottleneck_channels


BLOCK_TRACERS[GHOST] = trace_ghost
BLOCK_TRACERS[GHOST_HEAD] = trace_ghost_head
TINYNAS_BLOCKS[GHOST] = tinynas_ghost
TINYNAS_BLOCKS[GHOST_HEAD] = tinynas_ghost_head
