"""Training subcommands: ``train``, ``eval``, ``plot``.

``deepmad train`` flags map one-to-one onto :class:`deepmad.train.config.TrainConfig` fields
(dashes for underscores); ``python -m deepmad.train`` and ``torchrun -m deepmad.train`` take the
same flags. torch is imported only when a command runs, so ``deepmad --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import MISSING, fields

from deepmad.cli.base import Command, number, output_file
from deepmad.train.config import (
    AMP_MODES,
    DEVICES,
    KD_MODES,
    OPTIMIZERS,
    WLD_SCHEDULES,
    TrainConfig,
)

__all__ = ["COMMANDS", "Train", "Eval", "Plot", "add_train_arguments", "config_from_args"]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Declare one flag per ``TrainConfig`` field; defaults come from the dataclass."""
    g = p.add_argument_group("model and data")
    g.add_argument("--model", required=True, help="preset name (deepmad presets) or spec .json / TinyNAS .txt")
    g.add_argument("--num-classes", type=int, help="classifier outputs (default: the data set's)")
    g.add_argument("--data", help="digits | fashion-mnist | mnist | cifar10[:DIR] | cifar100[:DIR] | idx:DIR | folder:DIR")
    g.add_argument("--data-dir", help="folder of a named data set (default: its standard location)")
    g.add_argument("--resolution", type=int, help="input side the images are resized to (default: the spec's)")
    g.add_argument("--train-subset", type=int, help="use only the first N training images (0 = all)")
    g.add_argument("--val-subset", type=int, help="use only the first N test images (0 = all)")
    g.add_argument("--crop-padding", type=int, help="random-crop padding in source pixels (default: side // 8)")
    g.add_argument("--hflip", action=argparse.BooleanOptionalAction, help="random horizontal flips (default: per data set)")
    g = p.add_argument_group("recipe")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int, help="global batch over all processes")
    g.add_argument("--eval-batch-size", type=int)
    g.add_argument("--lr", type=float, help="peak learning rate (default 0.1 sgd / 1e-3 adamw)")
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float, help="default 5e-4 sgd / 0.05 adamw; never on BN / bias")
    g.add_argument("--warmup-epochs", type=float)
    g.add_argument("--min-lr", type=float)
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--ema-decay", type=float, help="EMA of weights per step, e.g. 0.999 (0 = off)")
    g.add_argument("--clip-grad", type=float, help="max gradient L2 norm (0 = off)")
    g.add_argument("--seed", type=int)
    g = p.add_argument_group("distillation")
    g.add_argument("--teacher", help="teacher checkpoint (deepmad .pt or a state dict)")
    g.add_argument("--teacher-model", help="teacher preset or spec file")
    g.add_argument("--kd-weight", type=float, help="weight of the KD term")
    g.add_argument("--kd-temperature", type=float, help="softmax temperature T")
    g.add_argument("--kd", choices=KD_MODES, help="logit: constant --kd-weight; weak: WLD-style, the weight "
                   "decays to 0 (IC networks, project design; deepmad.train.wld)")
    g.add_argument("--kd-schedule", choices=WLD_SCHEDULES, help="--kd weak: decay of the KD weight")
    g.add_argument("--kd-end", type=float, help="--kd weak: fraction of training where the KD weight reaches 0")
    g.add_argument("--init-from-teacher", action="store_true",
                   help="--kd weak: copy the teacher's shared weights into the student first")
    g = p.add_argument_group("speed and hardware")
    g.add_argument("--device", choices=DEVICES)
    g.add_argument("--amp", choices=AMP_MODES, help="autocast dtype (auto = bf16 on CUDA, off on CPU)")
    g.add_argument("--channels-last", action="store_true")
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    g.add_argument("--sync-bn", action="store_true", help="BN statistics over all processes")
    g.add_argument("--deterministic", action="store_true", help="deterministic algorithms only")
    g = p.add_argument_group("run directory")
    g.add_argument("--out", required=True, help="run directory (last.pt, best.pt, metrics.jsonl, curves.png)")
    g.add_argument("--resume", action="store_true",
                   help="continue from OUT/last.pt (--epochs may be raised to extend the run)")
    g.add_argument("--init-from", metavar="CKPT",
                   help="start a new run from this checkpoint's weights (fine-tuning; a classifier of "
                        "another shape keeps its fresh initialisation); --resume ignores it")
    g.add_argument("--checkpoint-every", type=int, help="also save last.pt every N steps (0 = per epoch)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(**{f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING})


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` the flags describe."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})


class Train(Command):
    name = "train"
    help = "Train a preset or designed spec on local data (CPU, GPU, or torchrun DDP)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_train_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from deepmad.train.loop import fit

        result = fit(config_from_args(args))
        if int(os.environ.get("RANK", "0")) != 0:
            return 0 if result.interrupted is None else 128 + result.interrupted
        if result.interrupted is not None:
            print(f"stopped by signal {result.interrupted}: checkpoint saved to {result.out / 'last.pt'}; "
                  f"continue with the same command plus --resume")
            return 128 + result.interrupted
        print(f"done: {result.epochs_done} epochs, best top-1 {result.best_top1:.2f}%  "
              f"({result.out / 'best.pt'}, {result.out / 'curves.png'})")
        return 0


class Eval(Command):
    name = "eval"
    help = "Evaluate a checkpoint: top-1, top-5 and loss on the test split."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--checkpoint", required=True, help="last.pt / best.pt or a state-dict file")
        parser.add_argument("--model", help="preset or spec file (default: the one saved in the checkpoint)")
        parser.add_argument("--data", help="data set (default: the one the checkpoint was trained on)")
        parser.add_argument("--data-dir")
        parser.add_argument("--resolution", type=number(int, low=1))
        parser.add_argument("--num-classes", type=number(int, low=1))
        parser.add_argument("--batch-size", type=number(int, low=1), default=256)
        parser.add_argument("--device", choices=DEVICES, default="auto")
        parser.add_argument("--amp", choices=AMP_MODES, default="auto")
        parser.add_argument("--weights", choices=("model", "ema"), default="model",
                            help="which weights of the checkpoint to evaluate")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def run(self, args: argparse.Namespace) -> int:
        from deepmad.train.evaluation import evaluate_checkpoint

        res = evaluate_checkpoint(args.checkpoint, model=args.model, data=args.data, data_dir=args.data_dir,
                                  resolution=args.resolution, num_classes=args.num_classes,
                                  batch_size=args.batch_size, device=args.device, amp=args.amp,
                                  weights=args.weights)
        if args.json:
            print(json.dumps(res))
        else:
            print(f"{res['model']} on {res['data']} ({res['images']} images, {res['resolution']} px): "
                  f"top-1 {res['top1']:.2f}%  top-5 {res['top5']:.2f}%  loss {res['loss']:.4f}")
        return 0


class Plot(Command):
    name = "plot"
    help = "Redraw RUN_DIR/curves.png (loss and accuracy) from RUN_DIR/metrics.jsonl."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_dir", help="a run directory written by 'deepmad train'")
        parser.add_argument("--out", type=output_file(".png"), help="PNG path (default RUN_DIR/curves.png)")

    def run(self, args: argparse.Namespace) -> int:
        from deepmad.train.plot import plot_run

        print(plot_run(args.run_dir, args.out))
        return 0


COMMANDS = [Train, Eval, Plot]
