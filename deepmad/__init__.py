"""deepmad: design CNNs mathematically (DeepMAD, MathNAS, greedy enlarging, IC nets) and train them.

The design core (:mod:`deepmad.spec`, :mod:`deepmad.cost`) is torch-free; :func:`create_model`
imports torch lazily so ``import deepmad`` stays light.
"""

from __future__ import annotations

from typing import Any

from deepmad.cost import CostReport, count_network
from deepmad.errors import DeepmadError, InfeasibleError, SpecError
from deepmad.spec import NetworkSpec, StageSpec, get_preset, list_presets, load_spec

__version__ = "0.1.0"

__all__ = [
    "CostReport",
    "DeepmadError",
    "InfeasibleError",
    "NetworkSpec",
    "SpecError",
    "StageSpec",
    "build_model",
    "count_network",
    "create_model",
    "get_preset",
    "list_presets",
    "load_spec",
]


def create_model(*args: Any, **kwargs: Any) -> Any:
    """Build an ``nn.Module`` (see :func:`deepmad.models.create_model`; imports torch)."""
    from deepmad.models import create_model as _create

    return _create(*args, **kwargs)


def build_model(*args: Any, **kwargs: Any) -> Any:
    """Build an ``nn.Module`` from a spec (see :func:`deepmad.models.build_model`; imports torch)."""
    from deepmad.models import build_model as _build

    return _build(*args, **kwargs)
