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
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

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

__all__ = ["LatencyEvaluator", "TimingConfig", "check_additivity", "profile_space"]


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
        self._warm = False

    def _sync(self) -> None:
        if self.config.device == "cuda":
            torch.cuda.synchronize()

    def time_arch(self, arch: Arch) -> float:
        """Forward latency of ``arch`` in milliseconds (median, or min, of the repeats)."""
        samples = self.time_samples(arch)
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


def profile_space(space: CnnSpace, timing: TimingConfig | None = None,
                  config: EstimateConfig | None = None) -> Estimate:
    """Per-block latency table of ``space`` on this device (Algorithm 1 or sampled stars).

    The returned table holds ``latency`` (ms) and ``flops`` and no accuracy; combine it with an
    accuracy table of the same space through :meth:`BlockTable.with_metrics`.
    """
    evaluator = LatencyEvaluator(space, timing)
    device = evaluator.config.device
    est = estimate_table(space.space, evaluator, metrics=("latency",), config=config,
                         name=f"{space.name}-latency", device=device, units={"latency": "ms", "flops": "FLOPs"})
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
