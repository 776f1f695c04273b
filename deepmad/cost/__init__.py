"""Closed-form integer costs of a spec (no torch): params, MACs, FLOPs, activations, layers."""

from deepmad.cost import ghost as ghost  # registers the GhostNet cost rules
from deepmad.cost.counts import count_network
from deepmad.cost.report import CONVENTIONS, BlockCost, CostReport, LayerRecord, StageCost

__all__ = ["CONVENTIONS", "BlockCost", "CostReport", "LayerRecord", "StageCost", "count_network"]
