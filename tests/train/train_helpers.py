"""Helpers shared by the training tests: a tiny spec, and running the CLI as a subprocess."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from deepmad.spec import ConvBNAct, HeadSpec, NetworkSpec, StageSpec

# 73k parameters, ~2 MMACs at 16 px: a few ms per CPU step, yet a real spec-built Network.
TINY_SPEC = NetworkSpec(
    stem=ConvBNAct(out_channels=16, kernel_size=3, stride=1),
    stages=(
        StageSpec(block="res_kxkx", out_channels=32, bottleneck_channels=32, depth=1, stride=2, kernel_size=3),
        StageSpec(block="res_kxkx", out_channels=64, bottleneck_channels=64, depth=1, stride=2, kernel_size=3),
    ),
    head=HeadSpec(num_classes=10),
    resolution=16,
    name="tiny_test_net",
)


def subprocess_env() -> dict[str, str]:
    """One thread per process: deterministic CPU kernels and no fight over the CI's 2 cores."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


def train_argv(spec: Path, out: Path, *extra: str) -> list[str]:
    """``python -m deepmad.train`` on digits, CPU, no progress bar."""
    return [sys.executable, "-m", "deepmad.train", "--model", str(spec), "--data", "digits",
            "--device", "cpu", "--no-progress", "--out", str(out), *extra]


def load_ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_tensors_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    bad = [k for k in a if not torch.equal(a[k], b[k])]
    assert not bad, f"{len(bad)} tensors differ, e.g. {bad[:3]}"
