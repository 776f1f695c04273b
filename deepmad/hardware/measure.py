"""Timing real networks on this device (the only module of :mod:`deepmad.hardware` that uses torch,
imported lazily inside the functions so the package itself stays importable without it).

Clocks (:func:`clock_name`): ``cuda-events`` (CUDA events recorded around each run, read after
``torch.cuda.synchronize``), ``thread-cpu`` (``time.thread_time``: CPU time of the calling thread,
used on CPU with one thread: intra-op work then runs on that thread, and time the OS gives to
other processes on a shared machine is not counted) and ``wall`` (``time.perf_counter``, CPU with
several threads, whose work the calling thread's clock would miss).

Each network: built once, warm-up runs (at least :data:`WARMUP_RUNS` and
:data:`WARMUP_SECONDS`), then ``repeats`` timed runs with ``repeats`` chosen so the timed part
takes about ``target_s`` (between ``min_repeats`` and ``max_repeats``); samples further than
3 scaled MADs from the median are rejected (:func:`reject_outliers`) and the median of the rest
is the pass's time; the spread (IQR / median of the kept samples) is recorded. A calibration
may time every network in several passes, minutes apart, and keep the least loaded one
(:func:`combine_passes`).

With a ``reference`` network, every timed run of the network is followed by one run of the
reference, and the pass's figure is the median of the per-pair ratios ``t_net / t_ref``
(:attr:`Measurement.ratio`; outliers rejected on the ratios). The machine's speed changes
(other processes, shared caches, clock boost) over seconds to minutes and slows both runs of a
pair alike, so the ratio cancels most of it: on this project's shared 2-core machine, three
passes over 40 networks agreed within 10 % for 48 % of them in milliseconds and for 78 % in
ratios (median spread 10.2 % vs 3.4 %; ``benchmarks/timing_noise.py``, docs/benchmarks.md). A
calibration converts ratios back to ms with one speed for the whole campaign (the median of the
reference's times, :meth:`Measurement.scaled_ms`). Modes:
``inference`` (eval, ``torch.inference_mode``) and ``train`` (the project's
:func:`deepmad.train.loop.train_step`: forward, label-smoothed CE, backward, SGD-Nesterov step).
"""

from __future__ import annotations

import dataclasses
import math
import platform
import statistics
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from deepmad.errors import DeepmadError
from deepmad.spec.network import NetworkSpec
from deepmad.utils.stats import iqr_over_median

__all__ = [
    "Measurement",
    "TimingSettings",
    "Timer",
    "clock_name",
    "combine_passes",
    "fingerprint",
    "reject_outliers",
    "require_device",
]

WARMUP_RUNS = 3
TARGET_S = 0.3  # default timed seconds per network (Timer, calibrate, time_like)
WARMUP_SECONDS = 0.05
MODES = ("inference", "train")
AMPS = ("off", "bf16", "fp16")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class TimingSettings:
    """How networks are run and timed; part of the calibration's fingerprint."""

    device: str = "cpu"
    threads: int = 1  # torch intra-op threads (CPU)
    batch: int = 1
    mode: str = "inference"
    amp: str = "off"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise DeepmadError(
                f"--device {self.device!r} is invalid; allowed: {', '.join(DEVICES)}"
            )
        if self.mode not in MODES:
            raise DeepmadError(f"--mode {self.mode!r} is invalid; allowed: {', '.join(MODES)}")
        if self.amp not in AMPS:
            raise DeepmadError(f"--amp {self.amp!r} is invalid; allowed: {', '.join(AMPS)}")
        for name in ("threads", "batch"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise DeepmadError(f"--{name} {v!r} is invalid; expected an integer >= 1")
        if self.mode == "train" and self.batch < 2:
            raise DeepmadError(
                f"--batch {self.batch} is invalid in train mode; expected >= 2 "
                "(BatchNorm needs 2 values per channel)"
            )
        if self.device == "cpu" and self.amp == "fp16":
            raise DeepmadError("--amp fp16 needs --device cuda; allowed on cpu: off, bf16")

    @property
    def clock(self) -> str:
        return clock_name(self.device, self.threads)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "threads": self.threads,
            "batch": self.batch,
            "mode": self.mode,
            "amp": self.amp,
            "channels_last": self.channels_last,
            "clock": self.clock,
        }


NO_CUDA = "--device cuda was asked for but torch sees no CUDA GPU; allowed here: cpu"


def require_device(settings: TimingSettings, missing: str = NO_CUDA) -> None:
    """Refuse ``settings`` whose device this machine lacks (CUDA that torch cannot see):
    a :class:`DeepmadError` with the message ``missing`` (imports torch only for CUDA)."""
    if settings.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise DeepmadError(missing)


def clock_name(device: str, threads: int) -> str:
    """``cuda-events`` on CUDA, ``thread-cpu`` on CPU with one thread, ``wall`` otherwise."""
    if device == "cuda":
        return "cuda-events"
    return "thread-cpu" if threads == 1 else "wall"


@dataclass(frozen=True)
class Measurement:
    """One network's timing: median of the kept samples, in ms."""

    median_ms: float
    spread: float  # IQR / median of the kept samples
    kept: int
    rejected: int
    clock: str
    passes: int = 1  # timing passes combined (see combine_passes)
    pass_spread: float = 0.0  # (max - min) / min of the passes' medians (or ratios)
    ratio: float = 0.0  # median of network / reference per interleaved repeat (0: no reference)
    ref_ms: float = 0.0  # median of the reference's interleaved runs (0: no reference)

    def scaled_ms(self, ref_ms: float) -> float:
        """The network's time at the reference speed ``ref_ms``: ``ratio x ref_ms``, or
        ``median_ms`` when it was timed without a reference."""
        return self.ratio * ref_ms if self.ratio > 0 else self.median_ms

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measurement:
        return cls(
            float(d["median_ms"]),
            float(d["spread"]),
            int(d["kept"]),
            int(d["rejected"]),
            str(d["clock"]),
            int(d.get("passes", 1)),
            float(d.get("pass_spread", 0.0)),
            float(d.get("ratio", 0.0)),
            float(d.get("ref_ms", 0.0)),
        )


def combine_passes(passes: list[Measurement]) -> Measurement:
    """The pass with the smallest median (smallest ratio when every pass was timed against a
    reference), tagged with the number of passes and their spread.

    Passes of one network are taken minutes apart; on a shared machine the load of other
    processes changes in between and only ever inflates a time (also the thread CPU time,
    through shared caches and cores), so the least loaded pass is the best estimate of the
    network's own cost.
    """
    if not passes:
        raise ValueError("combine_passes needs at least one measurement")
    normalised = all(m.ratio > 0 for m in passes)

    def key(m: Measurement) -> float:
        return m.ratio if normalised else m.median_ms

    best = min(passes, key=key)
    lo, hi = key(best), max(key(m) for m in passes)
    return dataclasses.replace(best, passes=len(passes), pass_spread=(hi - lo) / lo if lo > 0 else 0.0)


def reject_outliers(samples: list[float], k: float = 3.0) -> tuple[list[float], int]:
    """Samples within ``k`` scaled MADs (1.4826 MAD) of the median, and how many were dropped."""
    med = statistics.median(samples)
    mad = 1.4826 * statistics.median(abs(s - med) for s in samples)
    if mad == 0.0:
        return list(samples), 0
    kept = [s for s in samples if abs(s - med) <= k * mad]
    return kept, len(samples) - len(kept)


def _spread(kept: list[float]) -> float:
    """IQR / median of the kept samples; (max - min) / median below 4 of them."""
    if len(kept) < 4:
        return (max(kept) - min(kept)) / statistics.median(kept)
    return iqr_over_median(kept)


def fingerprint(settings: TimingSettings) -> dict[str, Any]:
    """Device fingerprint: CPU model or GPU name, torch version and the timing settings."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    out = {"cpu": cpu, "torch": torch_version, **settings.to_dict()}
    if settings.device == "cuda":
        import torch

        out["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    return out


class Timer:
    """Times networks under one :class:`TimingSettings` (imports torch)."""

    def __init__(
        self,
        settings: TimingSettings,
        target_s: float = TARGET_S,
        min_repeats: int = 5,
        max_repeats: int = 30,
        reference: NetworkSpec | None = None,
    ) -> None:
        import torch

        require_device(settings)
        self.settings, self.target_s = settings, target_s
        self.min_repeats, self.max_repeats = min_repeats, max_repeats
        self.reference, self._ref_run = reference, None
        if settings.device == "cpu":
            torch.set_num_threads(settings.threads)

    def time(self, spec: NetworkSpec) -> Measurement:
        """Build ``spec`` and time it (see the module docstring)."""
        run = self._runner(spec)
        clock = self._clock()
        repeats = self._repeats(self._warm_up(run))
        if self.reference is None:
            samples = [clock(run) for _ in range(repeats)]
            kept, rejected = reject_outliers(samples)
            return Measurement(
                statistics.median(kept), _spread(kept), len(kept), rejected, self.settings.clock
            )
        if self._ref_run is None:
            self._ref_run = self._runner(self.reference)
            self._warm_up(self._ref_run)
        pairs = [(clock(run), clock(self._ref_run)) for _ in range(repeats)]
        kept, rejected = reject_outliers([a / b for a, b in pairs])
        return Measurement(
            statistics.median(a for a, _ in pairs), _spread(kept), len(kept), rejected,
            self.settings.clock, ratio=statistics.median(kept),
            ref_ms=statistics.median(b for _, b in pairs),
        )

    def _warm_up(self, run: Any) -> float:
        """Run until warm (see the module docstring); returns the mean seconds per run."""
        start = time.perf_counter()
        n = 0
        while n < WARMUP_RUNS or time.perf_counter() - start < WARMUP_SECONDS:
            run()
            n += 1
        self._sync()
        return max((time.perf_counter() - start) / n, 1e-6)

    def _repeats(self, per_run: float) -> int:
        return min(self.max_repeats, max(self.min_repeats, math.ceil(self.target_s / per_run)))

    def _sync(self) -> None:
        if self.settings.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def _clock(self) -> Any:
        """``clock(run) -> ms`` for this device and thread count."""
        import torch

        if self.settings.device == "cuda":

            def cuda_clock(run: Any) -> float:
                begin, end = (
                    torch.cuda.Event(enable_timing=True),
                    torch.cuda.Event(enable_timing=True),
                )
                torch.cuda.synchronize()
                begin.record()
                run()
                end.record()
                torch.cuda.synchronize()
                return float(begin.elapsed_time(end))

            return cuda_clock
        tick = time.thread_time if self.settings.clock == "thread-cpu" else time.perf_counter

        def cpu_clock(run: Any) -> float:
            t0 = tick()
            run()
            return 1000.0 * (tick() - t0)

        return cpu_clock

    def _runner(self, spec: NetworkSpec) -> Any:
        """A no-argument callable that runs one forward (inference) or one train step."""
        import torch

        from deepmad.models import build_model

        st = self.settings
        dev = torch.device(st.device)
        fmt = torch.channels_last if st.channels_last else torch.contiguous_format
        amp = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[st.amp]
        torch.manual_seed(0)
        model = build_model(spec).to(dev, memory_format=fmt)
        x = torch.randn(st.batch, spec.in_channels, spec.resolution, spec.resolution, device=dev)
        x = x.contiguous(memory_format=fmt)
        if st.mode == "inference":
            model.eval()

            def infer() -> None:
                with (
                    torch.inference_mode(),
                    torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None),
                ):
                    model(x)

            return infer
        from deepmad.train.loop import train_step
        from deepmad.train.optim import build_optimizer
        from deepmad.train.tasks import ClassificationTask

        task = ClassificationTask(model.train(), label_smoothing=0.1)
        opt = build_optimizer(model, "sgd", 0.01, 5e-5, fused=dev.type == "cuda")
        scaler = torch.amp.GradScaler("cuda") if st.amp == "fp16" else None
        y = torch.randint(0, max(spec.head.num_classes, 1), (st.batch,), device=dev)

        def step() -> None:
            train_step(task, x, y, opt, scaler=scaler, amp_dtype=amp)

        return step
