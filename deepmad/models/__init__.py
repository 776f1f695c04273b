"""Spec -> ``nn.Module`` (torch). The builder never computes costs or scores."""

from deepmad.models.factory import build_model, create_model
from deepmad.models.network import Network

__all__ = ["Network", "build_model", "create_model"]
