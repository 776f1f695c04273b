"""Latency measured on this machine, for designing to "<= X ms on this device" (imports torch).

MathNAS (arXiv 2311.04943), Sec. 3.3 and App. A.8: block latencies are additive, so a table of
per-block latencies measured on the target device is all the solver needs. The released code
ships tables for TX2 and Raspberry Pi only; :class:`LatencyEvaluator` builds each switched
network of a :class:`~deepmad.mathnas.cnn_space.CnnSpace` with :func:`deepmad.models.build_model`
and times its forward pass on the current device (CPU, or CUDA when asked): eval mode,
``torch.inference_mode``, warm-up runs, device synchronisation around every timed run, and the
median of the repeats. On a shared, busy CPU, ``clock="cpu"`` (the calling thread's CPU time,
with one intra-op thread) measures the compute cost without the time other processes take.
:func:`profile_space` turns the measurements into a block table with the
estimators of :mod:`deepmad.mathnas.estimate`; :func:`check_additivity` times random networks
and compares them with the table's additive prediction.

Noise: each network's repeats give a relative spread, ``IQR / median``; :func:`assess_noise`
calls a profile noisy when the median spread exceeds :data:`MAX_SPREAD`, or when the check's
Spearman is below :data:`MIN_SPEARMAN`, and unusable when the table predicts a latency <= 0 or
a non-finite one for some network of the space (what a busy machine produces).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from deepmad.errors import DeepmadError
from deepmad.mathnas.cnn_space import CnnSpace
from deepmad.mathnas.estimate import Estimate, EstimateConfig, estimate_table
from deepmad.mathnas.predictors import metric_values
from deepmad.mathnas.space import Arch
from deepmad.mathnas.tables import BlockTable
from deepmad.mathnas.validate import Validation, rank_correlations
from deepmad.models import build_model
from deepmad.utils.stats import iqr_over_median

__all__ = ["MAX_SPREAD", "MIN_CHECKED", "MIN_SPEARMAN", "LatencyEvaluator", "NoiseReport", "NoisyTimingError", "TimingConfig",
           "assess_noise",
           "check_additivity", "profile_space", "relative_spread"]

MAX_SPREAD = 0.25  # median IQR / median of the repeats above which the timings are noisy
MIN_SPEARMAN = 0.5  # check Spearman (table vs measured) below which the table is unreliable
MIN_CHECKED = 5  # networks the check must time before its Spearman is judged


@dataclass(frozen=True)
class TimingConfig:
    """How one network is timed."""

    device: str = "cpu"  # "cpu" or "cuda"
    batch_size: int = 1  # images per forward pass
    warmup: int = 5  # untimed runs first
    repeats: int = 20  # timed runs; the median is reported
    threads: int | None = None  # torch.set_num_threads on CPU (None: leave as is)
    statistic: str = "median"  # "median" of the repeats, or "min" (robust on a shared, busy CPU)
    clock: str = "wall"  # "wall" (perf_counter), or "cpu": this thread's CPU time (CPU, 1 thread only)

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise DeepmadError(f"device {self.device!r} is unknown; allowed: cpu, cuda")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise DeepmadError("device 'cuda' was asked for but torch sees no CUDA device; allowed here: cpu")
        if self.clock not in ("wall", "cpu"):
            raise DeepmadError(f"clock {self.clock!r} is unknown; allowed: wall, cpu")
        if self.clock == "cpu" and (self.device != "cpu" or self.threads != 1):
            raise DeepmadError("clock 'cpu' needs device 'cpu' and threads=1 (it counts the calling thread only)")
        if self.statistic not in ("median", "min"):
            raise DeepmadError(f"statistic {self.statistic!r} is unknown; allowed: median, min")
        if self.batch_size < 1 or self.warmup < 0 or self.repeats < 1:
            raise DeepmadError("batch_size and repeats must be >= 1 and warmup >= 0")


class LatencyEvaluator:
    """``arch -> {"latency": median ms, "flops": F(N)}`` for the networks of a CNN space."""

    def __init__(self, space: CnnSpace, config: TimingConfig | None = None) -> None:
        self.space = space
        self.config = config or TimingConfig()
        if self.config.threads is not None and self.config.device == "cpu":
            torch.set_num_threads(self.config.threads)
        self.calls = 0
        self.spreads: list[float] = []  # relative_spread of every timed network, in order
        self._warm = False

    def _sync(self) -> None:
        if self.config.device == "cuda":
            torch.cuda.synchronize()

    def time_arch(self, arch: Arch) -> float:
        """Forward latency of ``arch`` in milliseconds (median, or min, of the repeats)."""
        samples = self.time_samples(arch)
        self.spreads.append(relative_spread(samples))
        return statistics.median(samples) if self.config.statistic == "median" else min(samples)

    def time_samples(self, arch: Arch) -> list[float]:
        """Every timed forward pass of ``arch``, in milliseconds."""
        cfg, spec = self.config, self.space.spec_for(arch)
        model = build_model(spec).eval().to(cfg.device)
        x = torch.randn(cfg.batch_size, spec.in_channels, spec.resolution, spec.resolution, device=cfg.device)
        times = []
        clock = time.thread_time if cfg.clock == "cpu" else time.perf_counter
        with torch.inference_mode():
            for _ in range(cfg.warmup if self._warm else 3 * cfg.warmup + 3):  # first call: warm the runtime
                model(x)
            self._sync()
            for _ in range(cfg.repeats):
                start = clock()
                model(x)
                self._sync()
                times.append(1000.0 * (clock() - start))
        self.calls += 1
        self._warm = True
        return times

    def __call__(self, arch: Arch) -> dict[str, float]:
        return {"latency": self.time_arch(arch), "flops": self.space.space.network_flops(arch)}


def relative_spread(samples: Sequence[float]) -> float:
    """Interquartile range of the repeats over their median; 0 with fewer than 4 repeats."""
    return 0.0 if len(samples) < 4 else iqr_over_median(samples)


def _predicts_valid(low: float, high: float) -> bool:
    """Every latency the table predicts, from ``low`` to ``high`` ms, is > 0 and finite."""
    return low > 0 and math.isfinite(low) and math.isfinite(high)


@dataclass(frozen=True)
class NoiseReport:
    """How trustworthy a latency profile is (see :func:`assess_noise`)."""

    spread: float  # median relative spread of the repeats over the timed networks
    worst_spread: float  # largest relative spread
    low: float  # smallest latency the table predicts over the space (ms)
    high: float  # largest (ms)
    spearman: float | None  # of the additivity check, None when not run
    reasons: tuple[str, ...]  # why the profile is noisy; empty when it is not

    @property
    def noisy(self) -> bool:
        """True when some reason applies."""
        return bool(self.reasons)

    @property
    def usable(self) -> bool:
        """False when the table predicts a latency <= 0 or a non-finite one."""
        return _predicts_valid(self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (stored in the table's provenance)."""
        return {"median_spread": self.spread, "worst_spread": self.worst_spread, "predicted_low_ms": self.low,
                "predicted_high_ms": self.high, "check_spearman": self.spearman, "noisy": self.noisy,
                "reasons": list(self.reasons)}


def assess_noise(table: BlockTable, spreads: Sequence[float], spearman: float | None = None,
                 max_spread: float = MAX_SPREAD, min_spearman: float = MIN_SPEARMAN,
                 checked: int = MIN_CHECKED) -> NoiseReport:
    """Judge a latency table and the repeat spreads it was measured with.

    ``spearman`` is the additivity check's over ``checked`` networks; it is judged only from
    :data:`MIN_CHECKED` networks on (with fewer, one swapped pair decides it).
    """
    low, high = table.metric("latency").bounds()
    spread = statistics.median(spreads) if spreads else 0.0
    worst = max(spreads, default=0.0)
    reasons = []
    if not _predicts_valid(low, high):
        reasons.append(f"the table predicts latencies from {low:.4g} to {high:.4g} ms (must be > 0 and finite)")
    if spread > max_spread:
        reasons.append(f"repeats of one network vary by {100 * spread:.0f} % (median IQR / median; "
                       f"at most {100 * max_spread:.0f} % expected)")
    if spearman is not None and checked >= MIN_CHECKED and not spearman >= min_spearman:
        reasons.append(f"the check's Spearman {spearman:.3f} is below {min_spearman}")
    return NoiseReport(spread, worst, low, high, spearman, tuple(reasons))


class NoisyTimingError(DeepmadError):
    """The measured table would predict a latency <= 0 or a non-finite one; ``report`` says why."""

    def __init__(self, report: NoiseReport) -> None:
        super().__init__(f"timings too noisy to use: {'; '.join(report.reasons)}; time on a quieter machine, "
                         "or with clock='cpu' and threads=1, more repeats, or statistic='min'")
        self.report = report


def with_noise_record(table: BlockTable, report: NoiseReport) -> BlockTable:
    """``table`` with ``report`` stored under ``provenance["timing_noise"]``."""
    return replace(table, provenance={**table.provenance, "timing_noise": report.to_dict()})


def profile_space(space: CnnSpace, timing: TimingConfig | None = None,
                  config: EstimateConfig | None = None, evaluator: LatencyEvaluator | None = None) -> Estimate:
    """Per-block latency table of ``space`` on this device (Algorithm 1 or sampled stars).

    The returned table holds ``latency`` (ms) and ``flops`` and no accuracy; combine it with an
    accuracy table of the same space through :meth:`BlockTable.with_metrics`. Pass ``evaluator``
    to keep its repeat spreads (``evaluator.spreads``) for :func:`assess_noise`.

    Raises:
        NoisyTimingError: the table would predict a latency <= 0 or a non-finite one.
    """
    evaluator = evaluator or LatencyEvaluator(space, timing)
    device = evaluator.config.device
    est = estimate_table(space.space, evaluator, metrics=("latency",), config=config,
                         name=f"{space.name}-latency", device=device, units={"latency": "ms", "flops": "FLOPs"})
    report = assess_noise(est.table, evaluator.spreads)
    if not report.usable:
        raise NoisyTimingError(report)
    return est


def check_additivity(space: CnnSpace, table: BlockTable, evaluator: LatencyEvaluator, count: int,
                     seed: int = 0) -> tuple[Validation, list[Arch], np.ndarray]:
    """Time ``count`` random networks and compare with the table's additive latency.

    Returns:
        The :class:`Validation` (Spearman, Kendall, RMSE, MAE in ms), the networks and their
        measured latencies.
    """
    rng = np.random.default_rng(seed)
    archs = list(dict.fromkeys(space.space.random_archs(rng, count)))
    measured = np.array([evaluator.time_arch(a) for a in archs])
    predicted = metric_values(table.metric("latency"), np.asarray(archs))
    rho, tau = rank_correlations(predicted, measured) if len(archs) >= 3 else (float("nan"), float("nan"))
    err = predicted - measured
    return (Validation(len(archs), rho, tau, float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err))), "additive"),
            archs, measured)
