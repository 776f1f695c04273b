"""``deepmad run``: design -> train -> evaluate -> export -> report on digits, ``--stop-after``,
``--resume`` after an interruption (a finished design is not redone, training continues from
its checkpoint), and the checks made before any long work."""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from deepmad.cli.main import UsageError, build_parser, main

pytest.importorskip("onnxruntime")

# 256 training images, 2 epochs of 8 steps at 16 px, a design of at most 5 s: ~20 s of CPU time.
FLAGS = ["--data", "digits", "--space", "resnet", "--params", "100k", "--macs", "10M",
         "--resolution", "16", "--time-limit", "5", "--gap", "0.05", "--epochs", "2",
         "--batch-size", "32", "--lr", "0.2", "--train-subset", "256",
         "--device", "cpu", "--no-progress"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: tiny convs are faster so, and the CI's two cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(out: Path, *extra: str) -> int:
    return main(["run", *FLAGS, "--out", str(out), *extra])


def _interrupt_training_after(monkeypatch: pytest.MonkeyPatch, polls: int) -> None:
    """Make the training loop see a SIGINT after ``polls`` steps (as Ctrl-C would)."""
    from deepmad.train.checkpoint import GracefulStop

    calls = {"n": 0}

    def requested(self: GracefulStop) -> bool:
        calls["n"] += 1
        if calls["n"] >= polls:
            self.signum = signal.SIGINT
        return self.signum is not None

    monkeypatch.setattr(GracefulStop, "requested", property(requested))


def test_run_end_to_end_with_stop_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import deepmad.cli.design as design_cli
    from deepmad.models import create_model
    from deepmad.train.checkpoint import load_checkpoint

    out = tmp_path / "run"
    assert _run(out, "--stop-after", "design") == 0
    assert sorted(p.name for p in out.iterdir()) == ["design.json", "run.json"]
    design_bytes = (out / "design.json").read_bytes()
    assert "[1/5] design: done" in capsys.readouterr().out

    def no_redesign(*args: object) -> None:
        raise AssertionError("a finished design was redone")

    monkeypatch.setattr(design_cli, "solve_design", no_redesign)
    with monkeypatch.context() as m:
        _interrupt_training_after(m, polls=3)
        assert _run(out, "--resume") == 128 + signal.SIGINT
    text = capsys.readouterr().out
    assert "design: already done, skipped" in text and "continue with the same command plus --resume" in text
    state = load_checkpoint(out / "last.pt")["state"]
    assert (state["epoch"], state["step_in_epoch"]) == (0, 3)
    run = json.loads((out / "run.json").read_text())
    assert run["done"] == ["design"] and run["seconds"]["train"] > 0

    assert _run(out, "--resume") == 0
    text = capsys.readouterr().out
    assert "continuing training from" in text and "[5/5] report: done" in text
    assert (out / "design.json").read_bytes() == design_bytes
    run = json.loads((out / "run.json").read_text())
    assert run["done"] == ["design", "train", "evaluate", "export", "report"]
    last = load_checkpoint(out / "last.pt")["state"]
    assert last["epoch"] == 2 and last["global_step"] == 2 * (256 // 32)
    assert [r["epoch"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())] == [1, 2]
    best = load_checkpoint(out / "best.pt")
    assert run["evaluate"]["top1"] == pytest.approx(best["metrics"]["val_top1"]) and run["evaluate"]["images"] == 360
    assert run["export"]["opset"] == 18 and run["export"]["max_abs_error"] < 1e-4
    create_model(out / "design.json")  # the design result's spec loads
    report = (out / "report.md").read_text()
    for needle in ("DeepMAD objective", "certified gap", "top-1", "opset 18", "| train |",
                   "![training curves](curves.png)", "| stage 1 |"):
        assert needle in report, needle
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    if importlib.util.find_spec("deepmad.report") is not None:
        assert "![design report](design.png)" in report and (out / "design.png").is_file()
    else:
        assert "needs the `deepmad.report` module" in report


def test_resume_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert _run(out, "--resume") == 2
    assert "run.json is missing" in capsys.readouterr().err
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"format": "deepmad-run", "version": 1, "done": ["design"],
                                              "seconds": {}, "flags": {"epochs": 5}}))
    assert _run(out) == 2
    assert "already holds a run (run.json); pass --resume" in capsys.readouterr().err
    assert _run(out, "--resume") == 2
    err = capsys.readouterr().err
    assert "was started with --" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--space", "resnet", "--params", "1M"], "--data is required"),
        (["--data", "digits", "--params", "1M"], "needs --space TEMPLATE"),
        (["--data", "folder:/no/such/dir", "--space", "resnet", "--params", "1M"], "does not exist"),
        (["--data", "imagenet", "--space", "resnet", "--params", "1M"], "'imagenet' is unknown"),
        (["--data", "digits", "--space", "resnet", "--params", "1k"], "no design meets the budgets"),
        (["--data", "digits", "--space", "resnet", "--params", "1M", "--batch-size", "5000"], "exceeds"),
        (["--data", "digits", "--space", "resnet", "--params", "1M", "--epochs", "0"], "epochs=0 is invalid"),
        (["--data", "digits", "--space", "resnet", "--params", "1M", "--latency", "5ms"],
         "--latency needs --calibration"),
        (["--data", "digits", "--space", "resnet", "--params", "1M", "--latency", "5ms", "--calibration",
          "/no/such/cal.json"], "does not exist"),
    ],
)
def test_bad_input_before_any_work(argv: list[str], needle: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", *argv, "--resolution", "16", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_export_extra_is_named_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert _run(tmp_path / "run") == 2
    assert "pip install deepmad[export]" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_run_takes_design_and_train_flags_but_not_design_outputs() -> None:
    parser, _ = build_parser()
    args = parser.parse_args(["run", "--data", "digits", "--space", "resnet", "--params", "1M",
                              "--solver", "exact", "--time-limit", "2", "--epochs", "1", "--ema-decay",
                              "0.9", "--out", "x", "--resolution", "32"])
    assert (args.params, args.time_limit, args.epochs, args.resolution) == (1e6, 2.0, 1, 32)
    args = parser.parse_args(["run", "--data", "digits", "--space", "resnet", "--params", "1M", "--out", "x",
                              "--latency", "0.5s", "--calibration", "cal.json"])
    assert (args.latency, args.calibration) == (500.0, "cal.json")
    for flag in ("--output", "--json", "--model", "--measure", "--resolve-measured"):
        with pytest.raises(UsageError, match="unrecognized arguments"):
            parser.parse_args(["run", "--out", "x", flag, "y"])
