"""``count_network(spec) -> CostReport``: closed-form integer costs in either convention."""

from __future__ import annotations

import os

from deepmad.cost.report import CONVENTIONS, BlockCost, CostReport, LayerRecord, StageCost
from deepmad.cost.tinynas import tinynas_block, tinynas_conv_bn_act, tinynas_stem
from deepmad.cost.trace import Tracer, trace_conv_bn_act, trace_resnet_stem, trace_stage
from deepmad.errors import DeepmadError, SpecError
from deepmad.spec.blocks import ResNetStem
from deepmad.spec.network import NetworkSpec
from deepmad.spec.resolve import load_spec

__all__ = ["count_network"]


def _sum_block(stage: str, index: int, recs: list[LayerRecord], cin: int, cout: int,
               in_size: int, out_size: int, rate: tuple[float, float] | None,
               res: float) -> BlockCost:
    """Block totals; ``rate`` (tinynas params, FLOPs per input pixel) overrides torch costs."""
    params = sum(r.params for r in recs)
    macs = sum(r.macs for r in recs)
    if rate is not None:
        params, macs = rate[0], rate[1] * res * res  # type: ignore[assignment]
    acts = sum(r.out_channels * r.out_size**2 for r in recs if r.op != "bn")
    layers = sum(1 for r in recs if r.counted)
    return BlockCost(stage, index, params, macs, acts, layers, cin, cout, in_size, out_size)  # type: ignore[arg-type]


def _as_spec(spec: object) -> NetworkSpec:
    """A spec, a preset name or a spec file path, as :func:`deepmad.create_model` accepts."""
    if isinstance(spec, str | os.PathLike):
        return load_spec(spec)
    if not isinstance(spec, NetworkSpec):
        raise SpecError(f"spec={spec!r} is invalid; expected a NetworkSpec, a preset name or a spec file path")
    return spec


def count_network(spec: NetworkSpec | str | os.PathLike[str], convention: str = "torch",
                  resolution: int | None = None) -> CostReport:
    """Closed-form costs of ``spec``.

    Args:
        spec: The network: a :class:`NetworkSpec`, a preset name, or a spec ``.json`` / TinyNAS
            ``.txt`` path (as :func:`deepmad.create_model` accepts).
        convention: ``"torch"`` (MACs of conv + linear without bias, every parameter; equals
            ``FlopCounterMode`` / 2 and ``sum(p.numel())``) or ``"tinynas"`` (the DeepMAD
            reference: BN 2/element, ReLU 1/element, avg-pool shortcut, no SE MACs, no
            classifier in params or MACs).
        resolution: Input side; defaults to ``spec.resolution``.

    Returns:
        A frozen :class:`CostReport` with integer totals and per-stage / per-block records.
    """
    spec = _as_spec(spec)
    if convention not in CONVENTIONS:
        raise DeepmadError(f"convention={convention!r} is invalid; allowed: {', '.join(CONVENTIONS)}")
    tn = convention == "tinynas"
    r = spec.resolution if resolution is None else resolution
    if not isinstance(r, int) or r <= 0:
        raise DeepmadError(f"resolution={r!r} is invalid; expected a positive integer")
    tr = Tracer()
    blocks: list[BlockCost] = []
    res = float(r)  # the reference's float resolution walk

    def take(start: int) -> list[LayerRecord]:
        return tr.records[start:]

    # stem
    start = len(tr.records)
    if isinstance(spec.stem, ResNetStem):
        size = trace_resnet_stem(tr, spec.stem, spec.in_channels, r)
    else:
        size = trace_conv_bn_act(tr, spec.stem, spec.in_channels, r)
    rate = tinynas_stem(spec.stem, spec.in_channels) if tn else None
    blocks.append(_sum_block("stem", 0, take(start), spec.in_channels, spec.stem.out_channels, r, size, rate, res))
    res /= spec.stem.stride

    # stages
    for si, st in enumerate(spec.stages):
        name = f"stage{si + 1}"

        def on_block(i: int, cin: int, in_size: int, out_size: int, _st=st, _name=name) -> None:
            nonlocal res, start
            stride = _st.stride if i == 0 else 1
            rate = tinynas_block(_st, cin, stride, i == 0) if tn else None
            blocks.append(_sum_block(_name, i, take(start), cin, _st.out_channels, in_size, out_size, rate, res))
            res /= stride
            start = len(tr.records)

        start = len(tr.records)
        size = trace_stage(tr, st, spec.stage_in_channels(si), size, name, on_block)

    _trace_tail(spec, tr, blocks, size, res, tn)
    return _report(spec, convention, r, blocks, tr.records)


def _trace_tail(spec: NetworkSpec, tr: Tracer, blocks: list[BlockCost], size: int, res: float,
                tn: bool) -> None:
    """Trace the final conv and the classifier (``res``: the reference's float side)."""
    if spec.final_conv is not None:
        tr.stage, tr.block, start = "final_conv", 0, len(tr.records)
        cin = spec.stage_in_channels(len(spec.stages))
        in_size = size
        size = trace_conv_bn_act(tr, spec.final_conv, cin, size)
        rate = tinynas_conv_bn_act(spec.final_conv, cin) if tn else None
        blocks.append(_sum_block("final_conv", 0, tr.records[start:], cin, spec.final_conv.out_channels,
                                 in_size, size, rate, res))
        res /= spec.final_conv.stride
    if spec.head.num_classes > 0:
        tr.stage, tr.block, start = "head", 0, len(tr.records)
        tr.linear("fc", spec.num_features, spec.head.num_classes)
        rate = (0.0, 0.0) if tn else None
        blocks.append(_sum_block("head", 0, tr.records[start:], spec.num_features, spec.head.num_classes,
                                 1, 1, rate, res))


def _report(spec: NetworkSpec, convention: str, r: int, blocks: list[BlockCost],
            records: list[LayerRecord]) -> CostReport:
    order: list[str] = []
    for b in blocks:
        if b.stage not in order:
            order.append(b.stage)
    stages = []
    for name in order:
        bs = [b for b in blocks if b.stage == name]
        stages.append(StageCost(
            name=name,
            params=int(round(sum(b.params for b in bs))),
            macs=int(round(sum(b.macs for b in bs))),
            activations=sum(b.activations for b in bs),
            layers=sum(b.layers for b in bs),
            depth=len(bs),
            out_channels=bs[-1].out_channels,
            out_size=bs[-1].out_size,
        ))
    return CostReport(
        convention=convention,
        resolution=r,
        params=int(round(sum(b.params for b in blocks))),
        macs=int(round(sum(b.macs for b in blocks))),
        activations=sum(b.activations for b in blocks),
        layers=sum(b.layers for b in blocks),
        stages=tuple(stages),
        blocks=tuple(blocks),
        layer_records=tuple(records),
    )
