"""Shape threading for the ``torch`` convention: one tracer call per layer the builder creates.

Each ``trace_*`` function mirrors the corresponding module in :mod:`deepmad.models.blocks`
layer by layer (pycls's ``complexity(cx)`` pattern); tests check the result against
``torch.utils.flop_counter`` and ``sum(p.numel())`` on the built module for every preset and
for random specs, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable

from deepmad.cost.ic import ic_branch_cost
from deepmad.cost.report import LayerRecord
from deepmad.errors import SpecError
from deepmad.spec.blocks import ConvBNAct, ResNetStem, StageSpec, se_channels
from deepmad.spec.network import conv_out_size

__all__ = ["Tracer", "BLOCK_TRACERS", "trace_conv_bn_act", "trace_resnet_stem", "trace_stage"]


class Tracer:
    """Collects :class:`LayerRecord` s while a block walks its layers."""

    def __init__(self) -> None:
        self.records: list[LayerRecord] = []
        self.stage = "stem"
        self.block = 0

    def conv(self, name: str, cin: int, cout: int, k: int, s: int, g: int, size: int,
             counted: bool = True, conv_type: str = "plain") -> int:
        """A bias-free k x k conv with padding (k-1)//2; returns the output side.

        ``conv_type="ic"`` adds the IC-style unit's branch as two uncounted records,
        ``<name>.ic_gate`` (U and c) and ``<name>.ic_proj`` (V and gamma); see
        :mod:`deepmad.cost.ic`.
        """
        if conv_type not in ("plain", "ic"):
            raise SpecError(f"conv={conv_type!r} has no cost rule; allowed: plain, ic")
        out = conv_out_size(size, k, s)
        weights = cout * (cin // g) * k * k
        self._add(name, "conv", cin, cout, k, s, g, size, out, weights, weights * out * out, counted)
        if conv_type == "ic":
            ic = ic_branch_cost(cin, cout, k, g, out)
            m = ic.hidden_channels
            self._add(name + ".ic_gate", "conv", cin, m, k, s, g, size, out, ic.gate_params, ic.gate_macs, False)
            self._add(name + ".ic_proj", "conv", m, cout, 1, 1, g, out, out, ic.proj_params, ic.proj_macs, False)
        return out

    def bn(self, name: str, c: int, size: int) -> None:
        """BatchNorm2d: 2c affine parameters, no MACs in the torch convention."""
        self._add(name, "bn", c, c, 1, 1, 1, size, size, 2 * c, 0, False)

    def conv_bn(self, name: str, cin: int, cout: int, k: int, s: int, g: int, size: int,
                counted: bool = True, conv_type: str = "plain") -> int:
        """Conv followed by BN (TinyNAS ``ConvKXBN``); returns the output side."""
        out = self.conv(name, cin, cout, k, s, g, size, counted, conv_type)
        self.bn(name + ".bn", cout, out)
        return out

    def linear(self, name: str, cin: int, cout: int) -> None:
        """Linear layer with bias: MACs = cin * cout (bias excluded)."""
        self._add(name, "linear", cin, cout, 1, 1, 1, 1, 1, cin * cout + cout, cin * cout, False)

    def _add(self, name: str, op: str, cin: int, cout: int, k: int, s: int, g: int,
             size: int, out: int, params: int, macs: int, counted: bool) -> None:
        self.records.append(LayerRecord(self.stage, self.block, name, op, cin, cout, k, s, g,  # type: ignore[arg-type]
                                        size, out, params, macs, counted))


def trace_conv_bn_act(tr: Tracer, conv: ConvBNAct, cin: int, size: int) -> int:
    """``ConvBNAct``: one counted conv + BN."""
    return tr.conv_bn("conv", cin, conv.out_channels, conv.kernel_size, conv.stride, conv.groups,
                      size, conv_type=conv.conv)


def trace_resnet_stem(tr: Tracer, stem: ResNetStem, cin: int, size: int) -> int:
    """torchvision stem: k x k stride-2 conv + BN, then a 3x3 stride-2 max-pool (no cost)."""
    out = tr.conv_bn("conv", cin, stem.out_channels, stem.kernel_size, 2, 1, size)
    return conv_out_size(out, 3, 2)


def _shortcut(tr: Tracer, st: StageSpec, cin: int, stride: int, first: bool, size: int,
              projectable: bool) -> None:
    """Shortcut projection layers (if any), per the stage's shortcut rule."""
    if st.shortcut == "torchvision":
        if stride != 1 or cin != st.out_channels:
            tr.conv_bn("shortcut", cin, st.out_channels, 1, stride, 1, size, counted=False)
        return
    if projectable and (cin != st.out_channels or (first and st.kind.projection == "first")):
        pooled = conv_out_size(size, 1, stride)  # 2x2 avg-pool (ceil mode) has the conv's output side
        tr.conv_bn("shortcut", cin, st.out_channels, 1, 1, 1, pooled, counted=False)


def _k1kxk1(tr: Tracer, st: StageSpec, cin: int, stride: int, first: bool, size: int) -> int:
    b, c, k = st.bottleneck_channels, st.out_channels, st.kernel_size
    tr.conv_bn("conv1", cin, b, 1, 1, 1, size)
    out = tr.conv_bn("conv2", b, b, k, stride, 1, size, conv_type=st.conv)
    tr.conv_bn("conv3", b, c, 1, 1, 1, out)
    _shortcut(tr, st, cin, stride, first, size, projectable=True)
    return out


def _kxkx(tr: Tracer, st: StageSpec, cin: int, stride: int, first: bool, size: int) -> int:
    b, c, k = st.bottleneck_channels, st.out_channels, st.kernel_size
    out = tr.conv_bn("conv1", cin, b, k, stride, 1, size, conv_type=st.conv)
    tr.conv_bn("conv2", b, c, k, 1, 1, out, conv_type=st.conv)
    _shortcut(tr, st, cin, stride, first, size, projectable=True)
    return out


def _k1dwk1(tr: Tracer, st: StageSpec, cin: int, stride: int, first: bool, size: int) -> int:
    b, c, k = st.bottleneck_channels, st.out_channels, st.kernel_size
    tr.conv_bn("conv1", cin, b, 1, 1, 1, size)
    out = tr.conv_bn("conv2", b, b, k, stride, b, size, conv_type=st.conv)
    if st.kind.se:
        se = se_channels(b)
        tr.conv_bn("se.conv1", b, se, 1, 1, 1, 1, counted=False)
        tr.conv_bn("se.conv2", se, b, 1, 1, 1, 1, counted=False)
    tr.conv_bn("conv3", b, c, 1, 1, 1, out)
    _shortcut(tr, st, cin, stride, first, size, projectable=False)
    return out


BlockTracer = Callable[[Tracer, StageSpec, int, int, bool, int], int]
BLOCK_TRACERS: dict[str, BlockTracer] = {
    "res_k1kxk1": _k1kxk1,
    "res_kxkx": _kxkx,
    "res_k1dwk1": _k1dwk1,
    "res_k1dwsek1": _k1dwk1,
}


def trace_stage(tr: Tracer, st: StageSpec, cin: int, size: int, stage_name: str,
                on_block: Callable[[int, int, int, int], None]) -> int:
    """Trace every block of ``st``; ``on_block(index, cin, in_size, out_size)`` after each."""
    tr.stage = stage_name
    for i in range(st.depth):
        tr.block = i
        block_cin = cin if i == 0 else st.out_channels
        out = BLOCK_TRACERS[st.block](tr, st, block_cin, st.stride if i == 0 else 1, i == 0, size)
        on_block(i, block_cin, size, out)
        size = out
    return size
