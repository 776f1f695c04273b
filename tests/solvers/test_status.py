"""One status vocabulary for every solver; Ctrl-C keeps the best design; progress reports."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deepmad.scores.entropy import ScoreConfig
from deepmad.solvers import LIKE_PRESETS, EvolutionSolver, ExactSolver, like
from deepmad.solvers.exact import Progress
from deepmad.solvers.status import STATUSES, certified_status, check_status, from_scip
from tests.solvers.conftest import tiny_mobile, tiny_resnet

ROOT = Path(__file__).resolve().parents[2]


def test_optimal_only_at_zero_gap() -> None:
    assert certified_status("gap", 0.0) == "optimal"
    assert certified_status("gap", 5e-10) == "optimal"
    assert certified_status("gap", 1e-6) == "gap_limit"
    assert certified_status("time_limit", 0.004) == "time_limit"
    assert certified_status("time_limit", 0.0) == "optimal"  # a zero gap is proven whatever stopped
    assert certified_status("interrupted", math.inf) == "interrupted"


def test_scip_statuses_map_onto_the_vocabulary() -> None:
    assert from_scip("optimal", 0.0) == "optimal"
    assert from_scip("optimal", 0.005) == "gap_limit"  # SCIP says optimal within its limits/gap
    assert from_scip("gaplimit", 0.005) == "gap_limit"
    assert from_scip("timelimit", 0.3) == "time_limit"
    assert from_scip("userinterrupt", 0.3) == "interrupted"
    assert from_scip("memlimit", 0.3) == "other_limit"
    assert from_scip("inforunbd", math.inf) == "failed"
    for raw in ("optimal", "gaplimit", "timelimit", "nodelimit", "infeasible", "unknown"):
        assert from_scip(raw, 0.1) in STATUSES


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of"):
        check_status("timelimit")


def test_exact_reports_gap_limit_at_a_loose_tolerance_and_optimal_at_zero_gap() -> None:
    p = tiny_resnet(mode="paper")
    loose = ExactSolver(gap=0.5, time_limit=60).solve(p)
    assert loose.status in ("gap_limit", "optimal") and loose.success
    assert (loose.status == "optimal") == (loose.gap <= 1e-9)
    tight = ExactSolver(gap=1e-9, time_limit=60).solve(p)
    assert tight.status == "optimal" and tight.gap <= 1e-9
    data = tight.to_dict()["solver"]
    assert data["status"] == "optimal" and data["success"] is True


def test_loose_tolerance_is_not_called_optimal() -> None:
    """At a 50 % tolerance the root bound usually already meets it with a positive gap."""
    r = ExactSolver(gap=0.5, time_limit=60).solve(tiny_mobile(mode="paper"))
    assert r.gap > 1e-9 and r.status == "gap_limit"


def _like_r18():
    p = like("deepmad_r18", ScoreConfig("reference"))
    return p, LIKE_PRESETS["deepmad_r18"].seed


def test_evolution_says_completed_not_optimal() -> None:
    p, seed = _like_r18()
    r = EvolutionSolver(children=300, start=seed).solve(p)
    assert r.status == "completed" and r.success and r.gap == math.inf


def test_interrupt_returns_the_incumbent_with_a_valid_certificate() -> None:
    """Ctrl-C (a KeyboardInterrupt raised from the progress hook) mid-search: the incumbent comes
    back as 'interrupted', its gap finite, and the dual bound still covers the true optimum."""
    p = tiny_mobile(mode="reference")
    truth = ExactSolver(gap=1e-9, time_limit=120).solve(p).objective
    calls = []

    def hook(progress: Progress) -> None:
        calls.append(progress)
        if len(calls) == 3:
            raise KeyboardInterrupt

    r = ExactSolver(gap=1e-9, time_limit=120, progress=hook, progress_every=0.0).solve(p)
    assert len(calls) == 3 and r.status == "interrupted"
    assert r.success and r.design is not None and math.isfinite(r.gap)
    assert r.dual_bound >= truth - 1e-9 * abs(truth) and r.objective <= truth + 1e-9 * abs(truth)
    assert all(c.nodes >= 0 and c.evaluations > 0 for c in calls)
    assert calls[-1].bound >= calls[-1].incumbent


def test_evolution_interrupt_keeps_the_best() -> None:
    p, seed = _like_r18()
    solver = EvolutionSolver(children=10**9, start=seed, time_limit=math.inf)
    orig = p.evaluate
    count = [0]

    def evaluate(design):
        count[0] += 1
        if count[0] == 400:
            raise KeyboardInterrupt
        return orig(design)

    object.__setattr__(p, "evaluate", evaluate)
    r = solver.solve(p)
    assert r.status == "interrupted" and r.success and 0 < r.nodes < 400


def test_progress_is_reported_every_interval() -> None:
    calls: list[Progress] = []
    ExactSolver(gap=1e-9, time_limit=60, progress=calls.append, progress_every=0.0).solve(tiny_resnet())
    assert calls and all(isinstance(c, Progress) for c in calls)
    none: list[Progress] = []
    ExactSolver(gap=1e-9, time_limit=60, progress=none.append, progress_every=1e9).solve(tiny_resnet())
    assert not none


@pytest.mark.slow
def test_ctrl_c_during_cli_design_writes_the_best_design(tmp_path: Path) -> None:
    """SIGINT to `deepmad design` with a long time limit, once the first progress line is out:
    exit 130, the --output JSON holds the incumbent with status 'interrupted' and its gap."""
    out = tmp_path / "r.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "deepmad.cli.main", "design", "--like", "deepmad_50m",
                             "--time-limit", "600", "--gap", "1e-9", "--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            # a test run started in the background ignores SIGINT, and so would the child
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = ""
        for _ in range(50):  # the first progress line (every 5 s once the search runs)
            line = proc.stderr.readline()
            if not line or "incumbent" in line:
                break
        assert "incumbent" in line and "gap" in line, line
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout
    data = json.loads(out.read_text())
    assert data["solver"]["status"] == "interrupted" and data["solver"]["success"] is True
    assert data["spec"] is not None and data["solver"]["gap"] is not None and data["solver"]["gap"] > 0
    assert "interrupted" in stdout


def test_quiet_turns_the_cli_progress_lines_off() -> None:
    import argparse

    from deepmad.cli.design import DesignCommand, build_problem

    parser = argparse.ArgumentParser()
    DesignCommand().add_arguments(parser)
    for quiet in (False, True):
        args = parser.parse_args(["--like", "deepmad_r18"] + (["--quiet"] if quiet else []))
        options = DesignCommand._options(args, build_problem(args))
        assert ("progress" in options) != quiet


def test_api_defaults_equal_the_cli_defaults() -> None:
    import argparse

    from deepmad.cli.design import DesignCommand
    from deepmad.solvers import EvolutionConfig, ExactConfig, ScipConfig

    parser = argparse.ArgumentParser()
    DesignCommand().add_arguments(parser)
    args = parser.parse_args([])
    for cfg in (ExactConfig(), ScipConfig()):
        assert (cfg.time_limit, cfg.gap) == (args.time_limit, args.gap) == (30.0, 0.01)
    assert EvolutionConfig().time_limit == args.time_limit


def test_highs_prints_do_not_reach_stdout(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Native writes to descriptor 1 during a MILP are dropped; the result passes through."""
    from deepmad.solvers import _highs

    def noisy_milp(*args: object, **kwargs: object) -> str:
        os.write(1, b"HighsMipSolverData::transformNewIntegerFeasibleSolution\n")
        return "result"

    monkeypatch.setattr(_highs, "milp", noisy_milp)
    print("before", flush=True)
    assert _highs.quiet_milp(1, x=2) == "result"
    print("after", flush=True)
    out = capfd.readouterr().out
    assert out == "before\nafter\n"
