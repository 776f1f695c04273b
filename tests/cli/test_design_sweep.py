"""Pareto sweeps: ``deepmad.solvers.sweep`` and ``deepmad design --sweep``."""

from __future__ import annotations

import json
import math

import pytest

from deepmad.cli.main import main
from deepmad.errors import DeepmadError
from deepmad.solvers import Budget, DesignProblem
from deepmad.solvers.sweep import geometric_values, sweep
from tests.solvers.conftest import tiny_resnet


def _tiny_at(params: float) -> DesignProblem:
    base = tiny_resnet()
    budgets = (Budget("macs", upper=20e6, convention="tinynas"), Budget("params", upper=params),
               Budget("rho", upper=0.4))
    return DesignProblem(base.space, base.objective, budgets, name="tiny")


def _check_monotone(objs: list[float], duals: list[float]) -> None:
    """The optimum cannot fall as the budget grows: obj_i <= OPT_i <= OPT_j <= dual_j for i < j."""
    for i in range(len(objs)):
        for j in range(i, len(objs)):
            assert objs[i] <= duals[j] * (1 + 1e-9), (i, j, objs, duals)


def test_geometric_values() -> None:
    assert geometric_values(100, 400, 3) == pytest.approx((100, 200, 400))
    assert geometric_values(10, 20, 4, integer=True) == (10.0, 13.0, 16.0, 20.0)
    for lo, hi, n in ((0, 1, 3), (2, 1, 3), (1, 2, 1)):
        with pytest.raises(DeepmadError):
            geometric_values(lo, hi, n)


def test_sweep_is_monotone_within_the_certified_gaps() -> None:
    values = geometric_values(0.25e6, 0.6e6, 4)
    pts = sweep(_tiny_at, values, "exact", {"time_limit": 5, "gap": 1e-3})
    assert [p.budget for p in pts] == sorted(values)
    objs = [p.result.objective for p in pts]
    _check_monotone(objs, [p.result.dual_bound for p in pts])
    assert objs == sorted(objs)  # warm start: the previous design is feasible, so never worse
    assert pts[0].warm_start is None and all(p.warm_start is not None for p in pts[1:])
    assert all(p.result.objective >= p.warm_start for p in pts[1:])
    # the sweep bound is the smallest bound of this and every larger budget
    assert [p.sweep_dual for p in pts] == [min(q.result.dual_bound for q in pts[i:]) for i in range(len(pts))]
    assert all(p.sweep_gap <= p.result.gap + 1e-12 for p in pts)


def test_cli_sweep_on_a_32px_space(tmp_path, capsys) -> None:
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    rc = main(["design", "--space", "resnet", "--resolution", "32", "--num-classes", "10", "--macs", "30M",
               "--sweep", "params=100k:400k:3", "--time-limit", "0.3", "--gap", "0.05", "--output", str(out),
               "--plot", str(png)])
    text = capsys.readouterr().out
    assert rc == 0
    rows = [line for line in text.splitlines() if line.strip().startswith(("100k", "200k", "400k"))]
    assert len(rows) == 3, text
    data = json.loads(out.read_text())
    assert [round(d["budget"]) for d in data] == [100_000, 200_000, 400_000]
    objs = [d["objective"] for d in data]
    _check_monotone(objs, [d["solver"]["dual_bound"] or math.inf for d in data])
    assert objs == sorted(objs)
    assert all(d["costs"]["params"] <= d["budget"] and d["spec"]["head"]["num_classes"] == 10 for d in data)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_sweep_with_like_replaces_that_budget(capsys) -> None:
    rc = main(["design", "--like", "deepmad_r18", "--sweep", "macs=1.2G:1.8G:2", "--time-limit", "1", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)  # --json: only the list
    limits = [next(c["limit"] for c in d["constraints"] if c["name"] == "macs[tinynas]") for d in data]
    assert limits == pytest.approx([1.2e9, 1.8e9])
    assert {d["costs"]["convention"] for d in data} == {"tinynas"}  # as --like
    assert data[1]["warm_start_objective"] is not None and data[0]["warm_start_objective"] is None


@pytest.mark.parametrize(("argv", "words"), [
    (["--space", "resnet", "--macs", "1G", "--sweep", "macs=100M:1G:3"], ["--macs and --sweep macs=", "drop one"]),
    (["--space", "resnet", "--sweep", "params=1M:2M:2", "--resolution", "32", "--strides", "2,2,2,2,2,2"],
     ["--strides=2,2,2,2,2,2"]),
    (["--space", "resnet", "--sweep", "params=1M:2M:2", "--measure"], ["--measure times one design", "--sweep"]),
])
def test_cli_sweep_refusals(argv, words, capsys) -> None:
    assert main(["design", *argv, "--time-limit", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


@pytest.mark.parametrize(("text", "word"), [
    ("latency=1:2:3", "quantity 'latency' is invalid"),
    ("macs=1G:100M:3", "0 < LOW < HIGH"),
    ("macs=100M:1G", "QTY=LOW:HIGH:STEPS"),
    ("macs=100M:1G:x", "steps 'x' is not an integer"),
    ("macs=100M:1G:1", "STEPS >= 2"),
])
def test_malformed_sweep_flag(text, word, capsys) -> None:
    assert main(["design", "--space", "resnet", "--sweep", text]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err, err
