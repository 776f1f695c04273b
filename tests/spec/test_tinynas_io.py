"""TinyNAS structure files: safe import, exact round trip, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepmad.errors import SpecError
from deepmad.spec import (
    get_preset,
    load_tinynas,
    parse_tinynas_text,
    save_tinynas,
    spec_from_tinynas,
    spec_to_tinynas,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tinynas"
FILES = {
    "deepmad-R18.txt": "deepmad_r18",
    "deepmad-R34.txt": "deepmad_r34",
    "deepmad-R50.txt": "deepmad_r50",
    "deepmad-29M-224.txt": "deepmad_29m_224",
    "deepmad-29M-288.txt": "deepmad_29m_288",
    "deepmad-50M.txt": "deepmad_50m",
    "deepmad-89M.txt": "deepmad_89m",
}


@pytest.mark.parametrize("filename", sorted(FILES))
def test_published_structure_files_import_as_presets(filename: str) -> None:
    preset = get_preset(FILES[filename])
    spec = load_tinynas(FIXTURES / filename, resolution=preset.resolution)
    assert spec.replace(name=preset.name) == preset


@pytest.mark.parametrize("filename", sorted(FILES))
def test_export_import_round_trip_is_exact(filename: str, tmp_path: Path) -> None:
    blocks = parse_tinynas_text((FIXTURES / filename).read_text())
    spec = spec_from_tinynas(blocks)
    assert spec_to_tinynas(spec) == blocks
    out = tmp_path / "x.txt"
    save_tinynas(spec, out)
    assert parse_tinynas_text(out.read_text()) == blocks
    assert load_tinynas(out) == spec.replace(name="x")


def test_literal_eval_never_executes_code() -> None:
    with pytest.raises(SpecError, match="not a TinyNAS structure literal"):
        parse_tinynas_text("__import__('os').system('echo pwned')")


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([{"class": "ConvKXBNRELU", "in": 3, "out": 8, "s": 2, "k": 3},
          {"class": "SuperResK1KX", "in": 8, "out": 8, "s": 1, "k": 3, "L": 1, "btn": 8}],
         r"block 1: class 'SuperResK1KX' is not supported; allowed: ConvKXBNRELU, "),
        ([{"class": "ConvKXBNRELU", "in": 3, "out": 8, "s": 2, "k": 3},
          {"class": "SuperResK1KXK1", "in": 16, "out": 8, "s": 1, "k": 3, "L": 1, "btn": 8}],
         r"block 1: in=16 does not match the previous block's out=8"),
        ([{"class": "ConvKXBNRELU", "in": 3, "out": 8, "s": 2, "k": 3, "nbitsA": [8]}],
         r"block 0 \(ConvKXBNRELU\): unsupported key\(s\) \['nbitsA'\]"),
        ([{"class": "SuperResK1KXK1", "in": 3, "out": 8, "s": 1, "k": 3, "L": 1, "btn": 8}],
         r"block 0: the first block must be ConvKXBNRELU"),
    ],
)
def test_clear_errors(blocks: list, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec_from_tinynas(blocks)


def test_export_refuses_what_tinynas_cannot_express() -> None:
    with pytest.raises(SpecError, match="has no TinyNAS equivalent"):
        spec_to_tinynas(get_preset("resnet50").replace(stem=get_preset("deepmad_r50").stem))
