"""``deepmad design --latency T | --throughput N --calibration CAL.json [--measure]``.

A latency budget on the device a calibration describes (``deepmad calibrate``,
:mod:`deepmad.hardware`): the design problem carries the calibration as its latency model
(:attr:`deepmad.solvers.DesignProblem.latency_model`) and one more budget,
``Budget("latency_ms", upper=...)``, which every solver honours. ``--latency`` takes an
inference-mode calibration (ms per batch of the calibration's batch size); ``--throughput``
(images per second) takes a train-mode one and becomes a budget on the training step,
``1000 batch / throughput`` ms. The certificate (gap) holds with respect to the model, not to
measured time; ``--measure`` times the design here and prints predicted vs measured.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from deepmad.errors import DeepmadError
from deepmad.solvers import Budget, DesignProblem, DesignResult

__all__ = ["add_latency_arguments", "latency_budget", "latency_lines", "measure_design", "meet_measured",
           "parse_duration", "with_latency"]

_UNITS = {"ms": 1.0, "s": 1000.0}


def parse_duration(text: str) -> float:
    """``12ms``, ``12 ms``, ``0.012s`` or a bare number (ms) -> ms (> 0)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s)?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; expected a positive number with "
                                         "unit ms or s, e.g. 12ms or 0.012s (a bare number is ms)")
    return float(m.group(1)) * _UNITS[m.group(2) or "ms"]


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a throughput; expected images per second > 0")
    return v


def _rounds(text: str) -> int:
    if not text.isdigit() or int(text) > 10:
        raise argparse.ArgumentTypeError(f"{text!r} is not a re-solve count; expected an integer 0..10")
    return int(text)


def add_latency_arguments(parser: Any) -> None:
    """The flags of a latency budget (``deepmad design``; ``deepmad run`` forwards them)."""
    g = parser.add_argument_group("device latency (a calibration from deepmad calibrate)")
    g.add_argument("--latency", type=parse_duration, metavar="T",
                   help="upper bound on the predicted latency, e.g. 12ms or 0.5s (inference-mode calibration)")
    g.add_argument("--throughput", type=_positive, metavar="IMG_PER_S",
                   help="lower bound on training throughput in images/s (train-mode calibration): "
                        "a budget of 1000 x batch / IMG_PER_S ms per step")
    g.add_argument("--calibration", metavar="CAL.json", help="the latency model (deepmad calibrate)")
    g.add_argument("--measure", action="store_true",
                   help="time the design on this device and print predicted vs measured")
    g.add_argument("--resolve-measured", type=_rounds, default=0, metavar="N",
                   help="with --measure and a latency budget: while the measured time exceeds the budget, "
                        "re-solve at a model budget scaled by budget / measured, at most N times (default 0)")


def latency_budget(args: argparse.Namespace) -> tuple[Any, Budget | None]:
    """(calibration or None, latency budget or None) from the flags; one-line errors, no timing."""
    lat, thr = getattr(args, "latency", None), getattr(args, "throughput", None)
    path = getattr(args, "calibration", None)
    if lat is not None and thr is not None:
        raise DeepmadError("use either --latency or --throughput, not both")
    if getattr(args, "resolve_measured", 0) and not (getattr(args, "measure", False)
                                                      and (lat is not None or thr is not None)):
        raise DeepmadError("--resolve-measured needs --measure and a latency budget (--latency or --throughput)")
    if path is None:
        if lat is not None or thr is not None or getattr(args, "measure", False):
            flag = "--latency" if lat is not None else "--throughput" if thr is not None else "--measure"
            raise DeepmadError(f"{flag} needs --calibration CAL.json (make one with deepmad calibrate)")
        return None, None
    from deepmad.hardware.calibration import Calibration

    cal = Calibration.load(path)
    if lat is not None and cal.mode != "inference":
        raise DeepmadError(f"--latency needs an inference-mode calibration; {path!r} is mode {cal.mode!r} "
                           "(use --throughput IMG_PER_S with a train-mode calibration)")
    if thr is not None and cal.mode != "train":
        raise DeepmadError(f"--throughput needs a train-mode calibration; {path!r} is mode {cal.mode!r} "
                           "(use --latency T with an inference-mode calibration)")
    from deepmad.cli.hardware import warn_fingerprint

    warn_fingerprint(cal)
    if lat is None and thr is None:
        return cal, None  # the model only prices latency_ms in the report
    return cal, Budget("latency_ms", upper=lat if lat is not None else 1000.0 * cal.batch / thr)


def with_latency(problem: DesignProblem, cal: Any, budget: Budget | None) -> DesignProblem:
    """``problem`` carrying the latency model and, if given, the latency budget."""
    from dataclasses import replace

    if cal is None:
        return problem
    budgets = tuple(b for b in problem.budgets if b.quantity != "latency_ms") + ((budget,) if budget else ())
    return replace(problem, budgets=budgets, latency_model=cal, _cache={})


def latency_lines(problem: DesignProblem, result: DesignResult) -> list[str]:
    """Summary lines: predicted latency (and throughput) and what the certificate covers."""
    cal = problem.latency_model
    if cal is None or result.evaluation is None:
        return []
    ms = result.evaluation.costs.latency_ms
    per = f"training step, batch {cal.batch}" if cal.mode == "train" else f"inference, batch {cal.batch}"
    line = f"  latency (model): {ms:.3f} ms per {per}"
    if cal.mode == "train":
        line += f" = {1000.0 * cal.batch / ms:.1f} img/s"
    device = cal.fingerprint.get("gpu") or cal.fingerprint.get("cpu", "?")
    return [line, f"  the certificate holds with respect to the latency model ({device}, "
                  f"clock {cal.fingerprint.get('clock', '?')}), not to measured time"]


def measure_design(problem: DesignProblem, result: DesignResult, data: dict, budget: float | None = None) -> str:
    """Time the design on this device (:class:`deepmad.hardware.measure.Timer`), record
    predicted vs measured in ``data["latency"]`` and return the line to print; ``budget``: the
    measured-time target (default the problem's latency budget)."""
    from deepmad.cli.hardware import check_measurable
    from deepmad.hardware.campaign import time_like

    cal = problem.latency_model
    settings = check_measurable(cal)
    pred = result.evaluation.costs.latency_ms
    m = time_like(cal, result.spec)
    if budget is None:
        budget = next((b.upper for b in problem.budgets if b.quantity == "latency_ms"), None)
    rec = {"predicted_ms": pred, **m.record(pred), "clock": settings.clock, "budget_ms": budget}
    data.setdefault("latency", {}).update(rec)
    how = (f" at the calibration's machine speed ({m.raw_ms:.3f} ms raw now)" if m.at_speed_ms is not None
           else "")
    line = (f"  measured here: {m.ms:.3f} ms{how} (spread {100 * m.spread:.1f} %), predicted {pred:.3f} ms "
            f"({rec['error_pct']:+.1f} %)")
    if budget is not None:
        line += f"; measured / budget {m.ms / budget:.3f}"
    return line


def meet_measured(args: argparse.Namespace, problem: DesignProblem, result: DesignResult, data: dict,
                  line: str, solve: Any) -> tuple[DesignProblem, DesignResult, dict, str]:
    """Re-solve while the measured time exceeds the budget (``--resolve-measured N``).

    The model's error on a design is assumed to hold near it: each round scales the model budget
    by ``budget / measured`` and solves again, at most N times; the last design is returned with
    every round in ``data["latency"]["rounds"]``. Measurements are noisy: a round may not help.
    """
    target = next(b.upper for b in problem.budgets if b.quantity == "latency_ms")
    rounds = [{"model_budget_ms": target, **{k: data["latency"][k] for k in ("predicted_ms", "measured_ms")}}]
    lines, limit = [line], target
    for _ in range(args.resolve_measured):
        measured = data["latency"]["measured_ms"]
        if measured <= target:
            break
        limit *= target / measured
        lines.append(f"  measured {measured:.3f} ms > budget {target:.3f} ms: re-solving at a model budget "
                     f"of {limit:.3f} ms")
        problem, result, data = solve(args, with_latency(problem, problem.latency_model,
                                                         Budget("latency_ms", upper=limit)))
        lines.append(measure_design(problem, result, data, budget=target))
        rounds.append({"model_budget_ms": limit, **{k: data["latency"][k] for k in ("predicted_ms", "measured_ms")}})
    data["latency"]["rounds"] = rounds
    return problem, result, data, "\n".join(lines)

