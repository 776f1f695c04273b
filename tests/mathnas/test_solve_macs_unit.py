"""``mathnas solve --max-macs/--max-flops``: one unit (multiply-adds) for every table, said in the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepmad.cli.main import main
from deepmad.mathnas.tables import BlockTable, MetricTable, save_table_json


@pytest.fixture
def flops_table(tmp_path: Path) -> Path:
    """A profile-style table whose flops are FLOPs (2 per MAC): options cost 50/100 and 50/150 MACs."""
    table = BlockTable("two", ("a", "b"), (("small", "big"), ("small", "big")), {
        "accuracy": MetricTable(70.0, ((0.0, 2.0), (0.0, 3.0)), "%"),
        "flops": MetricTable(0.0, ((100.0, 200.0), (100.0, 300.0)), "FLOPs"),
    })
    return save_table_json(table, tmp_path / "two.json")


def test_flops_table_limit_is_in_macs(flops_table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mathnas", "solve", "--table", str(flops_table), "--max-flops", "150"]) == 0
    out = capsys.readouterr().out
    assert "a: option 1  big" in out and "b: option 0  small" in out  # 100 + 50 = 150 MACs (300 FLOPs)
    assert "predicted MACs: 150 MACs" in out and "MACs <= 150: value 150" in out


def test_json_reports_macs(flops_table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mathnas", "solve", "--table", str(flops_table), "--max-macs", "150", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["predicted"]["flops"] == 150 and data["units"]["flops"] == "MACs (multiply-adds)"
    c = data["constraints"][0]
    assert (c["name"], c["sense"], c["limit"]) == ("MACs", "<=", 150)


def test_mbv3_and_nb201_tables_count_multiply_adds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mathnas", "solve", "--table", "mbv3-gpu", "--max-macs", "400M"]) == 0
    assert "MACs <= 4e+08" in capsys.readouterr().out
    assert main(["mathnas", "solve", "--table", "nb201", "--min-flops", "50M"]) == 0
    assert "MACs >= 5e+07" in capsys.readouterr().out
