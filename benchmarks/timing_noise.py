"""How much do repeated timings of one network agree, in ms and in ratios to a reference?

Times ``--networks`` random networks (the calibration sampler: all block kinds, 128-224 px,
batch 1, inference, 1 thread, thread CPU time) in ``--passes`` passes, one after the other. Each
timed run of a network is followed by one run of the reference (``resnet18`` at 160 px), as
:class:`deepmad.hardware.measure.Timer` does with a reference. Per network and pass: the median
of its raw ms and the median of the per-pair ratios. Prints, for both, the median over networks
of the pass-to-pass spread ``(max - min) / min`` and the share of networks whose passes agree
within 10 %.

    python benchmarks/timing_noise.py --networks 40 --passes 3
"""

from __future__ import annotations

import argparse

import numpy as np

from deepmad.hardware.campaign import reference_spec
from deepmad.hardware.measure import Timer, TimingSettings
from deepmad.hardware.sample import SampleConfig, random_networks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=40)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--target-seconds", type=float, default=0.15)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    settings = TimingSettings("cpu", 1, 1, "inference")
    sample = SampleConfig("all", (128, 160, 192, 224), 1, 5e6, 6e8)
    nets = random_networks(sample, args.networks, args.seed)
    timer = Timer(settings, target_s=args.target_seconds, reference=reference_spec(160))
    raw = np.zeros((len(nets), args.passes))
    ratio = np.zeros_like(raw)
    for k in range(args.passes):
        for i, spec in enumerate(nets):
            m = timer.time(spec)
            raw[i, k], ratio[i, k] = m.median_ms, m.ratio
        print(f"pass {k + 1}/{args.passes} done", flush=True)
    for label, a in (("ms", raw), ("ratio", ratio)):
        spread = (a.max(1) - a.min(1)) / a.min(1)
        print(f"{label:>5}: median pass-to-pass spread {100 * np.median(spread):.1f} %, "
              f"passes within 10 %: {100 * np.mean(spread <= 0.10):.0f} % of {len(nets)} networks")


if __name__ == "__main__":
    main()
