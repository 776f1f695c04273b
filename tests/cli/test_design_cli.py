"""``deepmad design`` and ``deepmad score`` end to end."""

from __future__ import annotations

import json

import pytest

from deepmad.cli.main import main
from deepmad.cost import count_network
from deepmad.spec import load_spec


def test_design_like_reference_writes_a_loadable_result(tmp_path, capsys) -> None:
    out = tmp_path / "r50.json"
    rc = main(["design", "--like", "deepmad_r50", "--mode", "reference", "--time-limit", "2",
               "--output", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "objective" in text and "constraints (slack <= 0 is met)" in text and "solver exact" in text
    assert "published DeepMAD-R50 under the same objective: 48884.470 (meets these budgets)" in text
    data = json.loads(out.read_text())
    assert {"spec", "objective", "entropy", "penalty", "costs", "constraints", "solver"} <= set(data)
    assert {"params", "macs", "flops", "layers", "rho"} <= set(data["costs"])
    assert {"name", "status", "gap", "time_s", "nodes"} <= set(data["solver"])
    assert all({"name", "value", "limit", "slack"} <= set(c) for c in data["constraints"])
    spec = load_spec(str(out))
    tn = count_network(spec, "tinynas")
    assert tn.macs <= 4.13e9 and tn.params <= 25.55e6 and data["objective"] > 48884.47


def test_design_result_builds_as_a_model(tmp_path, capsys) -> None:
    torch = pytest.importorskip("torch")
    from deepmad.models import build_model

    out = tmp_path / "tiny.json"
    rc = main(["design", "--space", "mobile-se", "--macs", "60M", "--params", "4M", "--resolution", "64",
               "--time-limit", "2", "--output", str(out), "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    spec = load_spec(str(out))
    model = build_model(spec).eval()
    with torch.no_grad():
        y = model(torch.zeros(1, 3, 64, 64))
    assert y.shape == (1, 1000)
    assert sum(p.numel() for p in model.parameters()) == count_network(spec, "torch").params
    assert data["costs"]["macs"] <= 60e6 and data["costs"]["params"] <= 4e6


def test_design_infeasible_budget_exits_2_with_one_line(capsys) -> None:
    rc = main(["design", "--like", "deepmad_r50", "--macs", "1M"])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert "macs[tinynas]: the smallest network in this space needs" in err and "%" in err


@pytest.mark.parametrize("argv,msg", [
    (["design", "--like", "deepmad_r50", "--space", "resnet"], "either --like PRESET or --space"),
    (["design", "--space", "resnet"], "needs at least one budget"),
])
def test_design_usage_errors(argv, msg, capsys) -> None:
    assert main(argv) == 2
    assert msg in capsys.readouterr().err


def test_design_evolution_with_seed(capsys) -> None:
    args = ["design", "--like", "deepmad_r50", "--mode", "reference", "--solver", "evolution",
            "--children", "300", "--seed", "5", "--json"]
    assert main(args) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["spec"] == b["spec"] and a["solver"]["name"] == "evolution" and a["solver"]["gap"] is None


def test_score_prints_the_check_numbers(capsys) -> None:
    assert main(["score", "deepmad_r50", "--mode", "reference", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["objective"] == pytest.approx(48884.470, rel=1e-6)
    assert data["penalty"] == pytest.approx(34.807, rel=1e-4)
    assert data["rho"] == pytest.approx(0.2998, rel=1e-3)
    assert main(["score", "deepmad_29m_224", "--mode", "paper", "--half"]) == 0
    assert "entropy 19135.928" in capsys.readouterr().out


def test_score_rejects_bad_weights(capsys) -> None:
    assert main(["score", "deepmad_r50", "--weights", "1,x"]) == 2
    assert "--weights" in capsys.readouterr().err
