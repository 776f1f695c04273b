"""``deepmad design --latency / --throughput / --calibration / --measure`` (no clock: --measure
uses a stub timer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepmad.cli.design_latency import parse_duration
from deepmad.cli.main import main
from deepmad.hardware import measure
from deepmad.hardware.calibration import Calibration
from deepmad.hardware.features import FEATURE_NAMES
from deepmad.hardware.measure import Measurement, TimingSettings, fingerprint
from deepmad.spec import load_spec

SPACE = ["design", "--space", "resnet", "--resolution", "32", "--num-classes", "10", "--params", "0.27M",
         "--time-limit", "2", "--quiet"]


def _cal(path: Path, mode: str = "inference", batch: int = 1, cpu: str | None = None) -> Path:
    """A calibration of this machine (or of ``cpu``): ~1 ms per 10M MACs plus small terms."""
    fp = fingerprint(TimingSettings("cpu", 1, batch, mode))
    if cpu:
        fp["cpu"] = cpu
    coef = {n: (1e-7 if n.endswith(".macs") else 1e-6 if "." in n else 0.05) for n in FEATURE_NAMES}
    Calibration(fp, coef).save(path)
    return path


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_parse_duration() -> None:
    assert parse_duration("12ms") == 12.0 and parse_duration("0.5s") == 500.0
    assert parse_duration("3") == 3.0 and parse_duration(" 1.5 ms ") == 1.5
    for bad in ("12parsecs", "-1ms", "0", "ms", ""):
        with pytest.raises(Exception, match="is not a duration"):
            parse_duration(bad)


def test_latency_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    inf, train = _cal(tmp_path / "inf.json"), _cal(tmp_path / "train.json", "train", 32)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "--latency needs --calibration" in _error(capsys, [*SPACE, "--latency", "5ms"])
    assert "--throughput needs --calibration" in _error(capsys, [*SPACE, "--throughput", "100"])
    assert "--measure needs --calibration" in _error(capsys, [*SPACE, "--measure"])
    assert "needs an inference-mode calibration" in _error(
        capsys, [*SPACE, "--latency", "5ms", "--calibration", str(train)])
    assert "needs a train-mode calibration" in _error(
        capsys, [*SPACE, "--throughput", "100", "--calibration", str(inf)])
    assert "not both" in _error(capsys, [*SPACE, "--latency", "5ms", "--throughput", "9",
                                         "--calibration", str(inf)])
    assert "is invalid: not valid JSON" in _error(capsys, [*SPACE, "--latency", "5ms", "--calibration", str(bad)])
    assert "does not exist" in _error(capsys, [*SPACE, "--latency", "5ms", "--calibration", str(tmp_path / "x")])
    assert "is not a duration" in _error(capsys, [*SPACE, "--latency", "5 parsecs", "--calibration", str(inf)])
    assert "latency_ms: the smallest network" in _error(
        capsys, [*SPACE, "--latency", "0.001ms", "--calibration", str(inf)])


def _design(capsys: pytest.CaptureFixture[str], argv: list[str], out: Path) -> tuple[dict, str]:
    assert main([*argv, "--output", str(out)]) == 0
    return json.loads(out.read_text()), capsys.readouterr().out


def test_latency_budget_is_met_and_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cal = _cal(tmp_path / "cal.json")
    free, _ = _design(capsys, [*SPACE, "--calibration", str(cal)], tmp_path / "free.json")
    l0 = free["costs"]["latency_ms"]
    assert l0 > 0 and free["latency"]["certificate"].startswith("with respect to the latency model")
    data, text = _design(capsys, [*SPACE, "--latency", f"{0.8 * l0}ms", "--calibration", str(cal)],
                         tmp_path / "lat.json")
    assert data["costs"]["latency_ms"] <= 0.8 * l0 * (1 + 1e-12)
    assert data["costs"]["latency_ms"] == pytest.approx(
        Calibration.load(cal).predict(load_spec(str(tmp_path / "lat.json"))).total_ms)
    assert {"name": "latency_ms", "upper": pytest.approx(0.8 * l0), "lower": None} in data["problem"]["budgets"]
    assert "with respect to the latency model" in text and "latency_ms" in text
    assert data["solver"]["verified"]


def test_throughput_becomes_a_step_budget(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cal = _cal(tmp_path / "train.json", "train", 32)
    data, text = _design(capsys, [*SPACE, "--throughput", "100", "--calibration", str(cal)], tmp_path / "t.json")
    (b,) = [b for b in data["problem"]["budgets"] if b["name"] == "latency_ms"]
    assert b["upper"] == pytest.approx(1000.0 * 32 / 100)  # ms per step of 32 images
    assert data["costs"]["latency_ms"] <= b["upper"] * (1 + 1e-12) and "img/s" in text


def test_latency_alone_is_a_template_budget(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--space`` with --latency / --throughput and no other cost flag (CLI and API)."""
    from deepmad.solvers import Budget, design

    inf, train = _cal(tmp_path / "inf.json"), _cal(tmp_path / "train.json", "train", 32)
    alone = [a for a in SPACE if a not in ("--params", "0.27M")]
    data, _ = _design(capsys, [*alone, "--latency", "20ms", "--calibration", str(inf)], tmp_path / "l.json")
    assert [b["name"] for b in data["problem"]["budgets"]] == ["rho", "latency_ms"]
    assert 0 < data["costs"]["latency_ms"] <= 20.0 * (1 + 1e-12) and data["solver"]["verified"]
    data, _ = _design(capsys, [*alone, "--throughput", "55", "--calibration", str(train)], tmp_path / "t.json")
    assert data["costs"]["latency_ms"] <= 1000.0 * 32 / 55 * (1 + 1e-12)
    assert "--latency or --throughput" in _error(capsys, alone)
    api = design(space="resnet", resolution=32, num_classes=10, budgets=(Budget("latency_ms", upper=20.0),),
                 latency_model=Calibration.load(inf), time_limit=2)
    assert api.evaluation.feasible and 0 < api.evaluation.costs.latency_ms <= 20.0 * (1 + 1e-12)


def test_fingerprint_mismatch_warns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cal = _cal(tmp_path / "other.json", cpu="Some Other CPU 9000")
    assert main([*SPACE, "--calibration", str(cal), "--output", str(tmp_path / "o.json")]) == 0
    err = capsys.readouterr().err
    assert "warning: calibration fingerprint differs" in err and "Some Other CPU 9000" in err


def test_measure_prints_predicted_vs_measured(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    timed = []

    class StubTimer:
        def __init__(self, settings: TimingSettings, target_s: float = 0.3, reference: object = None) -> None:
            self.settings, self.reference = settings, reference

        def time(self, spec) -> Measurement:
            timed.append(spec)
            return Measurement(4.0, 0.01, 10, 0, "thread-cpu")

    monkeypatch.setattr(measure, "Timer", StubTimer)
    cal = _cal(tmp_path / "cal.json")
    data, text = _design(capsys, [*SPACE, "--latency", "1s", "--calibration", str(cal), "--measure"],
                         tmp_path / "m.json")
    assert len(timed) == 1 and timed[0].to_dict() == data["spec"]
    assert data["latency"]["measured_ms"] == 4.0 and data["latency"]["budget_ms"] == 1000.0
    assert data["latency"]["predicted_ms"] == pytest.approx(data["costs"]["latency_ms"])
    assert "measured here: 4.000 ms" in text and "measured / budget 0.004" in text


def test_measure_at_the_calibration_speed(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A calibration timed against a reference: --measure pairs the design with the same
    reference and reports ratio x the calibration's reference time (raw ms beside it)."""
    refs = []

    class StubTimer:
        def __init__(self, settings: TimingSettings, target_s: float = 0.3, reference: object = None) -> None:
            refs.append(reference)

        def time(self, spec) -> Measurement:  # the machine runs 3x slow now: raw 12 ms, ratio 0.2
            return Measurement(12.0, 0.01, 10, 0, "thread-cpu", ratio=0.2, ref_ms=60.0)

    monkeypatch.setattr(measure, "Timer", StubTimer)
    path = _cal(tmp_path / "cal.json")
    cal = Calibration.load(path)
    Calibration(cal.fingerprint, cal.coefficients, cal.ridge, cal.accuracy,
                {"reference_ms": 20.0, "reference_resolution": 64}).save(path)
    data, text = _design(capsys, [*SPACE, "--latency", "1s", "--calibration", str(path), "--measure"],
                         tmp_path / "m.json")
    assert refs[0].name == "reference" and refs[0].resolution == 64
    lat = data["latency"]
    assert lat["measured_ms"] == pytest.approx(4.0) and lat["measured_raw_ms"] == 12.0
    assert lat["measured_at_calibration_speed"] and "at the calibration's machine speed" in text
    assert main(["latency", "resnet18", "--calibration", str(path), "--measure", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["measured_ms"] == pytest.approx(4.0) and out["measured_raw_ms"] == 12.0


def test_resolve_measured_tightens_the_model_budget(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cal = _cal(tmp_path / "cal.json")
    free, _ = _design(capsys, [*SPACE, "--calibration", str(cal)], tmp_path / "free.json")
    budget = 0.9 * free["costs"]["latency_ms"]
    times = iter([1.25 * budget, 0.95 * budget])  # the model under-predicts the first design by 25 %

    class StubTimer:
        def __init__(self, settings: TimingSettings, target_s: float = 0.3, reference: object = None) -> None:
            pass

        def time(self, spec) -> Measurement:
            return Measurement(next(times), 0.01, 10, 0, "thread-cpu")

    monkeypatch.setattr(measure, "Timer", StubTimer)
    data, text = _design(capsys, [*SPACE, "--latency", f"{budget}ms", "--calibration", str(cal), "--measure",
                                  "--resolve-measured", "3"], tmp_path / "r.json")
    rounds = data["latency"]["rounds"]
    assert [r["model_budget_ms"] for r in rounds] == pytest.approx([budget, budget / 1.25])
    assert data["costs"]["latency_ms"] <= budget / 1.25 * (1 + 1e-12)
    assert data["latency"]["measured_ms"] == pytest.approx(0.95 * budget) and data["latency"]["budget_ms"] == budget
    assert "re-solving at a model budget" in text
    assert "--resolve-measured needs --measure" in _error(
        capsys, [*SPACE, "--latency", "5ms", "--calibration", str(cal), "--resolve-measured", "1"])


def test_sweep_reads_the_calibration_once(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep with a latency budget: every point carries it; the calibration is read (and its
    fingerprint warning printed) once, not once per point."""
    cal = _cal(tmp_path / "cal.json", cpu="another CPU")
    loads = []
    real_load = Calibration.load.__func__
    monkeypatch.setattr(Calibration, "load", classmethod(lambda cls, path: loads.append(path) or real_load(cls, path)))
    argv = ["design", "--space", "resnet", "--resolution", "32", "--num-classes", "10", "--time-limit", "1",
            "--quiet", "--latency", "1s", "--calibration", str(cal), "--sweep", "params=0.2M:0.4M:3", "--json"]
    main(argv)
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert len(rows) == 3 and len(loads) == 1
    assert captured.err.count("warning: calibration fingerprint differs") == 1
