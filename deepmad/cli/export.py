"""``deepmad export``: a preset, spec or trained checkpoint to ONNX or TorchScript.

The flags map onto :func:`deepmad.export.load_model` and :func:`deepmad.export.export_onnx` /
:func:`deepmad.export.export_torchscript`. Everything is checked (output suffix and directory,
batch, opset, the ``[export]`` packages) before the model is built; torch is imported only when
the command runs.
"""

from __future__ import annotations

import argparse

from deepmad.cli.base import Command

__all__ = ["COMMANDS", "Export"]

_FORMATS = ("onnx", "torchscript")
_EXPORTERS = ("auto", "dynamo", "torchscript")


class Export(Command):
    """``deepmad export``."""

    name = "export"
    help = "export a preset, spec or trained checkpoint to ONNX or TorchScript"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", nargs="?", metavar="SPEC|PRESET",
                            help="preset, spec / design-result .json or TinyNAS .txt "
                                 "(default: the spec recorded in --checkpoint)")
        parser.add_argument("--checkpoint", metavar="CKPT", help="trained weights: a deepmad best.pt / "
                            "last.pt or a state-dict file (default: random initialisation)")
        parser.add_argument("--weights", choices=("model", "ema"), default="model",
                            help="checkpoint weights: model (default; in best.pt the better of raw "
                                 "and EMA) or ema (the EMA weights of last.pt)")
        parser.add_argument("--format", choices=_FORMATS, help="default: from the -o suffix")
        parser.add_argument("-o", "--output", required=True, metavar="OUT",
                            help="file to write: .onnx, or .pt / .ts for TorchScript")
        parser.add_argument("--batch", default="dynamic", metavar="dynamic|N",
                            help="batch dimension: dynamic (default) or a fixed N")
        parser.add_argument("--opset", type=int, help="ONNX opset (default 18)")
        parser.add_argument("--exporter", choices=_EXPORTERS, default="auto",
                            help="ONNX path: auto (default: dynamo, falling back to the "
                                 "TorchScript-based exporter if it fails), dynamo or torchscript")
        parser.add_argument("--resolution", type=int, help="input side (default: the checkpoint's "
                            "training resolution, else the spec's)")
        parser.add_argument("--num-classes", type=int, help="classifier outputs (default: the "
                            "checkpoint's, else the spec's)")

    def run(self, args: argparse.Namespace) -> int:
        from deepmad.errors import DeepmadError
        from deepmad.export import (
            DEFAULT_OPSET,
            check_output,
            export_onnx,
            export_torchscript,
            load_model,
            parse_batch,
            require_packages,
        )

        path, fmt = check_output(args.output, args.format)
        batch = parse_batch(args.batch)
        if fmt == "torchscript" and (args.opset is not None or args.exporter != "auto"):
            raise DeepmadError("--opset and --exporter apply only to --format onnx")
        for flag in ("resolution", "num_classes"):
            value = getattr(args, flag)
            if value is not None and value < 1:
                raise DeepmadError(f"--{flag.replace('_', '-')} {value} is invalid; expected an integer >= 1")
        if fmt == "onnx":
            require_packages("onnx")
        loaded = load_model(args.model, args.checkpoint, args.weights, args.num_classes, args.resolution)
        if fmt == "onnx":
            opset = args.opset if args.opset is not None else DEFAULT_OPSET
            result = export_onnx(loaded, path, batch, opset, args.exporter)
        else:
            result = export_torchscript(loaded, path, batch)
        print(result.describe())
        return 0


COMMANDS = [Export]
