"""``deepmad enlarge``: greedy network enlarging or compound scaling to MACs targets.

Paper: Liu et al., "Greedy Network Enlarging", arXiv 2108.00177; the baseline is EfficientNet's
compound scaling (Tan & Le, arXiv 1905.11946). Library: :mod:`deepmad.enlarge`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deepmad.cli.base import Command, number, output_file, parse_count
from deepmad.cost import count_network
from deepmad.enlarge import (
    CompoundConfig,
    EnlargeConfig,
    EnlargeResult,
    StepRecord,
    compound_scale,
    greedy_enlarge,
    make_evaluator,
    make_schedule,
)
from deepmad.spec import load_spec
from deepmad.utils.io import atomic_write_json
from deepmad.utils.numbers import si

__all__ = ["COMMANDS", "Enlarge"]


def _numbers(cast: type, name: str) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            return tuple(cast(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} {text!r} is not a comma-separated list of numbers") from None
    return parse


def _counts(text: str) -> tuple[float, ...]:
    return tuple(parse_count(v) for v in text.split(",") if v.strip())


def _human(n: float) -> str:
    return si(n, ".3g")


def _print_path(result: EnlargeResult) -> None:
    print(f"{result.method}: {len(result.path) - 1} step(s), {result.wall_time:.1f}s")
    for p in result.path:
        score = "" if p.score is None else f"  score {p.score:.4g}"
        band = "" if p.in_band else "  (outside the band)"
        print(f"  step {p.step}: MACs {_human(p.macs)} params {_human(p.params)}  depths {list(p.state.depths)} "
              f"widths {list(p.state.widths)} r {p.state.resolution}{score}{band}")


def _greedy_config(args: argparse.Namespace) -> EnlargeConfig:
    candidates = args.candidates if args.candidates is not None else (64 if args.evaluator == "entropy" else 8)
    return EnlargeConfig(band=args.band, depth_steps=args.depth_steps, width_multipliers=args.width_multipliers,
                         resolution_steps=args.resolution_steps, num_candidates=candidates,
                         top_k=args.top_k, seed=args.seed)


def _progress(step: StepRecord) -> None:
    best = step.candidates[step.chosen[0]]
    print(f"  step {step.step}: {len(step.candidates)} candidates ({step.search}), best score "
          f"{best.score:.4g} at {_human(best.macs)} MACs", file=sys.stderr)


class Enlarge(Command):
    name = "enlarge"
    help = "Enlarge a network to MACs targets: greedy (GNE) or uniform compound scaling."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--from", dest="model", required=True, help="preset name or spec .json/.txt")
        parser.add_argument("--macs", type=_counts, required=True,
                            help="final MACs (a geometric schedule leads there) or every target: 600M[,1.2G,...]")
        parser.add_argument("--method", choices=("greedy", "compound"), default="greedy")
        parser.add_argument("--evaluator", choices=("entropy", "train"), default="entropy")
        parser.add_argument("--resolution", type=number(int, low=1), default=None, help="base resolution (default: the spec's)")
        parser.add_argument("--step-ratio", type=number(low=1, low_open=True), default=2.0, help="MACs growth per step of the schedule")
        parser.add_argument("--band", type=_numbers(float, "--band"), default=(0.95, 1.0), help="low,high x target")
        parser.add_argument("--depth-steps", type=_numbers(int, "--depth-steps"), default=(0, 1, 2))
        parser.add_argument("--width-multipliers", type=_numbers(float, "--width-multipliers"),
                            default=(1.0, 1.1, 1.2, 1.3))
        parser.add_argument("--resolution-steps", type=_numbers(int, "--resolution-steps"), default=(0, 16, 32))
        parser.add_argument("--candidates", type=number(int, low=0), default=None,
                            help="candidates per step and parent (default 64 entropy, 8 train; 0 = all)")
        parser.add_argument("--top-k", type=number(int, low=1), default=1, help="parents kept per step (beam width)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--depth-penalty", type=number(low=0), default=10.0, help="entropy: DeepMAD's beta")
        train = parser.add_argument_group("train evaluator")
        train.add_argument("--data", default="fashion-mnist", help="proxy data set (the trainer's --data)")
        train.add_argument("--data-dir", default=None)
        train.add_argument("--epochs", type=number(int, low=1), default=2)
        train.add_argument("--train-subset", type=number(int, low=0), default=5000)
        train.add_argument("--val-subset", type=number(int, low=0), default=2000)
        train.add_argument("--train-resolution", type=number(int, low=1), default=None,
                           help="train candidates at this side (default: each candidate's own)")
        train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        train.add_argument("--cache-dir", default=".deepmad_cache/enlarge")
        parser.add_argument("--output", type=output_file(".json"), default=None, help="result .json (final spec, path, settings)")
        parser.add_argument("--plot", type=output_file(".png"), default=None, help="per-stage MACs of greedy and compound paths (.png)")

    def _evaluator(self, args: argparse.Namespace) -> Any:
        if args.evaluator == "entropy":
            return make_evaluator("entropy", depth_penalty=args.depth_penalty)
        return make_evaluator("train", data=args.data, data_dir=args.data_dir, epochs=args.epochs,
                              train_subset=args.train_subset, val_subset=args.val_subset,
                              resolution=args.train_resolution, seed=args.seed, device=args.device,
                              cache_dir=args.cache_dir)

    def run(self, args: argparse.Namespace) -> int:
        base = load_spec(args.model, resolution=args.resolution)
        targets = make_schedule(count_network(base).macs, args.macs, args.step_ratio)
        print(f"{base.name or args.model}: {_human(count_network(base).macs)} MACs -> targets "
              f"{', '.join(_human(t) for t in targets)}")
        evaluator = self._evaluator(args)
        compound = compound_scale(base, targets, CompoundConfig(band=args.band),
                                  evaluator if args.evaluator == "entropy" or args.method == "compound" else None)
        results = [compound]
        if args.method == "greedy":
            results.insert(0, greedy_enlarge(base, targets, evaluator, _greedy_config(args), on_step=_progress))
        for r in results:
            _print_path(r)
        main = results[0]
        if args.output:
            payload = main.to_dict()
            if main.method == "greedy":
                payload["baseline"] = compound.to_dict()
            atomic_write_json(args.output, payload)
            print(f"wrote {args.output}")
        if args.plot:
            from deepmad.enlarge.plot import plot_allocation

            plot_allocation(results, args.plot, title=base.name or str(args.model))
            print(f"wrote {args.plot}")
        if not all(p.in_band for r in results for p in r.path):
            print("warning: some networks are outside the MACs band (see 'in_band')", file=sys.stderr)
        return 0


COMMANDS = [Enlarge]

