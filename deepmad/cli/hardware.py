"""Hardware subcommands: ``calibrate`` (time this device, fit its latency model) and ``latency``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from deepmad.cli.base import Command, output_file
from deepmad.cli.core import format_table
from deepmad.errors import DeepmadError
from deepmad.hardware.measure import TARGET_S

__all__ = ["COMMANDS", "parse_resolutions"]


def parse_resolutions(text: str) -> tuple[int, ...]:
    """``"224"`` -> (224,); ``"128,160"`` -> (128, 160); ``"128-224"`` -> every multiple of 16
    from 128 to 224. Raises :class:`DeepmadError` naming the bad value."""
    try:
        if "-" in text:
            lo, hi = (int(p) for p in text.split("-", 1))
            if lo > hi:
                raise ValueError
            values = sorted({lo, hi, *range(-(-lo // 16) * 16, hi + 1, 16)})
        else:
            values = sorted({int(p) for p in text.split(",")})
    except ValueError:
        raise DeepmadError(
            f"--resolution {text!r} is invalid; expected e.g. 224, 128,160 or 128-224"
        ) from None
    if values[0] < 16:
        raise DeepmadError(f"--resolution {text!r} is invalid; every resolution must be >= 16")
    return tuple(values)


class Calibrate(Command):
    name = "calibrate"
    help = "Time random networks on this device and fit its latency model (resumable)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
        parser.add_argument(
            "--threads",
            type=int,
            default=1,
            help="CPU threads; 1 times with the thread's CPU time (default: 1)",
        )
        parser.add_argument("--batch", type=int, default=1, help="images per run (default: 1)")
        parser.add_argument(
            "--mode", default="inference", help="inference or train (default: inference)"
        )
        parser.add_argument("--amp", default="off", help="off, bf16 or fp16 (default: off)")
        parser.add_argument(
            "--channels-last", action="store_true", help="channels_last memory format"
        )
        parser.add_argument("--resolution", default="224", help="224, 128,160 or a range 128-224")
        parser.add_argument(
            "--space", default="all", help="resnet, mobile-se or all (default: all)"
        )
        parser.add_argument(
            "--networks",
            type=int,
            default=120,
            help="random networks, training + held-out (default: 120)",
        )
        parser.add_argument(
            "--holdout",
            type=float,
            default=0.25,
            help="share of them kept out of the fit (default: 0.25)",
        )
        parser.add_argument(
            "--time-budget",
            type=float,
            default=None,
            help="seconds of measuring; the fit uses what was measured",
        )
        parser.add_argument(
            "--max-macs",
            type=float,
            default=1.5e9,
            help="largest forward MACs x batch of a drawn network (default: 1.5e9)",
        )
        parser.add_argument(
            "--target-seconds",
            type=float,
            default=TARGET_S,
            help=f"timed seconds per network; repeats adapt (default: {TARGET_S:g})",
        )
        parser.add_argument(
            "--passes",
            type=int,
            default=1,
            help="timing passes per network, minutes apart; the least loaded pass "
            "is kept (default: 1; use 2-3 on a shared machine)",
        )
        parser.add_argument("--no-presets", action="store_true", help="leave the presets out")
        parser.add_argument("--no-reference", action="store_true",
                            help="time networks alone; by default each run is paired with a run of a "
                            "reference network and the fit uses the ratios, which cancel the machine's "
                            "speed changes (twice the runs)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--output", "-o", required=True, type=output_file(".json"),
                            help="calibration JSON to write")

    def run(self, args: argparse.Namespace) -> int:
        from deepmad.hardware.campaign import CalibrateConfig, calibrate
        from deepmad.hardware.measure import TimingSettings, require_device
        from deepmad.hardware.sample import SampleConfig

        settings = TimingSettings(
            args.device, args.threads, args.batch, args.mode, args.amp, args.channels_last
        )
        if not args.max_macs > 0 or not 0 < args.target_seconds <= 60:
            raise DeepmadError(
                f"--max-macs {args.max_macs} / --target-seconds {args.target_seconds} "
                "is invalid; expected max-macs > 0 and 0 < target-seconds <= 60"
            )
        sample = SampleConfig(
            args.space,
            parse_resolutions(args.resolution),
            args.batch,
            min(5e6, args.max_macs / 10),
            args.max_macs,
        )
        cfg = CalibrateConfig(
            settings,
            sample,
            args.networks,
            args.holdout,
            args.time_budget,
            not args.no_presets,
            args.seed,
            args.target_seconds,
            args.passes,
            reference=not args.no_reference,
        )
        out = Path(args.output)
        require_device(settings)  # before the campaign draws and caches anything
        cal = calibrate(cfg, out)
        h = cal.accuracy["heldout"]
        print(
            f"wrote {out} (clock {cal.fingerprint['clock']}, {cal.info['networks_train']} training "
            f"networks, held-out MAPE {h['mape']:.1f}%, within 10% {h['within10']:.0f}%)"
        )
        return 0


def warn_fingerprint(cal: Any) -> list[str]:
    """Warn on stderr (and return the differences) when ``cal`` was made on another machine or setup."""
    warnings = cal.mismatches_here()
    if warnings:
        print("warning: calibration fingerprint differs from this machine: " + "; ".join(warnings),
              file=sys.stderr)
    return warnings


def check_measurable(cal: Any) -> Any:
    """The calibration's timing settings, refused when they need a CUDA GPU this machine lacks."""
    from deepmad.hardware.measure import require_device

    settings = cal.settings
    require_device(settings, "the calibration is for cuda but torch sees no CUDA GPU here; "
                             "drop --measure or use a cpu calibration")
    return settings


class Latency(Command):
    name = "latency"
    help = "Predicted latency of a network from a calibration (and --measure it here)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", help="preset name, spec .json, or TinyNAS structure .txt")
        parser.add_argument(
            "--calibration", required=True, help="calibration JSON (deepmad calibrate)"
        )
        parser.add_argument(
            "--resolution", type=int, default=None, help="input resolution (default: the spec's)"
        )
        parser.add_argument(
            "--measure", action="store_true", help="also time the network on this device"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def run(self, args: argparse.Namespace) -> int:
        from deepmad.hardware.calibration import Calibration
        from deepmad.spec import load_spec

        cal = Calibration.load(args.calibration)
        spec = load_spec(args.model, resolution=args.resolution)
        if args.measure:
            check_measurable(cal)
        warnings = warn_fingerprint(cal)
        pred = cal.predict(spec)
        out: dict[str, Any] = {
            "model": spec.name or str(args.model),
            **pred.to_dict(),
            "clock": cal.fingerprint.get("clock"),
            "fingerprint_warnings": warnings,
        }
        if args.measure:
            from deepmad.hardware.campaign import time_like

            m = time_like(cal, spec)
            out.update(m.record(pred.total_ms))
        if args.json:
            print(json.dumps(out))
            return 0
        rows = [[s["name"], f"{s['predicted_ms']:.3f}"] for s in out["stages"]]
        rows.append(["(per network)", f"{pred.overhead_ms:.3f}"])
        rows.append(["total", f"{pred.total_ms:.3f}"])
        print(format_table(["segment", "predicted ms"], rows))
        line = f"{out['model']}: predicted {pred.total_ms:.3f} ms ({pred.mode}, batch {pred.batch})"
        if args.measure:
            line += f", measured {out['measured_ms']:.3f} ms ({out['error_pct']:+.1f}%)"
            if out["measured_at_calibration_speed"]:
                line += (f" at the calibration's machine speed (ratio to its reference network; "
                         f"{out['measured_raw_ms']:.3f} ms raw now)")
        print(line)
        return 0


COMMANDS = [Calibrate, Latency]
