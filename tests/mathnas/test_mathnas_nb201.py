"""NAS-Bench-201 architecture strings, NASLib keys and the CSV lookup evaluator."""

from __future__ import annotations

import itertools

import pytest

from deepmad.errors import DeepmadError
from deepmad.mathnas import (
    NB201_OPS,
    LookupEvaluator,
    arch_from_naslib_key,
    format_arch,
    load_table,
    nb201_space,
    parse_arch,
    parse_arch_text,
    read_metrics_csv,
)
from deepmad.mathnas.nb201 import op_flops

from ._helpers import subset_records, write_subset_csv


def test_arch_strings_round_trip_for_every_cell() -> None:
    seen = set()
    for arch in itertools.product(range(5), repeat=6):
        text = format_arch(arch)
        assert parse_arch(text) == arch
        seen.add(text)
    assert len(seen) == 15625
    assert format_arch((0, 1, 2, 3, 4, 3)) == (
        "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|")


def test_naslib_key_conversion_swaps_positions_2_and_3() -> None:
    """The subset README's example: (4, 3, 3, 3, 2, 3)."""
    want = "|avg_pool_3x3~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    assert format_arch(arch_from_naslib_key("(4, 3, 3, 3, 2, 3)")) == want
    assert arch_from_naslib_key((0, 1, 2, 3, 4, 0)) == (1, 0, 2, 3, 4, 1)  # skip, none, c1x1<->c3x3 swapped


def test_op_flops_and_space() -> None:
    assert op_flops("none", 32) == op_flops("skip_connect", 32) == 0
    assert op_flops("nor_conv_3x3", 32) == 35_819_520 and op_flops("nor_conv_1x1", 16) == 1_090_560
    space = nb201_space("cifar10")
    assert space.size == 15625 and space.options[0] == NB201_OPS
    assert space.network_flops((3,) * 6) / 1e6 == pytest.approx(222.86, abs=0.01)
    assert space.network_flops((0,) * 6) == space.flops_base


@pytest.mark.parametrize("text, match", [
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown"),
    ("|none~0|+|none~0|", "not a NAS-Bench-201"),
])
def test_bad_arch_strings(text: str, match: str) -> None:
    with pytest.raises(DeepmadError, match=match):
        parse_arch(text)


def test_parse_arch_text_accepts_indices_and_names() -> None:
    t = load_table("mbv3-gpu")
    assert parse_arch_text("3,4,4,4,3", t.space) == (3, 4, 4, 4, 3)
    assert parse_arch_text("[3, 4, 4, 4, 3]", t.space) == (3, 4, 4, 4, 3)
    space = nb201_space()
    assert parse_arch_text("none skip_connect nor_conv_1x1 nor_conv_3x3 avg_pool_3x3 none", space) == (0, 1, 2, 3, 4, 0)
    with pytest.raises(DeepmadError, match="out of range"):
        parse_arch_text("3,4,4,4,5", t.space)
    with pytest.raises(DeepmadError, match="has 6 nodes|5 nodes"):
        parse_arch_text(format_arch((0,) * 6), t.space)


def test_csv_reader_and_lookup(tmp_path) -> None:
    path = write_subset_csv(tmp_path / "subset.csv")
    space = nb201_space("ImageNet16-120")
    records = read_metrics_csv(path, space, "arch", {"accuracy": "val_acc"})
    truth = subset_records("ImageNet16-120")
    assert len(records) == 491
    assert all(records[a]["accuracy"] == pytest.approx(r["accuracy"]) for a, r in truth.items())
    ev = LookupEvaluator.from_csv(path, space, "arch", {"accuracy": "val_acc", "latency": "params"})
    arch = next(iter(truth))
    assert ev(arch)["latency"] == pytest.approx(truth[arch]["params"])
    assert ev.served == {arch} and len(ev.architectures) == 491
    with pytest.raises(DeepmadError, match="column 'acc' not found"):
        read_metrics_csv(path, space, "arch", {"accuracy": "acc"})


def test_csv_duplicates_are_averaged_and_bad_cells_rejected(tmp_path) -> None:
    space = nb201_space()
    a = format_arch((3,) * 6)
    (tmp_path / "dup.csv").write_text(f"arch,acc\n{a},90\n{a},92\n")
    assert read_metrics_csv(tmp_path / "dup.csv", space, "arch", {"accuracy": "acc"}) == {(3,) * 6: {"accuracy": 91.0}}
    (tmp_path / "bad.csv").write_text(f"arch,acc\n{a},n/a\n")
    with pytest.raises(DeepmadError, match=r"bad.csv:2 column 'acc': 'n/a' is not a number"):
        read_metrics_csv(tmp_path / "bad.csv", space, "arch", {"accuracy": "acc"})
