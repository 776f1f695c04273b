"""Foundation subcommands: ``presets``, ``cost``, ``convert``, ``show``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deepmad.cli.base import Command, number, output_file
from deepmad.cost import CONVENTIONS, count_network
from deepmad.errors import DeepmadError
from deepmad.spec import get_preset, list_presets, load_spec, save_spec_json, save_tinynas
from deepmad.spec.blocks import ConvBNAct, ResNetStem
from deepmad.spec.network import NetworkSpec
from deepmad.spec.presets import DISPLAY_NAMES
from deepmad.utils.numbers import si

__all__ = ["COMMANDS", "format_table", "human"]


def human(n: float) -> str:
    """Short human form: 25557032 -> '25.56M', 4089184256 -> '4.09G'."""
    return si(n, ".2f")


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain-text table with right-aligned columns (first column left-aligned)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="preset name, spec .json, or TinyNAS structure .txt")
    p.add_argument("--resolution", type=number(int, low=1), default=None,
                   help="input resolution (default: the spec's)")


class Presets(Command):
    name = "presets"
    help = "List the published presets with their costs."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'deepmad_*'")
        parser.add_argument("--convention", choices=CONVENTIONS, default="torch")

    def run(self, args: argparse.Namespace) -> int:
        names = list_presets(args.pattern)
        if not names:
            raise DeepmadError(f"no preset matches {args.pattern!r}; presets: {', '.join(list_presets())}")
        rows = []
        for n in names:
            spec = get_preset(n)
            c = count_network(spec, args.convention)
            rows.append([n, DISPLAY_NAMES[n], human(c.params), human(c.macs), str(c.layers), str(spec.resolution)])
        print(format_table(["name", "paper name", "params", "MACs", "layers", "resolution"], rows))
        print(f"(convention: {args.convention})")
        return 0


class Cost(Command):
    name = "cost"
    help = "Closed-form params / MACs / FLOPs / activations / layers of a model."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_model_args(parser)
        parser.add_argument("--convention", choices=CONVENTIONS, default="torch",
                            help="torch (= flop_counter/2, all params) or tinynas (DeepMAD reference)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def run(self, args: argparse.Namespace) -> int:
        spec = load_spec(args.model, resolution=args.resolution)
        report = count_network(spec, args.convention)
        if args.json:
            print(json.dumps({"model": spec.name or str(args.model), **report.to_dict()}))
            return 0
        rows = [[s.name, str(s.depth), str(s.out_channels), str(s.out_size), f"{s.params:,}",
                 f"{s.macs:,}", f"{s.activations:,}", str(s.layers)] for s in report.stages]
        rows.append(["total", "", "", "", f"{report.params:,}", f"{report.macs:,}",
                     f"{report.activations:,}", str(report.layers)])
        print(f"{spec.name or args.model} @ {report.resolution}px, convention {report.convention}")
        print(format_table(["stage", "blocks", "out_ch", "side", "params", "MACs", "activations", "layers"], rows))
        print(f"params {human(report.params)}  MACs {human(report.macs)}  FLOPs {human(report.flops)}  "
              f"activations {human(report.activations)}  layers {report.layers}")
        return 0


class Convert(Command):
    name = "convert"
    help = "Convert a spec between deepmad JSON and TinyNAS text (direction from the extensions)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("input", help="preset name, .json spec or .txt TinyNAS structure")
        parser.add_argument("-o", "--output", required=True, type=output_file(".json", ".txt"),
                            help="output .json (deepmad spec) or .txt (TinyNAS)")
        parser.add_argument("--resolution", type=number(int, low=1), default=None,
                            help="input resolution to record (TinyNAS files hold none; default 224)")

    def run(self, args: argparse.Namespace) -> int:
        spec = load_spec(args.input, resolution=args.resolution)
        out = Path(args.output)
        if out.suffix.lower() == ".json":
            save_spec_json(spec, out)
        else:  # output_file allows .json and .txt only
            save_tinynas(spec, out)
        print(f"wrote {out}")
        return 0


def _conv_row(label: str, c: ConvBNAct | ResNetStem, cin: int) -> list[str]:
    kind = "resnet_stem" if isinstance(c, ResNetStem) else f"conv{c.kernel_size}x{c.kernel_size}"
    return [label, kind, str(cin), str(c.out_channels), "-", str(c.kernel_size), str(c.stride), "1"]


def describe(spec: NetworkSpec) -> str:
    """A readable per-stage table of ``spec`` with its output sides and torch-convention costs."""
    sizes = spec.feature_sizes()
    rows = [_conv_row("stem", spec.stem, spec.in_channels) + [str(sizes[0])]]
    for i, st in enumerate(spec.stages):
        rows.append([f"stage{i + 1}", st.block, str(spec.stage_in_channels(i)), str(st.out_channels),
                     str(st.bottleneck_channels), str(st.kernel_size), str(st.stride), str(st.depth),
                     str(sizes[i + 1])])
    if spec.final_conv is not None:
        rows.append(_conv_row("final_conv", spec.final_conv, spec.stage_in_channels(len(spec.stages)))
                    + [str(sizes[-1])])
    c = count_network(spec)
    return "\n".join([
        f"{spec.name or 'spec'}: {spec.resolution}px, {spec.head.num_classes} classes",
        format_table(["part", "block", "in", "out", "btn", "k", "s", "L", "side"], rows),
        f"params {human(c.params)}  MACs {human(c.macs)}  activations {human(c.activations)}  layers {c.layers}",
    ])


COMMANDS = [Presets, Cost, Convert]  # show: deepmad.cli.report (adds --plot)
