"""Errors name the file and the field: damaged specs, tables, spaces, metrics and CSVs; the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import deepmad
from deepmad.cli.main import main
from deepmad.errors import SpecError
from deepmad.mathnas import load_table, table_to_dict
from deepmad.spec import get_preset

NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    spec = get_preset("resnet18").to_dict()
    Path("spec_json.txt").write_text(json.dumps(spec))
    Path("name.txt").write_text("[{'class': 'ConvKXBNRELU', 'in': 3, 'out': x, 's': 2, 'k': 3}]")
    Path("empty.json").write_text("{}")
    Path("trunc.json").write_text(json.dumps(spec)[:60])
    spec["stages"][1]["depth"] = -2
    Path("negdepth.json").write_text(json.dumps(spec))
    table = table_to_dict(load_table("nb201"))
    table["metrics"]["accuracy"]["drop"][0][1] = "a"
    Path("table_str.json").write_text(json.dumps(table))
    demo = (Path(deepmad.__file__).parent / "data" / "mathnas" / "cnn_space_demo.json").read_text()
    Path("trunc_space.json").write_text(demo[:100])
    Path("run").mkdir()
    Path("run/metrics.jsonl").write_text('{"epoch": 1, "train_lo')
    Path("bad.csv").write_text(f'arch,acc\n"{NB201_ARCH}",71.5\n"{NB201_ARCH}",x\n')
    return tmp_path


CASES = [
    (["cost", "spec_json.txt"], "spec_json.txt holds a deepmad JSON spec, not a TinyNAS structure; name it .json"),
    (["cost", "name.txt"], "name.txt: not a TinyNAS structure literal: 'x' at line 1 is not a Python literal"),
    (["cost", "empty.json"], "empty.json: not a deepmad network spec: no 'schema_version' key"),
    (["cost", "trunc.json"], "trunc.json: not valid JSON (truncated: it ends at line 1 column"),
    (["cost", "negdepth.json"], "negdepth.json: stages[1]: StageSpec.depth=-2 is invalid"),
    (["mathnas", "solve", "--table", "table_str.json", "--max-flops", "100M"],
     "table_str.json: metrics['accuracy'].drop[0][1]='a' is invalid; expected a number"),
    (["mathnas", "profile", "--space", "trunc_space.json", "--output", "p.json"],
     "space file trunc_space.json: not valid JSON (Unterminated string"),
    (["plot", "run"], "run/metrics.jsonl holds no complete epoch record: its only line is truncated"),
    (["mathnas", "predict", "--table", "nb201", "--archs", "bad.csv", "--arch-column", "arch", "--truth-column",
      "acc", "--output", "pred.csv"], "deepmad mathnas predict: error: bad.csv row 3: acc='x' is not a number"),
]


@pytest.mark.parametrize(("argv", "needle"), CASES, ids=[a[1] if a[0] == "cost" else a[0] + a[1] for a, _ in CASES])
def test_message_names_file_and_field(files: Path, argv: list[str], needle: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in files.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert " object at 0x" not in err
    assert sorted(p.name for p in files.iterdir()) == before  # nothing written (pred.csv included)


def test_count_network_accepts_what_create_model_accepts(tmp_path: Path) -> None:
    assert deepmad.count_network("resnet18") == deepmad.count_network(get_preset("resnet18"))
    path = tmp_path / "r18.json"
    path.write_text(json.dumps(get_preset("resnet18").to_dict()))
    assert deepmad.count_network(path, "tinynas").params == deepmad.count_network(get_preset("resnet18"), "tinynas").params
    with pytest.raises(SpecError, match="spec=3 is invalid; expected a NetworkSpec, a preset name"):
        deepmad.count_network(3)  # type: ignore[arg-type]


def test_create_model_pretrained_is_refused_plainly() -> None:
    with pytest.raises(SpecError, match="deepmad ships no pretrained weights") as info:
        deepmad.create_model("resnet18", pretrained=True)
    assert "--" not in str(info.value)
    assert deepmad.create_model("resnet18", pretrained=False, num_classes=3).fc.out_features == 3
