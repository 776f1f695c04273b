"""Noisy latency profiles are detected and reported; a table never predicts a latency <= 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepmad.cli.main import main

from .test_mathnas_profile import fake_timing, tiny_space_dict

pytest.importorskip("torch")
from deepmad.mathnas import profile as P  # noqa: E402
from deepmad.mathnas.tables import BlockTable, MetricTable  # noqa: E402

REF = (1, 1)  # the reference network the tiny space's estimate is built around


@pytest.fixture
def space_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_space_dict()))
    return path


def _profile(space: Path, *extra: str) -> int:
    return main(["mathnas", "profile", "--space", str(space), "--output", "lat.json", "--repeats", "10", *extra])


def test_relative_spread() -> None:
    assert P.relative_spread([1.0, 1.0, 1.0, 1.0]) == 0.0
    assert P.relative_spread([1.0, 2.0]) == 0.0  # too few repeats to judge
    assert P.relative_spread([1, 2, 3, 4, 5]) == pytest.approx(1.0)  # (4.5 - 1.5) / 3


def test_assess_noise_reasons() -> None:
    table = BlockTable("t", ("a", "b"), (("x", "y"), ("x", "y")),
                       {"latency": MetricTable(1.0, ((0.0, -3.0), (0.0, 1.0)), "ms")})
    report = P.assess_noise(table, [0.5, 0.4, 0.01], spearman=0.1)
    assert not report.usable and report.noisy and len(report.reasons) == 3
    assert "from -2 to 2 ms" in report.reasons[0] and "vary by 40 %" in report.reasons[1]
    assert "Spearman 0.100 is below 0.5" in report.reasons[2]
    clean = P.assess_noise(table.with_metrics(latency=MetricTable(5.0, ((0.0, 1.0), (0.0, 1.0)), "ms")), [0.01])
    assert clean.usable and not clean.noisy and clean.to_dict()["noisy"] is False


def test_negative_predictions_refused_nothing_written(space_file: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    fake_timing(monkeypatch, lambda a: 100.0 if a == REF else 1.0)
    assert _profile(space_file) == 2
    err = capsys.readouterr().err
    assert "timings too noisy to use: the table predicts latencies from -98 to 100 ms" in err
    assert "--clock cpu --threads 1" in err and "--repeats (now 10)" in err and err.count("\n") == 1
    assert not Path("lat.json").exists()


def test_noisy_repeats_marked_and_nonzero_exit(space_file: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    fake_timing(monkeypatch, lambda a: 5.0 + a[0] + a[1], jitter=0.5)
    assert _profile(space_file) == 1
    captured = capsys.readouterr()
    assert "warning: noisy timings: repeats of one network vary by 62 %" in captured.err
    assert "repeat spread 62.5 %" in captured.out  # IQR (1.375 - 0.75) / median 1
    noise = json.loads(Path("lat.json").read_text())["provenance"]["timing_noise"]
    assert noise["noisy"] is True and noise["median_spread"] == pytest.approx(0.625)


def test_failed_check_is_reported(space_file: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(P, "MIN_CHECKED", 2)  # the tiny space has 6 networks only
    calls = iter(range(10_000))
    fake_timing(monkeypatch, lambda a: 5.0 + a[0] + a[1] if next(calls) < 4 else 9.0 - a[0] - a[1])
    assert _profile(space_file, "--check", "6") == 1
    assert "the check's Spearman" in capsys.readouterr().err


def test_steady_timings_pass(space_file: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    fake_timing(monkeypatch, lambda a: 5.0 + a[0] + 2 * a[1], jitter=0.02)
    assert _profile(space_file, "--check", "4") == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads(Path("lat.json").read_text())["provenance"]["timing_noise"]["noisy"] is False
