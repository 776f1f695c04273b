"""``deepmad enlarge``: JSON result, plot, schedule and one-line errors."""

from __future__ import annotations

import json

from deepmad.cli.main import main
from deepmad.cost import count_network
from deepmad.spec import get_preset, load_spec_json


def test_enlarge_greedy_writes_result_and_plot(tmp_path, capsys) -> None:  # noqa: ANN001
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    m0 = count_network(get_preset("resnet18").replace(resolution=32)).macs
    code = main(["enlarge", "--from", "resnet18", "--resolution", "32", "--macs", str(4 * m0),
                 "--resolution-steps", "0,8", "--candidates", "8", "--output", str(out), "--plot", str(png)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["method"] == "greedy" and data["baseline"]["method"] == "compound"
    assert [round(t / m0, 2) for t in data["targets"]] == [2.0, 4.0]
    assert [p["step"] for p in data["path"]] == [0, 1, 2]
    assert all(p["in_band"] for p in data["path"]) and "stage_macs" in data["path"][1]
    assert data["evaluator"]["name"] == "entropy" and data["config"]["num_candidates"] == 8
    assert load_spec_json(out).resolution >= 32
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "greedy: 2 step(s)" in capsys.readouterr().out


def test_enlarge_compound_and_errors(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "c.json"
    assert main(["enlarge", "--from", "ghostnet_1_0", "--macs", "300M,600M", "--method", "compound",
                 "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["method"] == "compound" and data["targets"] == [300_000_000, 600_000_000]
    assert main(["enlarge", "--from", "ghostnet_1_0", "--macs", "100M"]) == 2
    assert main(["enlarge", "--from", "ghostnet_1_0", "--macs", "600M", "--band", "1,0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2].startswith("deepmad enlarge: error: final MACs") and "band=" in err[-1]
