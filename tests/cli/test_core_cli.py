"""The foundation CLI: presets, cost, convert, show; one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deepmad.cli.main import main
from deepmad.cost import count_network
from deepmad.spec import get_preset, load_spec


def test_presets_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "deepmad_r50" in out and "25.56M" in out and "resolution" in out


def test_cost_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "deepmad_r50", "--convention", "tinynas", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == 24_208_144
    assert data["flops"] == 2 * data["macs"]
    assert {"params", "macs", "flops", "layers", "activations", "stages"} <= set(data)
    assert [s["name"] for s in data["stages"]][:2] == ["stem", "stage1"]


def test_cost_resolution_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "resnet50", "--resolution", "128", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["macs"] == count_network(get_preset("resnet50").replace(resolution=128)).macs


def test_convert_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    txt, js = tmp_path / "r50.txt", tmp_path / "r50.json"
    assert main(["convert", "deepmad_r50", "-o", str(txt)]) == 0
    assert main(["convert", str(txt), "-o", str(js)]) == 0
    assert load_spec(js).replace(name="") == get_preset("deepmad_r50").replace(name="")
    assert main(["show", str(js)]) == 0
    assert "res_k1kxk1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["cost", "resnet19"], "'resnet19' is neither a preset nor a .json/.txt file"),
        (["cost", "resnet18", "--resolution", "0"], "argument --resolution: 0 is out of range"),
        (["convert", "resnet18", "-o", "x.yaml"], "must end in .json"),
        (["convert", "resnet18", "-o", "x.txt"], "stem cannot be written as TinyNAS"),
        (["presets", "vit*"], "no preset matches 'vit*'"),
    ],
)
def test_bad_input_one_line_nonzero(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_console_script_exits_nonzero_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**get_preset("resnet18").to_dict(), "stages": []}))
    proc = subprocess.run([sys.executable, "-m", "deepmad.cli.main", "cost", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("NetworkSpec.stages=() is invalid; expected at least one stage")
    assert "Traceback" not in proc.stderr
