"""Fixtures for the training tests (helpers live in ``train_helpers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import TINY_SPEC

from deepmad.spec import save_spec_json


@pytest.fixture(scope="session")
def tiny_spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.json"
    save_spec_json(TINY_SPEC, path)
    return path
