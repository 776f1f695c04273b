"""Shared fixtures of the enlarging tests: a tiny ResNet-like base and a small GhostNet."""

from __future__ import annotations

import pytest

from deepmad.spec import ConvBNAct, HeadSpec, NetworkSpec, StageSpec
from deepmad.spec.ghost import s_ghostnet


@pytest.fixture
def tiny_base() -> NetworkSpec:
    """Two KXKX stages at 16 px: a grid small enough to enumerate every path."""
    return NetworkSpec(stem=ConvBNAct(8, 3, 1),
                       stages=(StageSpec("res_kxkx", 16, 16, 1, stride=2),
                               StageSpec("res_kxkx", 32, 32, 1, stride=2)),
                       head=HeadSpec(10), resolution=16, name="tiny")


@pytest.fixture
def ghost_base() -> NetworkSpec:
    """GhostNet-1.0x layout at 32 px (Fashion-MNIST scale)."""
    return s_ghostnet([1, 2, 2, 4, 2, 5], [16, 24, 40, 80, 112, 160], resolution=32, num_classes=10)
