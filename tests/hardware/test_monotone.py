"""The latency model is non-decreasing in every width, bottleneck and depth (property tests)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deepmad.cost import count_network
from deepmad.errors import SpecError
from deepmad.hardware.calibration import Calibration
from deepmad.hardware.features import (
    CONV_CLASSES,
    FEATURE_NAMES,
    conv_terms,
    network_features,
)
from deepmad.spec import BLOCK_KINDS, ConvBNAct, NetworkSpec, ResNetStem, StageSpec

from ._helpers import layer_price

FP = {"batch": 1, "mode": "inference"}
KINDS = sorted(k for k in BLOCK_KINDS if k != "ghost_head")


def _stage(
    kind: str, c: int, b: int, depth: int, stride: int, k: int, shortcut: str, b1: int
) -> StageSpec:
    extra = (
        {"first_bottleneck_channels": b1, "se_ratio": 0.25}
        if kind == "ghost"
        else {"shortcut": shortcut}
    )
    return StageSpec(
        block=kind,
        out_channels=c,
        bottleneck_channels=b,
        depth=depth,
        stride=stride,
        kernel_size=k,
        **extra,
    )


@st.composite
def specs(draw: st.DrawFn) -> NetworkSpec:
    even = st.integers(4, 96).map(lambda v: 2 * v)
    n = draw(st.integers(1, 3))
    stages = []
    for _ in range(n):
        kind = draw(st.sampled_from(KINDS))
        stages.append(
            _stage(
                kind,
                draw(even),
                draw(even),
                draw(st.integers(1, 3)),
                draw(st.sampled_from([1, 2])),
                draw(st.sampled_from([3, 5, 7])),
                draw(st.sampled_from(["tinynas", "torchvision"])),
                draw(even),
            )
        )
    if draw(st.booleans()):
        stages.append(
            StageSpec(
                block="ghost_head",
                out_channels=draw(even),
                bottleneck_channels=draw(even),
                depth=1,
                stride=1,
                kernel_size=1,
            )
        )
    stem = (
        ResNetStem(out_channels=draw(even)) if draw(st.booleans()) else ConvBNAct(draw(even), 3, 2)
    )
    final = ConvBNAct(draw(even), 1) if draw(st.booleans()) else None
    return NetworkSpec(
        stem=stem,
        stages=tuple(stages),
        final_conv=final,
        resolution=draw(st.sampled_from([32, 64, 96])),
    )


def _calibration(seed: int) -> Calibration:
    rng = np.random.default_rng(seed)
    w = rng.exponential(1.0, len(FEATURE_NAMES)) * (rng.random(len(FEATURE_NAMES)) < 0.7)
    return Calibration(FP, dict(zip(FEATURE_NAMES, w.tolist())))


def _removed_cost(cal: Calibration, before: NetworkSpec, after: NetworkSpec) -> float:
    """Price of the layers ``before`` has and ``after`` lacks (must be shortcut projections)."""
    keys_after = {(r.stage, r.block, r.name) for r in count_network(after).layer_records}
    cost = 0.0
    for r in count_network(before).layer_records:
        if (r.stage, r.block, r.name) in keys_after:
            continue
        assert r.name.startswith("shortcut"), f"a wider/deeper network lost layer {r}"
        if r.op != "bn":
            cost += layer_price(cal, r)
    return cost


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    spec=specs(),
    seed=st.integers(0, 2**31 - 1),
    index=st.integers(0, 3),
    field=st.sampled_from(
        ["out_channels", "bottleneck_channels", "depth", "first_bottleneck_channels"]
    ),
    delta=st.integers(1, 40).map(lambda v: 2 * v),
)
def test_prediction_never_drops_when_a_stage_grows(
    spec: NetworkSpec, seed: int, index: int, field: str, delta: int
) -> None:
    assume(index < len(spec.stages))
    st_ = spec.stages[index]
    assume(getattr(st_, field) is not None)
    assume(not (st_.block == "ghost_head" and field == "depth"))
    try:
        bigger = spec.with_stage(
            index, **{field: getattr(st_, field) + (1 if field == "depth" else delta)}
        )
    except SpecError:
        assume(False)
    cal = _calibration(seed)
    before, after = cal.predict(spec).total_ms, cal.predict(bigger).total_ms
    # the architecture itself can lose a shortcut projection (c_in == c): only that may lower it
    assert after + _removed_cost(cal, spec, bigger) >= before * (1 - 1e-12)


def test_monotone_case_really_exercises_growth() -> None:
    spec = NetworkSpec(
        stem=ConvBNAct(32, 3, 2),
        stages=(_stage("res_k1dwsek1", 64, 128, 2, 2, 5, "tinynas", 0),),
        resolution=64,
    )
    cal = _calibration(1)
    wider = spec.with_stage(0, bottleneck_channels=256)
    assert cal.predict(wider).total_ms > cal.predict(spec).total_ms


@pytest.mark.parametrize("cls", CONV_CLASSES)
def test_layer_features_non_decreasing_in_channels(cls: str) -> None:
    """Every per-layer feature is non-decreasing in c_in and c_out (depthwise: in b)."""
    c = np.arange(1, 600)
    for k in (1, 3, 5, 7):
        for side in (1, 7, 14, 56):
            if cls in ("dw3", "dw5"):
                rows = [conv_terms(cls, c, c, k, c, side, side)]
            else:
                rows = [
                    conv_terms(cls, c, 64, k, 1, side, side),
                    conv_terms(cls, 64, c, k, 1, side, side),
                ]
            for terms in rows:
                for name, v in terms.items():
                    v = np.broadcast_to(np.asarray(v, float), c.shape)
                    assert np.all(np.diff(v) >= 0), (cls, name, k, side)
                    assert np.all(v >= 0)


def test_conv_terms_same_on_numbers_and_arrays() -> None:
    cin, cout, side = np.array([8, 40, 300]), np.array([16, 33, 512]), np.array([7, 14, 56])
    arr = conv_terms("dense3", cin, cout, 3, 1, side * 2, side, batch=4)
    for i in range(3):
        one = conv_terms(
            "dense3", int(cin[i]), int(cout[i]), 3, 1, int(side[i] * 2), int(side[i]), batch=4
        )
        assert set(one) == set(arr)
        for name in one:
            assert float(one[name]) == pytest.approx(
                float(np.asarray(arr[name])[i] if np.ndim(arr[name]) else arr[name])
            )


def test_network_features_use_only_known_names_and_batch_scales() -> None:
    spec = NetworkSpec(
        stem=ConvBNAct(16, 3, 2),
        stages=(
            _stage("res_k1kxk1", 64, 16, 2, 2, 3, "tinynas", 0),
            _stage("res_k1dwsek1", 96, 192, 2, 2, 5, "tinynas", 0),
        ),
        resolution=64,
    )
    f1, f4 = network_features(spec, 1), network_features(spec, 4)
    assert set(f1) <= set(FEATURE_NAMES)
    assert f4["pw.macs"] == 4 * f1["pw.macs"] and f4["pw.weights"] == f1["pw.weights"]
    assert (
        f1["pw.macs"]
        + f1["dense3.macs"]
        + f1["dw5.macs"]
        + f1["se.macs"]
        + f1["stem.macs"]
        + f1["linear.macs"]
        == count_network(spec).macs
    )


def test_ghost_specs_are_generated() -> None:
    spec = NetworkSpec(
        stem=ConvBNAct(16, 3, 2),
        stages=(_stage("ghost", 32, 64, 2, 2, 3, "tinynas", 48),),
        resolution=32,
    )
    assert dataclasses.replace(spec.stages[0]).first_bottleneck_channels == 48
    assert network_features(spec)["se.macs"] > 0
