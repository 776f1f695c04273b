"""``deepmad mathnas solve | estimate | predict | profile``."""

from __future__ import annotations

import csv
import json

import pytest

from deepmad.cli.main import main
from deepmad.mathnas import load_table

from ._helpers import write_subset_csv
from .test_mathnas_profile import fake_timing, flops_latency, tiny_space_dict


def test_solve_json_reproduces_released_example(capsys) -> None:
    rc = main(["mathnas", "solve", "--table", "mbv3-gpu", "--latency-device", "tx2_gpu",
               "--max-latency", "500", "--predictor", "additive", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["choices"] == [3, 4, 4, 4, 3]
    assert round(out["predicted"]["accuracy"], 2) == 79.30 and round(out["predicted"]["latency"], 1) == 68.9
    assert out["solver"]["name"] == "milp" and out["solver"]["status"] == "optimal" and out["solver"]["time_s"] > 0
    assert "energy" not in out["predicted"]


def test_solve_text_brute_flops_with_energy(capsys) -> None:
    rc = main(["mathnas", "solve", "--table", "nb201", "--latency-device", "fpga", "--max-latency", "2000",
               "--max-energy", "15000", "--min-flops", "5M", "--predictor", "flops", "--solver", "brute"])
    out = capsys.readouterr().out
    assert rc == 0 and "solver brute: optimal" in out
    assert "predicted energy" in out and "latency <= 2000" in out and "MACs >= 5e+06" in out


def test_solve_charnes_cooper_json_stays_clean(capfd) -> None:
    rc = main(["mathnas", "solve", "--table", "mbv3-cpu", "--latency-device", "raspberry_pi", "--max-latency", "1500",
               "--predictor", "flops", "--fractional-method", "charnes_cooper", "--json"])
    out = json.loads(capfd.readouterr().out)  # HiGHS debug lines must not reach stdout
    assert rc == 0 and out["solver"]["name"] == "charnes_cooper" and out["predicted"]["latency"] <= 1500


def test_solve_infeasible_budget_is_one_line(capsys) -> None:
    rc = main(["mathnas", "solve", "--table", "mbv3-gpu", "--max-latency", "30"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "latency <= 30 ms is infeasible: the minimum achievable latency is 33.8588 ms" in err
    rc = main(["mathnas", "solve", "--table", "mbv3-gpu", "--max-latency", "30", "--json"])
    captured = capsys.readouterr()
    assert rc == 2 and json.loads(captured.out)["solver"]["status"] == "infeasible"


@pytest.mark.parametrize("argv, match", [
    (["--table", "mbv9"], "table 'mbv9' is unknown"),
    (["--table", "mbv3-gpu", "--max-energy", "3"], "no 'energy' values"),
    (["--table", "nb201", "--latency-device", "tx2_gpu"], "allowed: edgegpu, fpga"),
])
def test_solve_user_errors(capsys, argv: list[str], match: str) -> None:
    assert main(["mathnas", "solve", *argv]) == 2
    assert match in capsys.readouterr().err


def test_estimate_then_predict_then_solve(tmp_path, capsys) -> None:
    data = write_subset_csv(tmp_path / "nb201.csv")
    blocks = tmp_path / "blocks.json"
    rc = main(["mathnas", "estimate", "--space", "nb201", "--table-csv", str(data), "--arch-column", "arch",
               "--metric-column", "val_acc", "--strategy", "single", "--dataset", "ImageNet16-120",
               "--output", str(blocks)])
    assert rc == 0 and "sparse mode" in capsys.readouterr().out
    assert load_table(str(blocks)).provenance["estimation"]["strategy"] == "single"
    preds = tmp_path / "pred.csv"
    rc = main(["mathnas", "predict", "--table", str(blocks), "--archs", str(data), "--arch-column", "arch",
               "--truth-column", "val_acc", "--output", str(preds)])
    out = capsys.readouterr().out
    assert rc == 0 and "Spearman" in out and "Kendall" in out
    rows = list(csv.DictReader(preds.open()))
    assert len(rows) == 491 and set(rows[0]) == {"arch", "val_acc", "predicted_accuracy"}
    rc = main(["mathnas", "solve", "--table", str(blocks), "--max-flops", "20M", "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["predicted"]["flops"] <= 20e6
    rc = main(["mathnas", "predict", "--table", "nb201", "--archs", str(data), "--arch-column", "arch"])
    assert rc == 0 and capsys.readouterr().out.splitlines()[0] == "arch,predicted_accuracy"


def test_profile_writes_a_latency_table(tmp_path, capsys, monkeypatch) -> None:
    pytest.importorskip("torch")
    from deepmad.mathnas import load_cnn_space

    fake_timing(monkeypatch, flops_latency(load_cnn_space(tiny_space_dict())), jitter=0.01)  # no real clock
    space = tmp_path / "space.json"
    space.write_text(json.dumps(tiny_space_dict()))
    out = tmp_path / "lat.json"
    rc = main(["mathnas", "profile", "--space", str(space), "--output", str(out), "--strategy", "single",
               "--warmup", "1", "--repeats", "5", "--threads", "1", "--check", "3", "--clock", "cpu",
               "--statistic", "min"])
    text = capsys.readouterr().out
    assert rc == 0 and "networks timed" in text and "check on" in text and "MAE 0.000 ms" in text
    lat = load_table(str(out))
    assert lat.metric("latency").unit == "ms" and lat.sizes == (2, 3)
    acc = tmp_path / "acc.json"
    acc.write_text(json.dumps({"format": "deepmad.mathnas.block_table", "version": 1, "name": "tiny-acc",
                               "nodes": ["stage1", "last"], "options": [["k3", "k5-d2"], ["k3", "b96", "deep"]],
                               "metrics": {"accuracy": {"base": 70.0, "drop": [[0.5, 0.0], [0.7, 0.3, 0.0]]}}}))
    limit = lat.metric("latency").bounds()[1] + 1.0
    rc = main(["mathnas", "solve", "--table", str(acc), "--latency-table", str(out), "--max-latency", str(limit), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["choices"] == [1, 2] and result["predicted"]["latency"] <= limit
