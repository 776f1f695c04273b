"""Training-free scores of a spec (no torch): DeepMAD entropy, effectiveness rho, depth penalty."""

from deepmad.scores.entropy import (
    MODES,
    PENALTY_RULES,
    ScoreConfig,
    ScoreReport,
    StageInfo,
    depth_penalty,
    effectiveness,
    multi_scale_entropy,
    network_units,
    penalty_depths,
    register_block_layers,
    score_spec,
    stage_info,
)

__all__ = [
    "MODES",
    "PENALTY_RULES",
    "ScoreConfig",
    "ScoreReport",
    "StageInfo",
    "depth_penalty",
    "effectiveness",
    "multi_scale_entropy",
    "network_units",
    "penalty_depths",
    "register_block_layers",
    "score_spec",
    "stage_info",
]
