"""``torchrun --nproc_per_node 2`` on CPU (gloo) equals one process with the same global batch.

With ``--sync-bn`` the two processes see the same batch statistics as the single process (on CPU
through :class:`GlooSyncBatchNorm`); the averaged gradients then agree to float rounding.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import load_ckpt, subprocess_env, train_argv

pytestmark = pytest.mark.slow

# 2 epochs x 4 steps of global batch 64 (two ranks of 32), with EMA, crops, flips and label smoothing.
RECIPE = ("--train-subset", "256", "--epochs", "2", "--batch-size", "64", "--lr", "0.05",
          "--ema-decay", "0.9", "--hflip", "--sync-bn", "--seed", "1")


def test_two_gloo_processes_equal_one_process(tiny_spec_path: Path, tmp_path: Path) -> None:
    single, double = tmp_path / "single", tmp_path / "ddp"
    subprocess.run(train_argv(tiny_spec_path, single, *RECIPE), env=subprocess_env(),
                   check=True, capture_output=True, timeout=300)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    argv = train_argv(tiny_spec_path, double, *RECIPE)
    done = subprocess.run(torchrun + argv[1:], env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("epoch 2/2") == 1  # rank 0 alone logs
    a, b = load_ckpt(single / "last.pt"), load_ckpt(double / "last.pt")
    assert b["world_size"] == 2 and len(b["ranks"]) == 2
    for key in ("model", "ema"):
        for name, t in a[key].items():
            assert torch.allclose(t.double(), b[key][name].double(), rtol=1e-4, atol=1e-5), f"{key}.{name}"
    for ra, rb in zip(a["state"]["history"], b["state"]["history"], strict=True):
        assert ra["val_top1"] == rb["val_top1"] and ra["train_top1"] == rb["train_top1"]
        assert ra["val_loss"] == pytest.approx(rb["val_loss"], rel=1e-5)
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-5)
    # only rank 0 writes files
    assert sorted(p.name for p in double.iterdir()) == ["best.pt", "config.json", "curves.png", "last.pt", "metrics.jsonl"]
