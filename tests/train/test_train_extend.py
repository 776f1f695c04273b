"""``--resume`` with more epochs, ``--init-from`` fine-tuning, and checks before the run directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from train_helpers import assert_tensors_equal, load_ckpt

from deepmad.cli.main import main
from deepmad.errors import DeepmadError
from deepmad.train import TrainConfig, fit
from deepmad.train.distributed import DistContext
from deepmad.train.setup import setup_run


@pytest.fixture(scope="module")
def one_epoch(tiny_spec_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainConfig]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cfg = TrainConfig(model=str(tiny_spec_path), data="digits", epochs=1, batch_size=64, lr=0.2,
                      warmup_epochs=0.5, train_subset=640, val_subset=128, progress=False, device="cpu",
                      out=str(tmp_path_factory.mktemp("runs") / "one"))
    fit(cfg)
    yield cfg
    torch.set_num_threads(threads)


def test_resume_extends_to_more_epochs(one_epoch: TrainConfig, tmp_path: Path) -> None:
    run = tmp_path / "extended"
    run.mkdir()
    (run / "last.pt").write_bytes((Path(one_epoch.out) / "last.pt").read_bytes())
    result = fit(one_epoch.replace(out=str(run), epochs=3, resume=True))
    assert result.epochs_done == 3 and [r["epoch"] for r in load_ckpt(run / "last.pt")["state"]["history"]] == [1, 2, 3]
    ck = load_ckpt(run / "last.pt")
    assert ck["config"]["epochs"] == 3 and ck["scheduler"]["last_epoch"] == 3 * 10
    assert ck["scheduler"]["lr_lambdas"][0]["total_steps"] == 3 * 10
    assert ck["state"]["history"][1]["lr"] > 0.05  # mid-cosine of the longer plan (the old one ended at 0)
    assert result.last["lr"] == pytest.approx(0.0, abs=1e-12)  # the re-planned cosine ends at min_lr
    with pytest.raises(DeepmadError, match="has 3 finished epochs; epochs=2 cannot continue it"):
        fit(one_epoch.replace(out=str(run), epochs=2, resume=True))


def test_init_from_loads_weights_and_keeps_a_new_classifier_fresh(one_epoch: TrainConfig, tmp_path: Path) -> None:
    source = load_ckpt(Path(one_epoch.out) / "last.pt")["model"]
    cfg = one_epoch.replace(out=str(tmp_path / "ft"), init_from=str(Path(one_epoch.out) / "best.pt"))
    run = setup_run(cfg, DistContext())
    body = {k: v for k, v in source.items() if not k.startswith("fc.")}
    assert_tensors_equal({k: run.model.state_dict()[k] for k in body}, body)
    assert torch.equal(run.model.state_dict()["fc.weight"], source["fc.weight"])
    wider = setup_run(cfg.replace(out=str(tmp_path / "ft12"), num_classes=12), DistContext())
    state = wider.model.state_dict()
    assert state["fc.weight"].shape == (12, source["fc.weight"].shape[1])
    assert_tensors_equal({k: state[k] for k in body}, body)


def test_init_from_through_the_cli(one_epoch: TrainConfig, tmp_path: Path) -> None:
    out = tmp_path / "cli_ft"
    argv = ["train", "--model", one_epoch.model, "--data", "digits", "--epochs", "1", "--batch-size", "64",
            "--train-subset", "128", "--val-subset", "64", "--warmup-epochs", "0", "--lr", "1e-9",
            "--device", "cpu", "--no-progress", "--out", str(out),
            "--init-from", str(Path(one_epoch.out) / "last.pt")]
    assert main(argv) == 0
    before = load_ckpt(Path(one_epoch.out) / "last.pt")["model"]
    after = load_ckpt(out / "last.pt")["model"]
    assert torch.allclose(before["fc.weight"], after["fc.weight"], atol=1e-6)


@pytest.mark.parametrize("change, match", [
    ({"num_classes": 2}, "too small"),
    ({"init_from": "missing.pt"}, "missing.pt does not exist"),
])
def test_no_run_directory_when_the_run_cannot_start(one_epoch: TrainConfig, tmp_path: Path,
                                                   change: dict, match: str) -> None:
    out = tmp_path / "never"
    with pytest.raises(DeepmadError, match=match):
        fit(one_epoch.replace(out=str(out), **change))
    assert not out.exists()


def test_cli_validation_leaves_no_directory(tiny_spec_path: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w"
    assert main(["train", "--model", str(tiny_spec_path), "--epochs", "1", "--warmup-epochs", "5",
                 "--out", str(out), "--device", "cpu"]) == 2
    assert "warmup_epochs=5.0 is invalid; expected a number >= 0 and <= epochs (1)" in capsys.readouterr().err
    assert not out.exists()
    (tmp_path / "afile").write_text("")
    assert main(["train", "--model", str(tiny_spec_path), "--out", str(tmp_path / "afile"), "--device", "cpu"]) == 2
    assert "it is a file" in capsys.readouterr().err
