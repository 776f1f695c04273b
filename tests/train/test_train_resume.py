"""A run killed with SIGKILL (or stopped by SIGTERM) and resumed ends bit-identical to an uninterrupted one.

Each run is a real ``python -m deepmad.train`` subprocess on CPU with one thread.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from train_helpers import assert_tensors_equal, load_ckpt, subprocess_env, train_argv

pytestmark = pytest.mark.slow

# 3 epochs x 44 steps at 32 px: about 3 s of training, checkpoints every 7 steps and per epoch.
RECIPE = ("--resolution", "32", "--epochs", "3", "--batch-size", "32", "--ema-decay", "0.99",
          "--hflip", "--checkpoint-every", "7", "--seed", "3")
TOTAL_STEPS = 3 * (1437 // 32)


@pytest.fixture(scope="module")
def reference(tiny_spec_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(train_argv(tiny_spec_path, out, *RECIPE), env=subprocess_env(), check=True,
                   capture_output=True, timeout=300)
    return load_ckpt(out / "last.pt")


def _start_and_interrupt(spec: Path, out: Path, sig: int, delay: float) -> subprocess.Popen:
    proc = subprocess.Popen(train_argv(spec, out, *RECIPE), env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / "last.pt").exists():  # wait for the first mid-run checkpoint
        assert proc.poll() is None, f"run exited early: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint written in time"
        time.sleep(0.005)
    time.sleep(delay)
    assert proc.poll() is None, "the run finished before it could be interrupted; lengthen RECIPE"
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc


def _assert_same_final_state(a: dict, b: dict) -> None:
    assert_tensors_equal(a["model"], b["model"])
    assert_tensors_equal(a["ema"], b["ema"])
    for pa, pb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        assert_tensors_equal(pa, pb)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == TOTAL_STEPS
    untimed = [{k: v for k, v in r.items() if k not in ("train_img_per_s", "epoch_time_s")}
               for r in (a["state"]["history"] + b["state"]["history"])]
    assert untimed[:3] == untimed[3:]


def _resume(spec: Path, out: Path) -> None:
    done = subprocess.run(train_argv(spec, out, *RECIPE, "--resume"), env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_kill_9_then_resume_is_bit_identical(tiny_spec_path: Path, tmp_path: Path, reference: dict) -> None:
    out = tmp_path / "killed"
    delay = random.Random(20261123).uniform(0.0, 0.6)  # "at any point" after the first checkpoint
    proc = _start_and_interrupt(tiny_spec_path, out, signal.SIGKILL, delay)
    assert proc.returncode == -signal.SIGKILL
    at = load_ckpt(out / "last.pt")["state"]["global_step"]
    assert 0 < at < TOTAL_STEPS
    _resume(tiny_spec_path, out)
    _assert_same_final_state(reference, load_ckpt(out / "last.pt"))


def test_sigterm_saves_then_resume_is_bit_identical(tiny_spec_path: Path, tmp_path: Path, reference: dict) -> None:
    out = tmp_path / "termed"
    proc = _start_and_interrupt(tiny_spec_path, out, signal.SIGTERM, 0.3)
    stdout = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode == 128 + signal.SIGTERM, stdout
    assert "--resume" in stdout
    state = load_ckpt(out / "last.pt")["state"]
    assert 0 < state["global_step"] < TOTAL_STEPS
    _resume(tiny_spec_path, out)
    final = load_ckpt(out / "last.pt")
    _assert_same_final_state(reference, final)
    assert torch.equal(reference["ranks"][0]["rng"]["torch"], final["ranks"][0]["rng"]["torch"])
