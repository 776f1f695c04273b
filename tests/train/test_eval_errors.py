"""``deepmad eval`` names the checkpoint and what is wrong with it (fast: no training, no data)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import TINY_SPEC

from deepmad.cli.main import main
from deepmad.models import build_model
from deepmad.train.checkpoint import save_checkpoint
from deepmad.train.config import TrainConfig


def _eval_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["eval", "--device", "cpu", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def run_without_ema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("noema")
    cfg = TrainConfig(model="tiny.json", data="digits", out=str(run))
    weights = build_model(TINY_SPEC).state_dict()
    save_checkpoint(run / "last.pt", {"model": weights, "ema": None, "config": cfg.to_dict()})
    save_checkpoint(run / "best.pt", {"model": weights, "source": "model", "config": cfg.to_dict()})
    return run


def test_missing_directory_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "nonexist.pt does not exist" in _eval_error(capsys, "--checkpoint", str(tmp_path / "nonexist.pt"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(b"")
    err = _eval_error(capsys, "--checkpoint", str(tmp_path / "run"))
    assert "is a directory" in err and "best.pt" in err
    assert "the file is empty" in _eval_error(capsys, "--checkpoint", str(tmp_path / "run" / "best.pt"))


def test_truncated_and_text_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = tmp_path / "full.pt"
    torch.save({"w": torch.zeros(1000)}, full)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(full.read_bytes()[:1500])
    err = _eval_error(capsys, "--checkpoint", str(trunc))
    assert "trunc.pt" in err and "truncated" in err
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    err = _eval_error(capsys, "--checkpoint", str(text))
    assert "notes.pt" in err and "text file" in err


def test_ema_weights_of_a_run_without_ema(run_without_ema: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _eval_error(capsys, "--checkpoint", str(run_without_ema / "last.pt"), "--weights", "ema")
    assert "no EMA weights" in err and "ema_decay=0.0" in err
    err = _eval_error(capsys, "--checkpoint", str(run_without_ema / "best.pt"), "--weights", "ema")
    assert "no separate EMA weights" in err


def test_batch_size_must_be_positive(run_without_ema: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _eval_error(capsys, "--checkpoint", str(run_without_ema / "last.pt"), "--batch-size", "-3")
    assert "argument --batch-size: -3 is out of range; expected an integer >= 1" in err
