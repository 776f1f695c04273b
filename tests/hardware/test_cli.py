"""``deepmad calibrate`` / ``deepmad latency``: one-line errors (exit 2), JSON output, a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepmad.cli.hardware import parse_resolutions
from deepmad.cli.main import main
from deepmad.hardware.calibration import Calibration
from deepmad.hardware.features import FEATURE_NAMES
from deepmad.hardware.measure import TimingSettings, fingerprint


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--device", "tpu"], "--device 'tpu' is invalid"),
        (["--mode", "serve"], "--mode 'serve' is invalid"),
        (["--amp", "fp8"], "--amp 'fp8' is invalid"),
        (["--amp", "fp16"], "--amp fp16 needs --device cuda"),
        (["--threads", "0"], "--threads 0 is invalid"),
        (["--mode", "train", "--batch", "1"], "--batch 1 is invalid in train mode"),
        (["--resolution", "224-128"], "--resolution '224-128' is invalid"),
        (["--resolution", "8"], "must be >= 16"),
        (["--space", "vit"], "--space 'vit' is invalid"),
        (["--networks", "1"], "--networks 1 is invalid"),
        (["--holdout", "1.5"], "--holdout 1.5 is invalid"),
        (["--time-budget", "0"], "--time-budget 0.0 is invalid"),
        (["--passes", "0"], "--passes 0 is invalid"),
    ],
)
def test_calibrate_flag_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str], match: str
) -> None:
    out = tmp_path / "cal.json"
    assert match in _error(capsys, ["calibrate", *flags, "--output", str(out)])
    assert not out.exists() and not (tmp_path / "cal.json.cache.json").exists()


def test_calibrate_cuda_without_gpu(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert "sees no CUDA GPU" in _error(
        capsys, ["calibrate", "--device", "cuda", "-o", str(tmp_path / "c.json")]
    )


def test_measuring_a_cuda_calibration_without_gpu(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--measure`` with a CUDA calibration is refused before any timing (latency and design)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cal = _write_cal(tmp_path / "cal.json", device="cuda")
    for argv in (["latency", "resnet18", "--calibration", str(cal), "--measure"],
                 ["design", "--space", "resnet", "--resolution", "32", "--num-classes", "10", "--params", "0.3M",
                  "--latency", "1s", "--calibration", str(cal), "--measure", "--quiet"]):
        assert "the calibration is for cuda but torch sees no CUDA GPU here; drop --measure" in _error(capsys, argv)


def test_parse_resolutions() -> None:
    assert parse_resolutions("224") == (224,)
    assert parse_resolutions("160,128") == (128, 160)
    assert parse_resolutions("128-192") == (128, 144, 160, 176, 192)
    assert parse_resolutions("30-50") == (30, 32, 48, 50)


def _write_cal(path: Path, **fp: object) -> Path:
    here = fingerprint(TimingSettings())
    w = {n: 1e-7 for n in FEATURE_NAMES} | {"const": 0.5}
    Calibration({**here, **fp}, w).save(path)
    return path


def test_latency_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cal = _write_cal(tmp_path / "cal.json")
    assert main(["latency", "resnet18", "--calibration", str(cal), "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert {"predicted_ms", "stages", "overhead_ms"} <= set(data) and "measured_ms" not in data
    assert data["predicted_ms"] == pytest.approx(
        sum(s["predicted_ms"] for s in data["stages"]) + 0.5
    )
    assert "warning" not in captured.err


def test_latency_table_warns_on_fingerprint_mismatch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cal = _write_cal(tmp_path / "cal.json", cpu="Some Other CPU")
    assert main(["latency", "deepmad_r18", "--calibration", str(cal)]) == 0
    captured = capsys.readouterr()
    assert "stage5" in captured.out and "predicted" in captured.out
    assert (
        "warning: calibration fingerprint differs" in captured.err
        and "Some Other CPU" in captured.err
    )


def test_latency_corrupt_and_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "deepmad-calibration", "version": 1, "fingerprint": {}')
    assert "is invalid: not valid JSON" in _error(
        capsys, ["latency", "resnet18", "--calibration", str(bad)]
    )
    assert "does not exist" in _error(
        capsys, ["latency", "resnet18", "--calibration", str(tmp_path / "no.json")]
    )
    assert "--calibration" in _error(capsys, ["latency", "resnet18"])  # a required flag
    cal = _write_cal(tmp_path / "cal.json")
    assert "resnet_x" in _error(capsys, ["latency", "resnet_x", "--calibration", str(cal)])


def test_tiny_real_calibration_and_resume(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "cal.json"
    argv = [
        "calibrate",
        "--resolution",
        "32",
        "--networks",
        "3",
        "--holdout",
        "0.34",
        "--no-presets",
        "--max-macs",
        "2e7",
        "--target-seconds",
        "0.02",
        "--output",
        str(out),
    ]
    assert main(argv) == 0
    first = capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["format"] == "deepmad-calibration" and data["features"] == list(FEATURE_NAMES)
    fp = data["fingerprint"]
    assert (
        fp["clock"] == "thread-cpu"
        and fp["threads"] == 1
        and fp["batch"] == 1
        and fp["mode"] == "inference"
    )
    assert {"cpu", "torch", "amp", "channels_last"} <= set(fp)
    assert all(v >= 0 for v in data["coefficients"].values())
    assert data["info"]["networks_train"] == 2 and data["info"]["networks_heldout"] == 1
    assert {"mape", "within10", "spearman"} <= set(data["accuracy"]["heldout"])
    assert all(n["measured_ms"] > 0 for n in data["info"]["networks"])
    assert first.count("ETA") == 3
    assert main(argv) == 0  # rerun: everything comes from the cache
    second = capsys.readouterr().err
    assert second.count("%  cached") == 3 and "ETA" not in second
    assert json.loads(out.read_text())["info"]["measured_now"] == 0
    assert (
        main(
            [
                "latency",
                "resnet18",
                "--resolution",
                "32",
                "--calibration",
                str(out),
                "--measure",
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert (
        res["measured_ms"] > 0 and res["predicted_ms"] >= 0 and "error_pct" in res
    )  # 2-network fit
