"""WLD-style weak logit distillation (project design): schedule, teacher init, task, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from deepmad.cli.main import main as cli_main
from deepmad.errors import DeepmadError
from deepmad.layers import ICConv2d
from deepmad.models import build_model
from deepmad.spec import ConvBNAct, NetworkSpec, StageSpec, save_spec_json
from deepmad.train.config import TrainConfig
from deepmad.train.tasks import Progress
from deepmad.train.wld import WeakDistillationTask, WeakKDWeight, init_student_from_teacher


def _tiny(conv: str = "plain", width: int = 16) -> NetworkSpec:
    return NetworkSpec(stem=ConvBNAct(8, 3, 1), in_channels=1, resolution=8,
                       stages=(StageSpec("res_kxkx", width, 8, 1, stride=2, conv=conv),))


def _at(fraction: float, total: int = 1000) -> Progress:
    return Progress(step=round(fraction * total), total_steps=total, steps_per_epoch=100)


@pytest.mark.parametrize("schedule", ["linear", "cosine", "step"])
def test_weight_decays_to_zero_at_end_fraction(schedule: str) -> None:
    w = WeakKDWeight(start=2.0, end_fraction=0.4, schedule=schedule)
    values = [w(_at(p / 100)) for p in range(101)]
    assert values[0] == 2.0
    assert all(a >= b for a, b in zip(values, values[1:]))  # non-increasing
    assert all(v == 0.0 for v in values[40:]) and values[39] > 0
    mid = w(_at(0.2))
    assert mid == pytest.approx({"linear": 1.0, "cosine": 1.0, "step": 2.0}[schedule])
    if schedule == "cosine":
        assert w(_at(0.1)) == pytest.approx(1.0 + 2 ** -0.5)


@pytest.mark.parametrize("kwargs", [{"schedule": "exp"}, {"end_fraction": 0.0},
                                    {"end_fraction": 1.5}, {"start": -1.0}])
def test_bad_schedules_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(DeepmadError):
        WeakKDWeight(**kwargs)  # type: ignore[arg-type]


def test_init_from_teacher_makes_the_ic_student_an_exact_copy() -> None:
    torch.manual_seed(0)
    teacher = build_model(_tiny("plain"), num_classes=10)
    with torch.no_grad():  # non-trivial BN statistics
        for m in teacher.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    student = build_model(_tiny("ic"), num_classes=10)
    copied = init_student_from_teacher(student, teacher)
    assert copied == list(teacher.state_dict())
    assert sum(isinstance(m, ICConv2d) for m in student.modules()) == 2
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(student.eval()(x), teacher.eval()(x))
    with pytest.raises(DeepmadError, match="not the student's backbone"):
        init_student_from_teacher(build_model(_tiny("ic", width=24), num_classes=10), teacher)


def test_task_losses_and_teacher_skipped_after_the_end() -> None:
    torch.manual_seed(1)
    teacher = build_model(_tiny("plain"), num_classes=10)
    calls = []
    teacher.register_forward_hook(lambda *_: calls.append(1))
    task = WeakDistillationTask(build_model(_tiny("ic"), num_classes=10), teacher,
                                WeakKDWeight(1.0, 0.5, "linear"), temperature=2.0)
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    task.set_progress(_at(0.25))
    out = task(x, y)
    assert float(out["kd_weight"]) == pytest.approx(0.5) and len(calls) == 1
    assert out["loss"].item() == pytest.approx((out["task_loss"] + 0.5 * out["kd_loss"]).item(), rel=1e-6)
    assert not task.teacher.training and all(not p.requires_grad for p in task.teacher.parameters())
    out["loss"].backward()
    task.set_progress(_at(0.75))
    out = task(x, y)
    assert len(calls) == 1 and float(out["kd_weight"]) == 0.0
    assert torch.equal(out["loss"], F.cross_entropy(out["output"], y))


def test_config_and_cli_reject_inconsistent_kd_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DeepmadError, match="kd="):
        TrainConfig(model="resnet18", kd="weak")
    with pytest.raises(DeepmadError, match="kd_schedule"):
        TrainConfig(model="resnet18", teacher="t.pt", teacher_model="resnet18", kd="weak", kd_schedule="exp")
    with pytest.raises(DeepmadError, match="init_from_teacher"):
        TrainConfig(model="resnet18", init_from_teacher=True)
    assert TrainConfig(model="resnet18").kd == "logit"  # default behaviour unchanged
    assert cli_main(["train", "--model", "resnet18", "--out", str(tmp_path / "r"), "--kd", "weak"]) == 2
    assert "kd='weak' is invalid" in capsys.readouterr().err


def test_weak_distillation_end_to_end_from_a_trainer_checkpoint(tmp_path: Path) -> None:
    from deepmad.train.loop import fit

    plain, ic = tmp_path / "plain.json", tmp_path / "ic.json"
    save_spec_json(_tiny("plain"), plain)
    save_spec_json(_tiny("ic"), ic)
    common = dict(data="digits", resolution=8, batch_size=64, train_subset=256, val_subset=128,
                  device="cpu", progress=False, warmup_epochs=0.0)
    teacher = fit(TrainConfig(model=str(plain), out=str(tmp_path / "teacher"), epochs=1, **common))
    assert (teacher.out / "last.pt").is_file()
    argv = ["train", "--model", str(ic), "--out", str(tmp_path / "student"), "--epochs", "2",
            "--teacher", str(teacher.out / "last.pt"), "--teacher-model", str(plain),
            "--kd", "weak", "--kd-schedule", "linear", "--kd-end", "0.5", "--init-from-teacher",
            "--data", "digits", "--resolution", "8", "--batch-size", "64", "--train-subset", "256",
            "--val-subset", "128", "--device", "cpu", "--no-progress", "--warmup-epochs", "0"]
    assert cli_main(argv) == 0
    records = [json.loads(line) for line in (tmp_path / "student" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    # linear from 1 to 0 over the first epoch (4 steps: 1, .75, .5, .25), then 0
    assert records[0]["train_kd_weight"] == pytest.approx(0.625)
    assert records[1]["train_kd_weight"] == 0.0 and records[1]["train_kd_loss"] == 0.0
    assert records[0]["train_kd_loss"] > 0
    saved = torch.load(tmp_path / "student" / "last.pt", map_location="cpu", weights_only=True)
    assert any(k.endswith("proj.gain") for k in saved["model"])
    assert json.loads((tmp_path / "student" / "config.json").read_text())["config"]["kd"] == "weak"
