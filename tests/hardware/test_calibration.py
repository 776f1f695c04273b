"""Calibration file round trip, corrupt files, predictions, and resuming from the cache (no clock)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepmad.errors import DeepmadError
from deepmad.hardware.calibration import Calibration
from deepmad.hardware.campaign import CalibrateConfig, cache_path, calibrate
from deepmad.hardware.features import FEATURE_NAMES, network_features
from deepmad.hardware.measure import Measurement, TimingSettings, combine_passes, reject_outliers
from deepmad.hardware.sample import SampleConfig
from deepmad.spec import NetworkSpec, get_preset

from ._helpers import layer_price

FP = {
    "batch": 1,
    "mode": "inference",
    "cpu": "test cpu",
    "torch": "0",
    "device": "cpu",
    "threads": 1,
}


def _cal() -> Calibration:
    w = {n: 1e-6 * (i + 1) for i, n in enumerate(FEATURE_NAMES)}
    return Calibration(dict(FP), w, 1e-4, {"heldout": {"n": 0}}, {"space": "all"})


def test_round_trip(tmp_path: Path) -> None:
    cal = _cal()
    cal.save(tmp_path / "cal.json")
    back = Calibration.load(tmp_path / "cal.json")
    assert back == cal
    spec = get_preset("resnet18").replace(resolution=64)
    assert back.predict(spec) == cal.predict(spec)


def test_prediction_is_the_sum_of_its_stages_and_the_features() -> None:
    cal = _cal()
    spec = get_preset("deepmad_29m_224").replace(resolution=96)
    pred = cal.predict(spec)
    assert [s.name for s in pred.stages][:2] == ["stem", "stage1"]
    assert "final_conv" in [s.name for s in pred.stages] and pred.stages[-1].name == "head"
    assert pred.total_ms == pytest.approx(sum(s.ms for s in pred.stages) + pred.overhead_ms)
    assert pred.total_ms == pytest.approx(cal.evaluate(network_features(spec, 1)))
    assert pred.overhead_ms == pytest.approx(cal.coefficients["const"])
    d = pred.to_dict()
    assert {"predicted_ms", "stages"} <= set(d) and d["stages"][0]["name"] == "stem"


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not a deepmad-calibration"),
        ('{"format": "deepmad-calibration", "version": 9}', "version=9"),
        ('{"format": "deepmad-calibration", "version": 1, "fingerprint": {}}', "coefficients"),
    ],
)
def test_corrupt_file_is_a_one_line_error(tmp_path: Path, content: str, match: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(DeepmadError, match=match) as info:
        Calibration.load(p)
    assert "\n" not in str(info.value)


def test_negative_or_unknown_coefficients_are_rejected(tmp_path: Path) -> None:
    data = _cal().to_dict()
    data["coefficients"]["pw.macs"] = -1.0
    (tmp_path / "neg.json").write_text(json.dumps(data))
    with pytest.raises(DeepmadError, match="negative"):
        Calibration.load(tmp_path / "neg.json")
    with pytest.raises(DeepmadError, match="not model features"):
        Calibration(FP, {"bogus": 1.0})
    with pytest.raises(DeepmadError, match="does not exist"):
        Calibration.load(tmp_path / "missing.json")


def test_fingerprint_mismatches_are_listed() -> None:
    cal = _cal()
    assert cal.mismatches(dict(FP)) == []
    got = cal.mismatches({**FP, "cpu": "other cpu", "threads": 4})
    assert len(got) == 2 and got[0].startswith("cpu:")


def test_outlier_rejection() -> None:
    kept, dropped = reject_outliers([10.0, 10.1, 9.9, 10.05, 9.95, 30.0])
    assert dropped == 1 and max(kept) < 11
    assert reject_outliers([5.0, 5.0, 5.0]) == ([5.0, 5.0, 5.0], 0)


class FakeTimer:
    """Times a network as a known linear function of its features (no clock)."""

    def __init__(self, log: list[str], fail_after: int | None = None) -> None:
        self.log, self.fail_after = log, fail_after

    def time(self, spec: NetworkSpec) -> Measurement:
        if self.fail_after is not None and len(self.log) >= self.fail_after:
            raise KeyboardInterrupt
        self.log.append(spec.name)
        f = network_features(spec, 1)
        ms = 1e-7 * f["pw.macs"] + 2e-7 * f.get("dense3.macs", 0) + 1e-6 * f["block.out"] + 0.05
        return Measurement(ms, 0.01, 5, 0, "fake")


def _config(**kw: Any) -> CalibrateConfig:
    sample = SampleConfig("all", (32, 48), batch=1, min_macs=1e5, max_macs=5e7)
    return CalibrateConfig(
        TimingSettings(), sample, networks=kw.pop("networks", 30), holdout=0.3, presets=False, **kw
    )


def test_calibrate_fits_and_resumes_from_its_cache(tmp_path: Path) -> None:
    out, log = tmp_path / "cal.json", []
    with pytest.raises(KeyboardInterrupt):  # interrupted after 12 measurements
        calibrate(_config(), out, progress=lambda s: None, timer_factory=lambda: FakeTimer(log, 12))
    assert len(log) == 12 and cache_path(out).is_file() and not out.exists()
    log2: list[str] = []
    cal = calibrate(_config(), out, progress=lambda s: None, timer_factory=lambda: FakeTimer(log2))
    assert len(log2) == 30 - 12 and not set(log2) & set(log)  # only the rest was measured
    assert cal.info["measured_now"] == 18 and cal.info["from_cache"] == 12
    assert cal.accuracy["heldout"]["n"] == 9 and cal.accuracy["heldout"]["mape"] < 1.0

    def no_timer() -> FakeTimer:
        raise AssertionError("a complete cache must not measure again")

    again = calibrate(_config(), out, progress=lambda s: None, timer_factory=no_timer)
    assert again.coefficients == cal.coefficients
    assert Calibration.load(out) == again


def test_passes_keep_the_least_loaded_and_resume(tmp_path: Path) -> None:
    out, log = tmp_path / "cal.json", []

    class Loaded(FakeTimer):  # the second pass runs on a machine twice as loaded
        def time(self, spec: NetworkSpec) -> Measurement:
            m = super().time(spec)
            return dataclasses.replace(
                m, median_ms=m.median_ms * (2.0 if self.log.count(spec.name) > 1 else 1.0)
            )

    with pytest.raises(KeyboardInterrupt):  # interrupted in the second pass
        calibrate(
            _config(networks=8, passes=2),
            out,
            progress=lambda s: None,
            timer_factory=lambda: Loaded(log, 11),
        )
    cal = calibrate(
        _config(networks=8, passes=2),
        out,
        progress=lambda s: None,
        timer_factory=lambda: Loaded(log),
    )
    assert (
        len(log) == 16
        and cal.info["measured_now"] == 5
        and cal.info["from_cache"] == 11
        and cal.info["passes"] == 2
    )
    assert all(n["pass_spread"] == pytest.approx(1.0) for n in cal.info["networks"])
    assert cal.accuracy["train"]["mape"] < 1.0  # the fit saw the unloaded pass only
    assert (
        combine_passes(
            [Measurement(2.0, 0.1, 5, 0, "c"), Measurement(1.0, 0.2, 5, 1, "c")]
        ).median_ms
        == 1.0
    )


def test_reference_ratios_cancel_a_drifting_machine_speed(tmp_path: Path) -> None:
    """Raw times scaled by a random machine speed per network (0.6-2.5x); the ratios to the
    reference (timed at the same speed) recover the true times at the median reference speed."""
    rng = np.random.default_rng(0)

    class Drifting(FakeTimer):
        def __init__(self, reference: bool = True) -> None:
            super().__init__([])
            self.reference = reference

        def time(self, spec: NetworkSpec) -> Measurement:
            m, speed = super().time(spec), float(rng.uniform(0.6, 2.5))
            if not self.reference:
                return dataclasses.replace(m, median_ms=m.median_ms * speed)
            return dataclasses.replace(m, median_ms=m.median_ms * speed, ratio=m.median_ms / 10.0,
                                       ref_ms=10.0 * speed)

    cal = calibrate(_config(), tmp_path / "cal.json", progress=lambda s: None,
                    timer_factory=Drifting)
    speed = cal.info["reference_ms"]
    assert cal.info["reference"] == "resnet18" and 6.0 < speed < 25.0
    assert cal.accuracy["heldout"]["mape"] < 1.0  # true times x speed / 10: a fixed scale only
    for row in cal.info["networks"]:
        assert row["measured_ms"] == pytest.approx(row["predicted_ms"], rel=0.02)
    raw = calibrate(_config(reference=False), tmp_path / "raw.json", progress=lambda s: None,
                    timer_factory=lambda: Drifting(reference=False))
    assert raw.info["reference"] is None and raw.accuracy["heldout"]["mape"] > 10.0


def test_passes_and_scaling_use_the_ratio_when_there_is_one() -> None:
    a = Measurement(5.0, 0.1, 5, 0, "c", ratio=0.5, ref_ms=10.0)
    b = Measurement(4.0, 0.1, 5, 0, "c", ratio=0.6, ref_ms=6.0)  # faster in ms, slower in ratio
    best = combine_passes([a, b])
    assert best.ratio == 0.5 and best.passes == 2 and best.pass_spread == pytest.approx(0.2)
    assert best.scaled_ms(8.0) == 4.0 and Measurement(3.0, 0, 5, 0, "c").scaled_ms(8.0) == 3.0
    assert Measurement.from_dict(a.to_dict()) == a


def test_timer_with_a_reference_records_ratios() -> None:
    from deepmad.hardware.measure import Timer

    tiny = get_preset("resnet18").replace(resolution=32)
    m = Timer(TimingSettings(), target_s=0.01, reference=tiny).time(tiny)
    assert m.ratio > 0 and m.ref_ms > 0 and m.median_ms > 0 and m.kept + m.rejected >= 5


def test_cache_of_other_settings_is_not_reused(tmp_path: Path) -> None:
    out, log, lines = tmp_path / "cal.json", [], []
    calibrate(_config(networks=6), out, progress=lines.append, timer_factory=lambda: FakeTimer(log))
    other = CalibrateConfig(
        TimingSettings(batch=2), SampleConfig("all", (32, 48), 2, 1e5, 5e7), 6, 0.3, presets=False
    )
    log2: list[str] = []
    calibrate(other, out, progress=lines.append, timer_factory=lambda: FakeTimer(log2))
    assert len(log2) == 6 and any("other settings" in s for s in lines)


def test_time_budget_stops_measuring(tmp_path: Path) -> None:
    log: list[str] = []

    class Slow(FakeTimer):
        def time(self, spec: NetworkSpec) -> Measurement:
            import time

            time.sleep(0.02)
            return super().time(spec)

    calibrate(
        _config(time_budget=0.1),
        tmp_path / "c.json",
        progress=lambda s: None,
        timer_factory=lambda: Slow(log),
    )
    assert 2 <= len(log) < 30


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"networks": 1}, "--networks"),
        ({"holdout": 1.0}, "--holdout"),
        ({"time_budget": 0.0}, "--time-budget"),
    ],
)
def test_config_validation(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(DeepmadError, match=match):
        CalibrateConfig(TimingSettings(), SampleConfig(), **kw)


def test_layer_ms_evaluates_arrays() -> None:
    cal = _cal()
    c = np.array([16, 32, 64])
    arr = cal.layer_ms("pw", c, 2 * c, 1, 1, 14, 14)
    assert np.all(np.diff(arr) > 0)
    assert float(arr[1]) == pytest.approx(float(cal.layer_ms("pw", 32, 64, 1, 1, 14, 14)))


def test_hardware_package_imports_without_torch() -> None:
    """Only measure.py's functions import torch, lazily: predicting needs no torch."""
    import subprocess
    import sys

    code = (
        "import sys; import deepmad.hardware, deepmad.hardware.campaign, deepmad.hardware.measure, "
        "deepmad.cli.hardware; from deepmad.hardware import Calibration; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cuda_clock_reads_events_after_synchronize(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA clock, checked on CPU with fake events: synchronize, record, run, record, sync."""
    import torch

    from deepmad.hardware.measure import Timer, clock_name

    calls: list[str] = []

    class Event:
        def __init__(self, enable_timing: bool = False) -> None:
            assert enable_timing
            self.t = 0.0

        def record(self) -> None:
            calls.append("record")
            self.t = 10.0 * calls.count("record")

        def elapsed_time(self, end: Event) -> float:
            assert calls[-1] == "sync", "events must be read after synchronize"
            return end.t - self.t

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "Event", Event)
    timer = Timer(TimingSettings(device="cuda", amp="fp16", batch=4))
    ms = timer._clock()(lambda: calls.append("run"))
    assert calls == ["sync", "record", "run", "record", "sync"] and ms == 10.0
    assert clock_name("cuda", 1) == "cuda-events" and clock_name("cpu", 1) == "thread-cpu"
    assert clock_name("cpu", 4) == "wall"


@pytest.mark.parametrize("preset", ["resnet50", "deepmad_29m_224", "s_ghostnet_b1"])
def test_solver_pricing_recipe_equals_predict(preset: str) -> None:
    """docs/hardware.md's per-layer recipe for solvers gives exactly ``predict``."""
    from deepmad.cost import count_network
    from deepmad.spec import ResNetStem
    from deepmad.spec.network import conv_out_size

    cal = _cal()
    spec = get_preset(preset).replace(resolution=96)
    rep = count_network(spec)
    sides = {(b.stage, b.index): b.out_size for b in rep.blocks}
    total = cal.coefficients["const"]
    for r in rep.layer_records:
        if r.op != "bn":
            total += layer_price(cal, r)
        if r.name in ("se.conv1", "se.reduce"):
            total += cal.elementwise_ms("se.elems", r.in_channels, sides[r.stage, r.block])
    for b in rep.blocks:
        if b.stage.startswith("stage"):
            total += (
                cal.elementwise_ms("block.out", b.out_channels, b.out_size)
                + cal.coefficients["block.count"]
            )
    last = [b for b in rep.blocks if b.stage != "head"][-1]
    total += cal.elementwise_ms("pool.elems", last.out_channels, last.out_size)
    if isinstance(spec.stem, ResNetStem):
        total += cal.elementwise_ms("pool.elems", spec.stem.out_channels, conv_out_size(96, 7, 2))
    assert total == pytest.approx(cal.predict(spec).total_ms, rel=1e-12)
