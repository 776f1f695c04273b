"""Bad flag values and unwritable outputs are refused in one line, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepmad import __version__
from deepmad.cli.main import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir.json").mkdir()
    (tmp_path / "adir.png").mkdir()
    (tmp_path / "afile").write_text("")
    return tmp_path


BAD = [
    (["design", "--gap", "-0.1"], "argument --gap: -0.1 is out of range; expected a number >= 0 and < 1"),
    (["design", "--gap", "2"], "argument --gap: 2 is out of range"),
    (["design", "--gap", "nan"], "argument --gap: nan is out of range"),
    (["design", "--time-limit", "0"], "argument --time-limit: 0 is out of range; expected a number > 0"),
    (["design", "--time-limit", "-3"], "argument --time-limit: -3 is out of range"),
    (["design", "--solver", "evolution", "--children", "-5"], "argument --children: -5 is out of range; "
                                                              "expected an integer >= 1"),
    (["design", "--children", "many"], "argument --children: 'many' is not an integer"),
    (["design", "--output", "out.yaml"], "argument --output: 'out.yaml' must end in .json (got .yaml)"),
    (["design", "--output", "adir.json"], "argument --output: cannot write adir.json: it is a directory"),
    (["design", "--output", "afile/x.json"], "argument --output: cannot write afile/x.json: afile is not a directory"),
    (["convert", "resnet18", "-o", "adir.json"], "cannot write adir.json: it is a directory"),
    (["plot", ".", "--out", "x.jpg"], "argument --out: 'x.jpg' must end in .png (got .jpg)"),
    (["enlarge", "--from", "resnet18", "--macs", "3G", "--output", "adir.json"], "it is a directory"),
    (["enlarge", "--from", "resnet18", "--macs", "3G", "--plot", "adir.png"], "it is a directory"),
    (["enlarge", "--from", "resnet18", "--macs", "3G", "--top-k", "0"], "argument --top-k: 0 is out of range"),
    (["mathnas", "profile", "--space", "demo", "--output", "adir.json"], "it is a directory"),
    (["mathnas", "profile", "--space", "demo", "--output", "t.json", "--repeats", "0"], "--repeats: 0 is out"),
    (["mathnas", "estimate", "--space", "nb201", "--table-csv", "x.csv", "--arch-column", "a",
      "--metric-column", "b", "--output", "t.txt"], "'t.txt' must end in .json"),
    (["mathnas", "predict", "--table", "nb201", "--archs", "x.csv", "--arch-column", "a", "--output", "p.json"],
     "'p.json' must end in .csv"),
    (["mathnas", "solve", "--table", "nb201", "--time-limit", "-1"], "argument --time-limit: -1 is out of range"),
    (["mathnas", "solve", "--table", "nb201", "--max-latency", "inf"], "argument --max-latency: inf is out of range"),
    (["eval", "--checkpoint", "x.pt", "--batch-size", "0"], "argument --batch-size: 0 is out of range"),
    (["design", "--space", "resnet", "--params", "1M", "--plot", "adir.png"],
     "argument --plot: cannot write adir.png: it is a directory"),
    (["design", "--space", "resnet", "--params", "1M", "--plot", "x.jpg"], "'x.jpg' must end in .png"),
    (["show", "resnet18", "--plot", "x.jpg"], "argument --plot: 'x.jpg' must end in .png (got .jpg)"),
    (["calibrate", "--output", "adir.json"], "argument --output/-o: cannot write adir.json: it is a directory"),
    (["calibrate", "--output", "cal.txt"], "'cal.txt' must end in .json"),
]


@pytest.mark.parametrize(("argv", "needle"), BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_values_refused_in_one_line(workdir: Path, argv: list[str], needle: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err and ".tmp" not in err
    assert sorted(p.name for p in workdir.iterdir()) == ["adir.json", "adir.png", "afile"]  # nothing written


def test_missing_parent_directories_are_created(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "resnet18", "-o", "new/sub/r18.json"]) == 0
    assert (workdir / "new" / "sub" / "r18.json").is_file()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"deepmad {__version__}"
