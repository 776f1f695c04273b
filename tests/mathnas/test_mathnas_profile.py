"""CNN block spaces (torch-free) and latency profiling on this machine (torch)."""

from __future__ import annotations

import itertools
import json

import pytest

from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.mathnas import (
    BlockTable,
    EstimateConfig,
    load_cnn_space,
    load_table_json,
    save_table_json,
)
from deepmad.spec import ConvBNAct, HeadSpec, NetworkSpec, StageSpec


def tiny_space_dict() -> dict:
    """2 stages x 2-3 options on 32x32 inputs: fast enough to time in a test."""
    base = NetworkSpec(
        stem=ConvBNAct(8, 3, 2),
        stages=(StageSpec("res_k1dwk1", 16, 32, 1, stride=2), StageSpec("res_k1dwk1", 24, 48, 1, stride=2)),
        head=HeadSpec(10), resolution=32,
    )
    return {"format": "deepmad.mathnas.cnn_space", "version": 1, "name": "tiny", "base": base.to_dict(),
            "nodes": [{"stage": 0, "options": [{"kernel_size": 3}, {"kernel_size": 5, "depth": 2}]},
                      {"stage": 1, "name": "last", "options": [{"kernel_size": 3}, {"bottleneck_channels": 96},
                                                               {"name": "deep", "depth": 3}]}]}


def test_demo_space_flops_are_exact() -> None:
    space = load_cnn_space("demo")
    assert space.space.size == 256 and space.space.nodes == ("stage1", "stage2", "stage3", "stage4")
    for arch in itertools.islice(itertools.product(range(4), repeat=4), 0, 256, 37):
        assert space.space.network_flops(arch) == 2 * count_network(space.spec_for(arch)).macs


def test_spec_for_applies_each_option() -> None:
    space = load_cnn_space(tiny_space_dict())
    assert space.space.options == (("k3", "k5-d2"), ("k3", "b96", "deep"))
    spec = space.spec_for((1, 2))
    assert spec.stages[0].kernel_size == 5 and spec.stages[0].depth == 2 and spec.stages[1].depth == 3
    assert space.spec_for((0, 1)).stages[1].bottleneck_channels == 96


@pytest.mark.parametrize("change, match", [
    ({"nodes": [{"stage": 5, "options": [{}]}]}, "out of range"),
    ({"nodes": [{"stage": 0, "options": [{"kernel": 3}]}]}, "unknown keys"),
    ({"nodes": [{"stage": 0, "options": [{"kernel_size": 4}]}]}, "odd kernel"),
    ({"version": 2}, "not a CNN space"),
])
def test_bad_spaces(change: dict, match: str) -> None:
    with pytest.raises(DeepmadError, match=match):
        load_cnn_space({**tiny_space_dict(), **change})


def fake_timing(monkeypatch: pytest.MonkeyPatch, latency, jitter: float = 0.0) -> None:
    """Replace real timing with ``latency(arch)`` ms, repeats spread by +-jitter (relative).

    Unit tests must not depend on this shared machine's speed (timings go to ``benchmarks/``).
    """
    from deepmad.mathnas import profile as P

    def samples(self, arch):  # noqa: ANN001, ANN202
        base = latency(tuple(arch))
        return [base * (1 + jitter * k) for k in (-1, -0.5, 0, 0.5, 1)] * max(1, self.config.repeats // 5)
    monkeypatch.setattr(P.LatencyEvaluator, "time_samples", samples)


def flops_latency(space):  # noqa: ANN001, ANN201
    """An additive stand-in for a device: 0.05 ms + 1 ms per MFLOP (exact for the tiny space's table)."""
    return lambda arch: 0.05 + space.space.network_flops(arch) / 1e6


def test_latency_profile_pipeline(tmp_path, monkeypatch) -> None:
    pytest.importorskip("torch")
    from deepmad.mathnas.profile import (
        LatencyEvaluator,
        TimingConfig,
        check_additivity,
        profile_space,
    )

    space = load_cnn_space(tiny_space_dict())
    fake_timing(monkeypatch, flops_latency(space))
    timing = TimingConfig("cpu", warmup=1, repeats=5, threads=1, statistic="min", clock="cpu")
    est = profile_space(space, timing, EstimateConfig("single"))
    assert est.evaluations <= 1 + 1 + 2 + 1
    table = est.table
    assert set(table.metrics) == {"latency", "flops"} and table.metric("latency").unit == "ms"
    assert table.metric("latency").base > 0 and table.device == "cpu"
    back = load_table_json(save_table_json(table, tmp_path / "lat.json"))
    assert isinstance(back, BlockTable) and back.metric("latency").delta == table.metric("latency").delta
    v, archs, measured = check_additivity(space, table, LatencyEvaluator(space, timing), 4, seed=0)
    assert v.count == len(archs) == len(measured) and all(m > 0 for m in measured)
    assert v.mae == pytest.approx(0.0, abs=1e-9)  # the device is additive: the table predicts it exactly
    json.dumps(v.to_dict())


def test_timing_config_errors() -> None:
    pytest.importorskip("torch")
    from deepmad.mathnas.profile import TimingConfig

    with pytest.raises(DeepmadError, match="allowed: cpu, cuda"):
        TimingConfig("tpu")
    with pytest.raises(DeepmadError, match="allowed: median, min"):
        TimingConfig(statistic="mean")
    with pytest.raises(DeepmadError, match="threads=1"):
        TimingConfig(clock="cpu")


def test_latency_evaluator_times_real_networks() -> None:
    """The real clock path: positive times, one per repeat, a spread recorded (values not judged)."""
    pytest.importorskip("torch")
    from deepmad.mathnas.profile import LatencyEvaluator, TimingConfig

    space = load_cnn_space(tiny_space_dict())
    for clock in ("cpu", "wall"):
        timer = LatencyEvaluator(space, TimingConfig("cpu", warmup=1, repeats=3, threads=1, statistic="min",
                                                     clock=clock))
        assert timer.time_arch((0, 0)) > 0 and len(timer.time_samples((1, 2))) == 3
        assert timer.calls == 2 and len(timer.spreads) == 1
        row = timer((0, 1))
        assert row["latency"] > 0 and row["flops"] == space.space.network_flops((0, 1))
