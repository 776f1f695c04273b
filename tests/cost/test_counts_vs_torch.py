"""Closed-form costs equal PyTorch's own counters on the built module (STYLE guideline 3)."""

from __future__ import annotations

import random

import pytest

from deepmad.cost import count_network
from deepmad.spec import get_preset, list_presets
from deepmad.testing import measure_torch_costs, random_spec

BASE_PRESETS = [n for n in list_presets() if n.startswith(("deepmad_", "resnet"))]


def _assert_equal(spec) -> None:  # noqa: ANN001
    ours = count_network(spec)
    theirs = measure_torch_costs(spec)
    assert 2 * ours.macs == theirs.flops
    assert ours.flops == theirs.flops
    assert ours.params == theirs.params
    assert ours.activations == theirs.activations


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_matches_flop_counter_and_numel(name: str) -> None:
    _assert_equal(get_preset(name))


@pytest.mark.parametrize("name", BASE_PRESETS)
@pytest.mark.parametrize("resolution", [32, 57])
def test_presets_match_at_other_resolutions(name: str, resolution: int) -> None:
    _assert_equal(get_preset(name).replace(resolution=resolution))


@pytest.mark.parametrize("seed", range(220))
def test_random_specs_match(seed: int) -> None:
    _assert_equal(random_spec(random.Random(seed)))


def test_torchvision_resnet_parameter_counts() -> None:
    assert count_network(get_preset("resnet18")).params == 11_689_512
    assert count_network(get_preset("resnet34")).params == 21_797_672
    assert count_network(get_preset("resnet50")).params == 25_557_032


def test_flops_is_twice_macs_and_stage_sums_add_up() -> None:
    r = count_network(get_preset("deepmad_r50"))
    assert r.flops == 2 * r.macs
    assert sum(s.macs for s in r.stages) == r.macs
    assert sum(s.params for s in r.stages) == r.params
    assert sum(b.layers for b in r.blocks) == r.layers == 157
