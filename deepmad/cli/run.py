"""``deepmad run``: one command from a budget to a trained, evaluated and exported model.

Steps, each printing its progress and recorded in ``RUN_DIR/run.json`` when finished:

1. **design**: the DeepMAD program of ``deepmad design`` (:func:`deepmad.cli.design.solve_design`)
   -> ``design.json`` (the design result; its ``spec`` loads with ``create_model``);
2. **train**: :func:`deepmad.train.fit` on the designed spec -> ``best.pt``, ``last.pt``,
   ``metrics.jsonl``, ``curves.png``;
3. **evaluate**: ``best.pt`` on the test split -> ``eval.json``;
4. **export**: ``best.pt`` to ONNX (:mod:`deepmad.export`, dynamic batch) -> ``model.onnx``,
   checked against PyTorch with onnxruntime on test images;
5. **report**: ``report.md`` with the figures and pictures (:mod:`deepmad.cli.run_report`).

The flags are those of ``deepmad design`` (problem and solver) and ``deepmad train`` (all but
``--model``), declared by their own commands. ``--resolution`` and ``--seed`` are shared: the
design is made at the training resolution. Everything is checked before the first step: the
output directory, the ``[export]`` packages, the training flags, the data (loaded once) and the
budgets. ``--resume`` continues after the last finished step: a finished design is never
redone and training continues from ``last.pt``; every flag but the ones that cannot change the
result must be the same as the first time.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from deepmad.cli.base import Command
from deepmad.cli.design import DesignCommand
from deepmad.cli.train import add_train_arguments
from deepmad.errors import DeepmadError
from deepmad.train.config import RESUME_MUTABLE_FIELDS
from deepmad.utils.io import atomic_write_json, why_unwritable

__all__ = ["COMMANDS", "RunCommand", "STEPS", "add_run_arguments"]

STEPS = ("design", "train", "evaluate", "export", "report")
RUN_FORMAT = "deepmad-run"
# Flags of `deepmad design` that make no sense inside a run (its outputs are fixed files).
_DESIGN_ONLY = frozenset({"--output", "--json", "--plot", "--sweep", "--compare", "--measure",
                          "--resolve-measured"})
# Flags both commands declare, with one meaning for the run (the training one is kept).
_SHARED = frozenset({"--resolution", "--seed", "--num-classes", "--in-channels", "--device"})
_MUTABLE = RESUME_MUTABLE_FIELDS | {"stop_after", "command"}
_OUR_FILES = ("run.json", "design.json", "last.pt", "best.pt", "model.onnx")


class _Flags:
    """Forwards ``add_argument`` (and groups) to a parser, dropping flags the run must not take.

    A flag in ``skip`` is dropped; a flag the parser already has is dropped when it is one of
    the known shared flags and is an error otherwise (two commands gave one name two meanings).
    """

    def __init__(self, target: Any, skip: frozenset[str]) -> None:
        self._target, self._skip = target, skip

    def add_argument_group(self, *args: Any, **kwargs: Any) -> _Flags:
        return _Flags(self._target.add_argument_group(*args, **kwargs), self._skip)

    def add_mutually_exclusive_group(self, **kwargs: Any) -> _Flags:
        return _Flags(self._target.add_mutually_exclusive_group(**kwargs), self._skip)

    def set_defaults(self, **kwargs: Any) -> None:
        self._target.set_defaults(**kwargs)

    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action | None:
        if self._skip.intersection(names):
            return None
        try:
            return self._target.add_argument(*names, **kwargs)
        except argparse.ArgumentError:
            if _SHARED.intersection(names):
                return None
            raise RuntimeError(f"deepmad run: flag {names} is declared by both design and train") from None


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The run's own flags, then the training flags (but ``--model``), then the design flags."""
    g = parser.add_argument_group("run")
    g.add_argument("--stop-after", choices=STEPS[:-1],
                   help="stop after this step; continue later with the same flags plus --resume")
    add_train_arguments(_Flags(parser, frozenset({"--model"})))
    DesignCommand().add_arguments(_Flags(parser, _DESIGN_ONLY))
    parser.set_defaults(data=None, model="")


class RunCommand(Command):
    """``deepmad run``."""

    name = "run"
    help = "design -> train -> evaluate -> export ONNX -> report, in one run directory"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_run_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        return run_pipeline(args)


# --- checks before any long work ---------------------------------------------------------------
def _flags_record(args: argparse.Namespace) -> dict[str, Any]:
    return json.loads(json.dumps({k: v for k, v in vars(args).items() if k not in _MUTABLE}))


def _check_out(args: argparse.Namespace) -> dict[str, Any]:
    """The run record: fresh, or read from ``run.json`` on ``--resume`` (flags compared)."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DeepmadError(f"--out {str(out)!r} is a file; expected a run directory")
    why = why_unwritable(out / "run.json")  # the run directory (created later) must take files
    if why:
        raise DeepmadError(f"--out {str(out)!r} is not writable: {why}")
    record = {"format": RUN_FORMAT, "version": 1, "flags": _flags_record(args), "done": [], "seconds": {}}
    if not args.resume:
        held = [n for n in _OUR_FILES if (out / n).exists()]
        if held:
            raise DeepmadError(f"{out} already holds a run ({held[0]}); pass --resume to continue it "
                               f"or use another --out")
        return record
    path = out / "run.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise DeepmadError(f"--resume: {path} is missing or unreadable; drop --resume to start a new run") from None
    if not isinstance(saved, dict) or saved.get("format") != RUN_FORMAT:
        raise DeepmadError(f"--resume: {path} is not a deepmad run record")
    now = record["flags"]
    for name in sorted(set(now) | set(saved["flags"])):
        if now.get(name) != saved["flags"].get(name):
            raise DeepmadError(f"{out} was started with --{name.replace('_', '-')} "
                               f"{saved['flags'].get(name)!r}, not {now.get(name)!r}; resume with the "
                               f"same value or use a new --out")
    return saved


def _design_args(args: argparse.Namespace, dataset: Any) -> argparse.Namespace:
    """The design flags: the training resolution, and classes / channels of the data."""
    ns = argparse.Namespace(**vars(args))
    ns.resolution = (args.resolution,) if args.resolution else None
    if getattr(ns, "num_classes", None) is None:
        ns.num_classes = dataset.num_classes
    if hasattr(ns, "in_channels") and ns.in_channels is None:
        ns.in_channels = dataset.channels
    return ns


def _validate(args: argparse.Namespace) -> tuple[dict[str, Any], Any, Any, argparse.Namespace, Any]:
    """Everything that can be checked quickly: out dir, packages, flags, data, budgets; returns the
    run record, training config, data set, design flags and the design problem (None when the
    design step is done)."""
    from deepmad.cli.design import feasible_problem
    from deepmad.cli.train import config_from_args
    from deepmad.export import require_packages
    from deepmad.train.data import load_dataset

    if not args.data:
        raise DeepmadError("--data is required: digits | fashion-mnist | mnist | cifar10[:DIR] | "
                           "cifar100[:DIR] | idx:DIR | folder:DIR")
    if not args.like and not args.space:
        raise DeepmadError("deepmad run needs --space TEMPLATE with budgets (e.g. --space resnet "
                           "--params 1M --macs 50M) or --like PRESET")
    record = _check_out(args)
    require_packages("onnxruntime")
    out = Path(args.out)
    config = config_from_args(argparse.Namespace(**{**vars(args), "model": str((out / "design.json").resolve())}))
    print(f"checking: data {args.data} ...", flush=True)
    dataset = load_dataset(args.data, args.data_dir, size=args.resolution,
                           train_subset=args.train_subset, val_subset=args.val_subset)
    if config.batch_size > len(dataset.train):
        raise DeepmadError(f"--batch-size {config.batch_size} exceeds the {len(dataset.train)} training images")
    ns = _design_args(args, dataset)
    problem = None if "design" in record["done"] else feasible_problem(ns)
    return record, config, dataset, ns, problem


# --- the steps --------------------------------------------------------------------------------
def _step_design(ns: argparse.Namespace, problem: Any, out: Path) -> dict[str, Any]:
    from deepmad.cli.design import solve_design, summary

    problem, result, data = solve_design(ns, problem)
    print(summary(problem, result, ns), flush=True)
    if not result.verified:
        raise DeepmadError(f"the design failed its independent re-check: {result.message}")
    atomic_write_json(out / "design.json", data)
    return {"objective": data["objective"], "status": data["solver"]["status"], "gap": data["solver"]["gap"]}


def _step_train(config: Any, dataset: Any, out: Path) -> dict[str, Any] | int:
    from deepmad.train import fit

    resume = (out / "last.pt").is_file()
    if resume:
        print(f"  continuing training from {out / 'last.pt'}", flush=True)
    result = fit(replace(config, resume=resume, out=str(out)), dataset=dataset)
    if result.interrupted is not None:
        print(f"stopped by signal {result.interrupted} during training: checkpoint saved to "
              f"{out / 'last.pt'}; continue with the same command plus --resume", flush=True)
        return 128 + result.interrupted
    return {"epochs": result.epochs_done, "best_top1": result.best_top1}


def _step_evaluate(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from deepmad.train.evaluation import evaluate_checkpoint

    res = evaluate_checkpoint(out / "best.pt", data=args.data, data_dir=args.data_dir,
                              batch_size=args.eval_batch_size, device=args.device, amp=args.amp)
    atomic_write_json(out / "eval.json", res)
    print(f"  best.pt on {res['data']} ({res['images']} test images, {res['resolution']} px): "
          f"top-1 {res['top1']:.2f}%  top-5 {res['top5']:.2f}%  loss {res['loss']:.4f}", flush=True)
    return {k: res[k] for k in ("top1", "top5", "loss", "images", "resolution")}


def _step_export(dataset: Any, out: Path) -> dict[str, Any]:
    from deepmad.export import export_onnx, load_model, onnx_max_error
    from deepmad.train.augment import BatchTransform

    loaded = load_model(None, out / "best.pt")
    result = export_onnx(loaded, out / "model.onnx")
    print("  " + result.describe().replace("\n", "\n  "), flush=True)
    spec = loaded.spec
    transform = BatchTransform(loaded.mean or dataset.mean, loaded.std or dataset.std,
                               spec.resolution, spec.in_channels)
    x = transform(dataset.val.images[:16])
    err = onnx_max_error(out / "model.onnx", loaded.model, x)
    print(f"  onnxruntime vs PyTorch on {x.shape[0]} test images: max |logit difference| {err:.2e}", flush=True)
    return {"method": result.method, "opset": result.opset, "fallback": result.fallback,
            "max_abs_error": err, "seconds": result.seconds, "size_bytes": result.size_bytes}


def _run_step(name: str, record: dict[str, Any], out: Path, body: Any) -> dict[str, Any] | int:
    index = STEPS.index(name) + 1
    if name in record["done"]:
        print(f"[{index}/{len(STEPS)}] {name}: already done, skipped", flush=True)
        return record.get(name, {})
    print(f"[{index}/{len(STEPS)}] {name} ...", flush=True)
    t0 = time.perf_counter()
    try:
        res = body()
        if not isinstance(res, int):  # an int is an exit code: the step did not finish
            record[name] = res
            record["done"].append(name)
    finally:  # also when interrupted: the time spent so far is kept
        record["seconds"][name] = record["seconds"].get(name, 0.0) + time.perf_counter() - t0
        atomic_write_json(out / "run.json", record)
    if isinstance(res, int):
        return res
    print(f"[{index}/{len(STEPS)}] {name}: done in {record['seconds'][name]:.1f} s", flush=True)
    return res


def run_pipeline(args: argparse.Namespace) -> int:
    """Run (or continue) the steps of ``deepmad run``; returns the exit code."""
    from deepmad.cli.run_report import write_report

    record, config, dataset, ns, problem = _validate(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "run.json", record)
    bodies = {
        "design": lambda: _step_design(ns, problem, out),
        "train": lambda: _step_train(config, dataset, out),
        "evaluate": lambda: _step_evaluate(args, out),
        "export": lambda: _step_export(dataset, out),
        "report": lambda: {"path": str(write_report(out, record, dataset))},
    }
    for name in STEPS:
        res = _run_step(name, record, out, bodies[name])
        if isinstance(res, int):
            return res
        if name == args.stop_after:
            print(f"stopped after {name} (--stop-after); continue with the same command plus --resume")
            return 0
    print(f"done: {out / 'report.md'}")
    return 0


COMMANDS = [RunCommand]
