"""Spec -> ``nn.Module`` (torch). The builder never computes costs or scores."""

from deepmad.models import ghost as ghost  # registers the GhostNet torch blocks
from deepmad.models.factory import build_model, create_model
from deepmad.models.network import Network

__all__ = ["Network", "build_model", "create_model"]
