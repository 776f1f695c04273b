"""Hardware-aware design, prediction part: how well a calibration predicts held-out networks.

For each mode (inference: 1 thread, batch 1, 128-224 px; train: 1 thread, batch 32, 32-64 px)
this runs :func:`deepmad.hardware.campaign.calibrate` on this CPU over mixed block kinds
(``--space all``, presets included), then reports on the held-out networks (never used by the
fit): MAPE, share within +-10 % / +-15 %, Spearman, beside a MACs-only baseline (``t = a MACs +
c``, same networks, same relative-error NNLS) and the measurement noise floor: ``--retest`` held-out
networks are timed again, and the share whose re-measured time is within +-10 % of the first
bounds what any model can show against these measurements. Calibration time = measuring + fit.
Timing pairs every run with a run of the reference network and fits the ratios
(``--no-reference``: networks alone, as before 2026-12-07 afternoon).

Full size (the issue's targets):
    python benchmarks/hardware_aware.py --out hardware_aware.json
Reduced or time-boxed (a loaded machine):
    python benchmarks/hardware_aware.py --inference-networks 160 --train-networks 60 --time-budget 300
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from deepmad.cli.hardware import parse_resolutions
from deepmad.cost import count_network
from deepmad.hardware.calibration import Calibration
from deepmad.hardware.campaign import (
    CalibrateConfig,
    calibrate,
    campaign_networks,
    campaign_timer,
    fit_and_score,
)
from deepmad.hardware.fit import accuracy, fit_nnls
from deepmad.hardware.measure import TimingSettings
from deepmad.hardware.sample import SampleConfig
from deepmad.spec.network import NetworkSpec
from deepmad.utils.io import atomic_write_json


def _macs_baseline(
    rows: list[dict[str, Any]], specs: dict[str, NetworkSpec], batch: int
) -> dict[str, Any]:
    """``t = a * MACs * batch + c`` fitted on the training networks, scored on the held-out ones."""

    def xy(held: bool) -> tuple[np.ndarray, np.ndarray]:
        sel = [r for r in rows if r["heldout"] == held]
        x = np.array([[count_network(specs[r["name"]]).macs * batch, 1.0] for r in sel])
        return x, np.array([r["measured_ms"] for r in sel])

    xt, tt = xy(False)
    xh, th = xy(True)
    return accuracy(xh @ fit_nnls(xt, tt), th).to_dict()


def _raw_fit(rows: list[dict[str, Any]], specs: dict[str, NetworkSpec], cal: Calibration, seed: int) -> dict[str, Any]:
    """The same fit on the same runs' raw ms (no reference ratios), scored on raw held-out ms:
    the side-by-side figure for the reference timing, from one set of measurements."""
    timed = [((specs[r["name"]], r["raw_ms"]), r["heldout"]) for r in rows]
    raw = fit_and_score(cal.fingerprint, [t for t, h in timed if not h], [t for t, h in timed if h], seed)
    return raw.accuracy["heldout"]


def _retest(
    rows: list[dict[str, Any]],
    specs: dict[str, NetworkSpec],
    cfg: CalibrateConfig,
    count: int,
    speed: float,
) -> dict[str, Any]:
    """Time ``count`` held-out networks again, as the calibration did (with its reference, at its
    reference speed ``speed``): agreement with the first measurement."""
    held = [r for r in rows if r["heldout"]][:count]
    if not held:
        return {"n": 0}
    timer = campaign_timer(cfg)
    times = [timer.time(specs[r["name"]]) for r in held]
    again = np.array([m.scaled_ms(speed) for m in times])
    change = accuracy(again, np.array([r["measured_ms"] for r in held]))  # |again - first| / first
    raw = accuracy(np.array([m.median_ms for m in times]), np.array([r["raw_ms"] for r in held]))
    pred = np.array([r["predicted_ms"] for r in held])
    return {
        "n": len(held),
        "mean_abs_change": change.mape,
        "within10": change.within10,
        "raw_mean_abs_change": raw.mape,
        "raw_within10": raw.within10,
        "model_vs_retest": accuracy(pred, again).to_dict(),
    }


def run_mode(
    name: str,
    settings: TimingSettings,
    resolutions: str,
    networks: int,
    args: argparse.Namespace,
    max_macs: float,
) -> dict[str, Any]:
    sample = SampleConfig(
        "all", parse_resolutions(resolutions), settings.batch, min(5e6, max_macs / 10), max_macs
    )
    cfg = CalibrateConfig(
        settings,
        sample,
        networks,
        args.holdout,
        args.time_budget,
        True,
        args.seed,
        args.target_seconds,
        args.passes,
        reference=not args.no_reference,
    )
    out = args.workdir / f"{name}.json"
    start = time.perf_counter()
    cal = calibrate(cfg, out, progress=(lambda s: None) if args.quiet else None)
    seconds = time.perf_counter() - start
    rows = cal.info["networks"]
    specs = {spec.name: spec for spec in campaign_networks(cfg)[0]}
    result = {
        "mode": name,
        "settings": settings.to_dict(),
        "resolutions": list(sample.resolutions),
        "max_macs_x_batch": max_macs,
        "passes": args.passes,
        "reference": not args.no_reference,
        "networks_train": cal.info["networks_train"],
        "networks_heldout": cal.info["networks_heldout"],
        "calibration_seconds": seconds,
        "measure_seconds": cal.info["measure_seconds"],
        "measured_now": cal.info["measured_now"],
        "median_spread": cal.info["median_spread"],
        "median_pass_spread": cal.info["median_pass_spread"],
        "ridge": cal.ridge,
        "heldout": cal.accuracy["heldout"],
        "train": cal.accuracy["train"],
        "macs_only_heldout": _macs_baseline(rows, specs, settings.batch),
    }
    result["reference_ms"] = cal.info["reference_ms"]
    if cal.info["reference_ms"]:
        result["raw_fit_heldout"] = _raw_fit(rows, specs, cal, args.seed)
    result["retest"] = _retest(rows, specs, cfg, args.retest, cal.info["reference_ms"])
    return result


def _print(r: dict[str, Any]) -> None:
    h, m, t = r["heldout"], r["macs_only_heldout"], r["retest"]
    print(
        f"{r['mode']}: {r['networks_train']} train / {r['networks_heldout']} held-out networks, "
        f"calibration {r['calibration_seconds']:.0f} s"
    )
    print(
        f"  model    : MAPE {h['mape']:.1f}%  within10 {h['within10']:.0f}%  within15 {h['within15']:.0f}%  "
        f"Spearman {h['spearman']:.3f}"
    )
    print(
        f"  MACs only: MAPE {m['mape']:.1f}%  within10 {m['within10']:.0f}%  Spearman {m['spearman']:.3f}"
    )
    if "raw_fit_heldout" in r:
        w = r["raw_fit_heldout"]
        print(f"  raw ms fit (same runs, no ratios): MAPE {w['mape']:.1f}%  within10 {w['within10']:.0f}%  "
              f"Spearman {w['spearman']:.3f}")
    if t["n"]:
        print(
            f"  re-timed {t['n']} held-out: mean change {t['mean_abs_change']:.1f}%, within10 {t['within10']:.0f}%"
            f"; model vs re-timed within10 {t['model_vs_retest']['within10']:.0f}%"
        )
        print(f"  re-timed raw ms: mean change {t['raw_mean_abs_change']:.1f}%, within10 {t['raw_within10']:.0f}%")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inference-networks", type=int, default=420)
    p.add_argument("--train-networks", type=int, default=420)
    p.add_argument("--holdout", type=float, default=0.25)
    p.add_argument("--passes", type=int, default=1)
    p.add_argument("--time-budget", type=float, default=None, help="seconds of measuring per mode")
    p.add_argument("--no-reference", action="store_true", help="time networks alone (no reference ratios)")
    p.add_argument("--target-seconds", type=float, default=0.15)
    p.add_argument(
        "--retest", type=int, default=30, help="held-out networks timed again (noise floor)"
    )
    p.add_argument(
        "--modes", nargs="+", default=["inference", "train"], choices=("inference", "train")
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=Path("hardware_aware_runs"))
    p.add_argument("--out", type=Path, default=Path("hardware_aware.json"))
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "python": platform.python_version(),
        "command": "python benchmarks/hardware_aware.py ...",
    }
    results: list[dict[str, Any]] = []
    plans = {"inference": (TimingSettings("cpu", 1, 1, "inference"), "128-224", args.inference_networks, 6e8),
             "train": (TimingSettings("cpu", 1, 32, "train"), "32-64", args.train_networks, 4e8)}
    for mode, (settings, sides, networks, max_macs) in plans.items():
        if mode in args.modes:
            results.append(run_mode(mode, settings, sides, networks, args, max_macs))
            _print(results[-1])
            atomic_write_json(args.out, {"info": info, "results": results})


if __name__ == "__main__":
    main()
