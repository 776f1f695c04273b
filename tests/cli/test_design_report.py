"""Design report: the per-stage table (pure data), the PNGs, and ``deepmad show --plot``."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from deepmad.cli.main import main
from deepmad.cost import count_network
from deepmad.errors import DeepmadError
from deepmad.report import StageRow, SweepRow, draw_design, draw_sweep, stage_table
from deepmad.solvers.problem import ConstraintValue
from deepmad.spec import get_preset

PNG = b"\x89PNG\r\n\x1a\n"


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_stage_table_rows_and_shares() -> None:
    spec = get_preset("deepmad_29m_224")
    rows = stage_table(spec)
    assert [r.name for r in rows] == ["stem"] + [f"stage{i}" for i in range(1, 6)] + ["final_conv", "head"]
    report = count_network(spec)
    assert sum(r.params for r in rows) == report.params and sum(r.macs for r in rows) == report.macs
    for q in ("params_share", "macs_share", "activations_share"):
        assert math.isclose(sum(getattr(r, q) for r in rows), 1.0)
    s3 = rows[3]
    st = spec.stages[2]
    assert (s3.block, s3.width, s3.bottleneck, s3.depth, s3.kernel, s3.stride) == (
        st.block, st.out_channels, st.bottleneck_channels, st.depth, st.kernel_size, st.stride)
    assert s3.side == spec.feature_sizes()[3]
    head = rows[-1]
    assert head.width == 1000 and head.params == spec.num_features * 1000 + 1000 and head.kernel is None
    assert all(r.latency_s is None for r in rows)


def test_stage_table_tinynas_and_latency_hook() -> None:
    spec = get_preset("resnet18")
    rows = stage_table(spec, "tinynas", latency={"stem": 1.0, "stage4": 3.0})
    assert rows[-1].params == 0  # the tinynas convention has no classifier params
    assert rows[0].block == "resnet_stem" and rows[0].stride == 4
    assert rows[0].latency_share == 0.25 and rows[4].latency_share == 0.75 and rows[1].latency_s is None
    with pytest.raises(DeepmadError, match="latency names unknown parts"):
        stage_table(spec, latency={"stage9": 1.0})


def test_draw_design_writes_a_png(tmp_path) -> None:
    spec = get_preset("deepmad_r18")
    cons = (ConstraintValue("params[torch]", "<=", 11.8e6, 12e6, -0.2e6),
            ConstraintValue("macs[torch]", "<=", 2.1e9, 2e9, 0.1e9))
    out = draw_design(tmp_path / "d.png", spec, constraints=cons, compare=get_preset("resnet18"),
                      latency={"stage1": 2e-3}, title="t")
    w, h = _png_size(out)
    assert w > 1200 and h > 900  # two columns, three rows
    w1, _ = _png_size(draw_design(tmp_path / "one.png", spec))
    assert w1 < w


def test_draw_sweep_writes_a_png(tmp_path) -> None:
    from deepmad.report import PresetMark

    rows = [SweepRow(1e8, 100.0, 110.0, 9e7), SweepRow(2e8, 150.0, math.inf, 1.9e8),
            SweepRow(4e8, -math.inf, math.inf, math.nan)]
    out = draw_sweep(tmp_path / "s.png", rows, "macs[torch]", [PresetMark("r18", 1.5e8, 120.0, False)])
    assert _png_size(out)[0] > 500


def test_show_plot_and_compare(tmp_path, capsys) -> None:
    res = tmp_path / "r.json"
    rc = main(["design", "--space", "resnet", "--resolution", "32", "--num-classes", "10", "--params", "0.2M",
               "--macs", "30M", "--time-limit", "1", "--gap", "0.1", "--output", str(res)])
    assert rc == 0
    png = tmp_path / "show.png"
    assert main(["show", str(res), "--plot", str(png), "--compare", "resnet18"]) == 0
    text = capsys.readouterr().out
    assert "stage5" in text and f"wrote {png}" in text
    assert _png_size(png)[1] > 900  # the design result's constraints add a third row
    from deepmad.cli.report import result_constraints, result_title

    assert result_title(str(res)).startswith("objective ") and "exact:" in result_title(str(res))
    assert [c.name for c in result_constraints(str(res))] == ["params[torch]", "macs[torch]", "rho"]
    assert result_title("resnet18") == "" and result_constraints("resnet18") == ()
    assert main(["show", "resnet18"]) == 0 and "wrote" not in capsys.readouterr().out  # no --plot: table only


def test_show_compare_needs_plot(capsys) -> None:
    assert main(["show", "resnet18", "--compare", "resnet34"]) == 2
    err = capsys.readouterr().err
    assert "--compare" in err and len(err.strip().splitlines()) == 1


def test_design_plot_flag(tmp_path, capsys) -> None:
    png = tmp_path / "d.png"
    rc = main(["design", "--space", "mobile-se", "--resolution", "32", "--num-classes", "10", "--params", "1M",
               "--macs", "50M", "--time-limit", "1", "--gap", "0.1", "--plot", str(png)])
    assert rc == 0 and _png_size(png)[1] > 900
    assert "objective" in capsys.readouterr().out


def test_report_module_is_torch_free() -> None:
    code = ("import sys, deepmad.report, deepmad.cli.report, deepmad.cli.design_task, deepmad.solvers.sweep; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_stage_row_is_frozen() -> None:
    row = stage_table(get_preset("resnet18"))[0]
    assert isinstance(row, StageRow)
    with pytest.raises(AttributeError):
        row.width = 1  # type: ignore[misc]
