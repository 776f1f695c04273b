"""Architecture specs: frozen, typed, JSON-serialisable dataclasses (no torch)."""

from deepmad.spec import ghost as ghost  # registers the GhostNet kinds and presets
from deepmad.spec.blocks import (
    BLOCK_KINDS,
    BlockKind,
    ConvBNAct,
    ResNetStem,
    StageSpec,
    register_block_kind,
    se_channels,
)
from deepmad.spec.network import HeadSpec, NetworkSpec, conv_out_size
from deepmad.spec.presets import get_preset, list_presets, register_preset
from deepmad.spec.resolve import load_spec
from deepmad.spec.serialize import load_spec_json, save_spec_json, spec_from_dict, spec_to_dict
from deepmad.spec.tinynas_io import (
    load_tinynas,
    parse_tinynas_text,
    save_tinynas,
    spec_from_tinynas,
    spec_to_tinynas,
)

__all__ = [
    "BLOCK_KINDS",
    "BlockKind",
    "ConvBNAct",
    "HeadSpec",
    "NetworkSpec",
    "ResNetStem",
    "StageSpec",
    "conv_out_size",
    "get_preset",
    "list_presets",
    "load_spec",
    "load_spec_json",
    "load_tinynas",
    "parse_tinynas_text",
    "register_block_kind",
    "register_preset",
    "save_spec_json",
    "save_tinynas",
    "se_channels",
    "spec_from_dict",
    "spec_from_tinynas",
    "spec_to_dict",
    "spec_to_tinynas",
]
