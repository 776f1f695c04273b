"""Committed golden costs of every preset guard against silent drift."""

from __future__ import annotations

import json

import pytest

from deepmad.spec import list_presets
from tests.golden.make_preset_costs import GOLDEN, compute

GOLD = json.loads(GOLDEN.read_text())
NOW = compute()


@pytest.mark.parametrize("name", sorted(GOLD))
def test_preset_costs_unchanged(name: str) -> None:
    assert NOW.get(name) == GOLD[name], (
        f"{name} costs changed; if intended, run tests/golden/make_preset_costs.py and review the diff")


def test_every_preset_has_a_golden_entry() -> None:
    missing = sorted(set(list_presets()) - set(GOLD))
    assert not missing, f"presets without golden costs: {missing} (run tests/golden/make_preset_costs.py)"
