"""``deepmad design`` task flags: --strides, --min-final-side, --in-channels, --num-classes."""

from __future__ import annotations

import argparse
import json

import pytest

from deepmad.cli.design import DesignCommand, build_problem
from deepmad.cli.main import main
from deepmad.cost import count_network
from deepmad.solvers import like
from deepmad.spec import load_spec


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    DesignCommand().add_arguments(parser)
    return parser.parse_args(list(argv))


def test_space_flags_shape_the_problem() -> None:
    p = build_problem(_args("--space", "resnet", "--params", "1M", "--resolution", "32", "--num-classes", "10",
                            "--in-channels", "1"))
    sp = p.space
    assert (sp.stem_stride, tuple(s.stride for s in sp.stages)) == (1, (1, 2, 2, 1, 2))
    assert (sp.in_channels, sp.num_classes) == (1, 10)
    p = build_problem(_args("--space", "resnet", "--params", "1M", "--resolution", "32", "--strides",
                            "1,1,1,2,1,2", "--min-final-side", "8"))
    assert tuple(s.stride for s in p.space.stages) == (1, 1, 2, 1, 2)
    assert (p.space.in_channels, p.space.num_classes) == (3, 1000)  # the defaults


def test_like_path_is_unchanged() -> None:
    """--like without the new flags builds exactly the reference problem (its results unchanged)."""
    p = build_problem(_args("--like", "deepmad_r18"))
    ref = like("deepmad_r18", p.objective)
    assert p.space == ref.space and p.budgets == ref.budgets
    assert build_problem(_args()).space == like("deepmad_r50", p.objective).space


@pytest.mark.parametrize(("argv", "words"), [
    (["--like", "deepmad_r18", "--num-classes", "10"], ["--num-classes apply to --space"]),
    (["--strides", "1,1,2,2,1,2"], ["--strides apply to --space"]),  # --like is the default
    (["--space", "resnet", "--params", "1M", "--resolution", "32", "--strides", "1,2,2,1,2"],
     ["--strides=1,2,2,1,2 has 5 values", "1,1,2,2,1,2"]),
    (["--space", "resnet", "--params", "1M", "--resolution", "32", "--strides", "2,2,2,2,1,2"],
     ["final feature map of 1 px", "--resolution=32", "--min-final-side=4"]),
    (["--space", "resnet", "--params", "1M", "--resolution", "32", "--min-final-side", "64"],
     ["--resolution=32 is below --min-final-side=64"]),
    (["--space", "mobile-se", "--params", "1M", "--macs", "50M", "--resolution", "32"],
     ["no design meets the budgets", "1000-class head (the default; set --num-classes) has 1.79M params"]),
])
def test_bad_task_flags_exit_2_with_one_line(argv, words, capsys) -> None:
    assert main(["design", *argv, "--time-limit", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


@pytest.mark.parametrize(("argv", "words"), [
    (["--strides", "1,3"], ["--strides: '1,3' is invalid; each stride must be 1 or 2"]),
    (["--strides", "1,x"], ["'1,x' is not a stride list"]),
    (["--num-classes", "-1"], ["expected an integer >= 0"]),
    (["--min-final-side", "0"], ["expected an integer >= 1"]),
])
def test_malformed_task_flags_are_argparse_errors(argv, words, capsys) -> None:
    assert main(["design", "--space", "resnet", "--params", "1M", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_cifar_design_has_the_requested_head_and_channels(tmp_path, capsys) -> None:
    out = tmp_path / "c.json"
    rc = main(["design", "--space", "mobile-se", "--resolution", "32", "--num-classes", "10", "--in-channels", "1",
               "--params", "1M", "--macs", "50M", "--time-limit", "1", "--gap", "0.1", "--output", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "the 10-class head has" in text
    spec = load_spec(str(out))
    assert (spec.in_channels, spec.head.num_classes, spec.stem.stride, spec.feature_sizes()[-1]) == (1, 10, 1, 4)
    data = json.loads(out.read_text())
    c = count_network(spec, "torch")
    assert (data["costs"]["params"], data["costs"]["macs"]) == (c.params, c.macs) and c.params <= 1e6
