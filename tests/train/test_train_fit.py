"""End-to-end training on scikit-learn digits, evaluation, plotting, distillation and error paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from deepmad.cli.main import main
from deepmad.errors import DeepmadError
from deepmad.train import TrainConfig, fit
from deepmad.train.checkpoint import load_checkpoint, save_checkpoint

DIGITS_TARGET_TOP1 = 95.0  # the stated accuracy: 6 epochs of the tiny spec at 16 px reach 98-99 %


@pytest.fixture(scope="module")
def digits_run(tiny_spec_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cfg = TrainConfig(model=str(tiny_spec_path), data="digits", epochs=6, batch_size=32, lr=0.2,
                      ema_decay=0.99, out=str(tmp_path_factory.mktemp("runs") / "digits"),
                      progress=False, device="cpu")
    yield cfg, fit(cfg)
    torch.set_num_threads(threads)


def test_digits_training_reaches_stated_accuracy(digits_run: tuple) -> None:
    cfg, result = digits_run
    out = Path(cfg.out)
    assert result.epochs_done == 6 and result.interrupted is None
    assert result.last["val_top1"] >= DIGITS_TARGET_TOP1
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 7))
    assert {"train_loss", "val_loss", "val_top1", "val_top5", "ema_val_top1", "train_img_per_s", "lr"} <= records[0].keys()
    assert records[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine reaches min_lr at the last step
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "config.json").read_text())["resolved"]["resolution"] == 16


def test_checkpoints_hold_everything(digits_run: tuple) -> None:
    cfg, result = digits_run
    last = load_checkpoint(Path(cfg.out) / "last.pt")
    for key in ("model", "optimizer", "scheduler", "ema", "state", "ranks", "config", "model_spec"):
        assert last[key] is not None, key
    assert last["state"]["epoch"] == 6 and last["state"]["global_step"] == 6 * (1437 // 32)
    assert {"python", "numpy", "torch"} <= last["ranks"][0]["rng"].keys()
    best = load_checkpoint(Path(cfg.out) / "best.pt")
    assert best["metrics"][f"{'ema_' if best['source'] == 'ema' else ''}val_top1"] == pytest.approx(result.best_top1)


def test_eval_and_plot_commands(digits_run: tuple, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg, result = digits_run
    out = Path(cfg.out)
    assert main(["eval", "--checkpoint", str(out / "best.pt"), "--device", "cpu", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["top1"] == pytest.approx(result.best_top1) and res["images"] == 360
    assert main(["eval", "--checkpoint", str(out / "last.pt"), "--weights", "ema", "--device", "cpu",
                 "--model", cfg.model, "--data", "digits"]) == 0
    assert "top-1" in capsys.readouterr().out
    assert main(["plot", str(out), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_distillation_run_logs_kd_loss(digits_run: tuple, tiny_spec_path: Path, tmp_path: Path) -> None:
    cfg, _ = digits_run
    kd = cfg.replace(out=str(tmp_path / "kd"), epochs=1, ema_decay=0.0, teacher=str(Path(cfg.out) / "best.pt"),
                     teacher_model=str(tiny_spec_path), kd_weight=0.5, kd_temperature=2.0)
    rec = fit(kd).last
    assert rec["train_kd_loss"] > 0 and rec["train_kd_weight"] == pytest.approx(0.5)
    assert rec["train_loss"] == pytest.approx(rec["train_task_loss"] + 0.5 * rec["train_kd_loss"], rel=1e-6)


def test_run_directory_rules(digits_run: tuple, tmp_path: Path) -> None:
    cfg, _ = digits_run
    with pytest.raises(DeepmadError, match="already holds a run"):
        fit(cfg)
    with pytest.raises(DeepmadError, match="does not exist"):
        fit(cfg.replace(out=str(tmp_path / "empty"), resume=True))
    with pytest.raises(DeepmadError, match="lr=0.2, not 0.3"):
        fit(cfg.replace(lr=0.3, resume=True, epochs=6))


def test_corrupt_and_foreign_checkpoints_are_refused(digits_run: tuple, tmp_path: Path) -> None:
    cfg, _ = digits_run
    run = tmp_path / "bad"
    run.mkdir()
    data = (Path(cfg.out) / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(DeepmadError, match="corrupt") as err:
        fit(cfg.replace(out=str(run), resume=True))
    assert "\n" not in str(err.value)
    torch.save({"weights": torch.zeros(2)}, run / "last.pt")
    with pytest.raises(DeepmadError, match="not a deepmad training checkpoint"):
        load_checkpoint(run / "last.pt")
    save_checkpoint(run / "last.pt", {"model": {}, "config": cfg.replace(model="resnet18").to_dict()})
    with pytest.raises(DeepmadError, match="model="):
        fit(cfg.replace(out=str(run), resume=True))


def test_cli_reports_user_errors_in_one_line(tiny_spec_path: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--model", str(tiny_spec_path), "--data", "imagenet", "--out", str(tmp_path / "x"),
                 "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "imagenet" in err and len(err.splitlines()) == 1
    assert main(["train", "--model", str(tiny_spec_path), "--amp", "fp16", "--device", "cpu",
                 "--out", str(tmp_path / "y")]) == 2
    assert "fp16' needs a CUDA device" in capsys.readouterr().err
