"""Block tables: shipped data, FLOPs counters, JSON round trip, validation errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepmad.errors import DeepmadError
from deepmad.mathnas import (
    NB201_DATASETS,
    TABLE_DEVICES,
    BlockTable,
    MetricTable,
    list_tables,
    load_table,
    load_table_json,
    nb201_space,
    save_table_json,
    table_from_dict,
    table_to_dict,
)
from deepmad.mathnas.mbv3 import mbv3_fixed_macs, mbv3_option_macs

from ._helpers import _subset_raw, random_table, subset_records

COMMIT = "b16b5519f3dca59db96b2613ba92d2dff0a83f32"


@pytest.mark.parametrize("name", sorted(TABLE_DEVICES))
def test_shipped_tables_load_with_provenance(name: str) -> None:
    for device in TABLE_DEVICES[name][0]:
        t = load_table(name, device)
        assert t.device == device
        assert set(t.metrics) >= {"accuracy", "latency", "flops"}
        assert t.provenance["source"]["commit"] == COMMIT
        assert "notes" in t.provenance
        assert t.sizes == ((5,) * 5 if name.startswith("mbv3") else (5,) * 6)
    assert list_tables() == ["mbv3-cpu", "mbv3-gpu", "nb201"]


def test_shipped_values_match_the_reference_note() -> None:
    gpu = load_table("mbv3-gpu")
    assert gpu.metric("accuracy").base == 79.23
    assert gpu.metric("accuracy").drop[0][0] == pytest.approx(0.278806)
    assert gpu.metric("accuracy").drop[4][3] == pytest.approx(-0.055238)
    assert gpu.metric("latency").delta[0][0] == pytest.approx(4.0652432)
    assert load_table("mbv3-cpu", "raspberry_pi").metric("latency").delta[3][4] == pytest.approx(527.7, abs=0.05)
    nb = load_table("nb201", "fpga")
    assert nb.metric("latency").base == 899 and nb.metric("energy").base == 6291
    assert nb.metric("accuracy").drop[0] == pytest.approx((10, 4.383333, 1.1, 0, 6.733333), abs=1e-5)
    assert nb.metric("latency").drop[0][3] == pytest.approx(-420.5425)
    assert load_table("nb201").metric("latency").base == 5711


def test_mbv3_flops_reproduce_paper_table1() -> None:
    """MathNAS-MB2 (cpu, all o0) is 289M and MB4 (cpu, all o4) 669M MACs in Table 1."""
    t = load_table("mbv3-cpu")
    flops = t.metric("flops")
    assert round(flops.value((0,) * 5) / 1e6) in (289, 290)
    assert round(flops.value((4,) * 5) / 1e6) == 669
    assert flops.value((0,) * 5) == mbv3_fixed_macs() + sum(r[0] for r in mbv3_option_macs(t.provenance["stage_options"]))


@pytest.mark.parametrize("dataset", sorted(NB201_DATASETS))
def test_nb201_flops_equal_the_benchmark_metadata(dataset: str) -> None:
    space = nb201_space(dataset)
    recs = subset_records(dataset)
    got = np.array([space.network_flops(a) for a in recs]) / 1e6
    want = np.array([r["flops"] for r in recs.values()])
    assert len(recs) == 491
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert _subset_raw()  # data present


@pytest.mark.parametrize("name", ["mbv3-gpu", "mbv3-cpu", "nb201"])
def test_json_round_trip(tmp_path, name: str) -> None:
    t = load_table(name)
    path = save_table_json(t, tmp_path / "t.json")
    back = load_table_json(path)
    assert table_to_dict(back) == json.loads(json.dumps(table_to_dict(t)))
    for m in t.metrics:
        np.testing.assert_allclose(np.concatenate(back.metric(m).delta), np.concatenate(t.metric(m).delta), rtol=1e-15)
    assert load_table(str(path)).name == name


def test_variable_depth_round_trip(tmp_path) -> None:
    t = random_table(np.random.default_rng(0), (3, 3, 3))
    t = BlockTable(**{**t.__dict__, "skip_options": (None, 0, 0), "depth_groups": ((1, 2),)})
    back = load_table_json(save_table_json(t, tmp_path / "d.json"))
    assert back.skip_options == (None, 0, 0) and back.depth_groups == ((1, 2),)
    assert back.is_valid_depth((1, 1, 0)) and not back.is_valid_depth((1, 0, 1))


def test_user_table_accepts_drop_or_delta() -> None:
    data = {"format": "deepmad.mathnas.block_table", "version": 1, "name": "mine",
            "nodes": ["a", "b"], "options": [["x", "y"], ["x", "y", "z"]],
            "metrics": {"accuracy": {"base": 70, "drop": [[0, 1], [0, 0.5, 2]]},
                        "latency": {"base": 1, "delta": [[1, 2], [0, 1, 3]], "unit": "ms"}}}
    t = table_from_dict(data)
    assert t.metric("accuracy").value((1, 2)) == pytest.approx(67.0)
    assert t.metric("latency").value((1, 2)) == pytest.approx(6.0)
    assert t.metric("latency").bounds() == (2.0, 6.0)


@pytest.mark.parametrize("change, match", [
    ({"format": "other"}, "not a block table"),
    ({"version": 2}, "version"),
    ({"extra": 1}, "unknown keys"),
    ({"metrics": {"accuracy": {"base": 1, "drop": [[0, 1]]}}}, "rows"),
    ({"metrics": {"accuracy": {"base": 1, "drop": [[0], [0]]}}}, "entries"),
    ({"metrics": {"speed": {"base": 1, "delta": [[0, 1], [0, 1]]}}}, "not supported"),
    ({"metrics": {"accuracy": {"base": 1, "drop": [[0, 1], [0, 1]], "delta": [[0, 1], [0, 1]]}}}, "exactly one"),
    ({"options": [["x", "x"], ["x", "y"]]}, "repeats"),
])
def test_bad_tables_raise_one_line_errors(change: dict, match: str) -> None:
    data = {"format": "deepmad.mathnas.block_table", "version": 1, "name": "bad", "nodes": ["a", "b"],
            "options": [["x", "y"], ["x", "y"]], "metrics": {"accuracy": {"base": 1, "drop": [[0, 1], [0, 1]]}}}
    with pytest.raises(DeepmadError, match=match):
        table_from_dict({**data, **change})


def test_load_table_errors() -> None:
    with pytest.raises(DeepmadError, match="allowed: mbv3-cpu, mbv3-gpu, nb201"):
        load_table("mbv4")
    with pytest.raises(DeepmadError, match="allowed: tx2_cpu, raspberry_pi"):
        load_table("mbv3-cpu", "tx2_gpu")
    with pytest.raises(DeepmadError, match="no 'energy'"):
        load_table("mbv3-gpu").metric("energy")
    with pytest.raises(DeepmadError, match="flops_reference"):
        BlockTable("t", ("a",), (("x",),), {"accuracy": MetricTable(0.0, ((0.0,),))}, flops_reference=-1.0)
