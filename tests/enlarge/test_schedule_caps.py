"""Enlarging targets far beyond the base network are refused up front, with the reason."""

from __future__ import annotations

import pytest

from deepmad.cli.main import main
from deepmad.enlarge import make_schedule
from deepmad.enlarge.schedule import MAX_GROWTH, MAX_STEPS
from deepmad.errors import DeepmadError


def test_growth_cap() -> None:
    assert make_schedule(1e6, [MAX_GROWTH * 1e6])[-1] == MAX_GROWTH * 1e6
    with pytest.raises(DeepmadError, match=r"is 1e\+24x the base network's 1e\+06; greedy enlarging grows a "
                                           r"network at most 1000x"):
        make_schedule(1e6, [1e30])
    with pytest.raises(DeepmadError, match="at most 1000x"):
        make_schedule(1e6, [2e6, 2e9 + 1])
    with pytest.raises(DeepmadError, match="at most 1000x"):
        make_schedule(1e6, [float("inf")])


def test_step_cap() -> None:
    with pytest.raises(DeepmadError, match=f"makes a schedule of 70 steps .* at most {MAX_STEPS}"):
        make_schedule(1e6, [2e6], step_ratio=1.01)
    with pytest.raises(DeepmadError, match=f"at most {MAX_STEPS} are allowed"):
        make_schedule(1e6, [1e6 * (1 + i / 10) for i in range(1, MAX_STEPS + 2)])


def test_cli_refuses_huge_target_before_work(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["enlarge", "--from", "ghostnet_1_0", "--macs", "1e30"]) == 2
    err = capsys.readouterr().err
    assert "greedy enlarging grows a network at most 1000x" in err and err.count("\n") == 1
