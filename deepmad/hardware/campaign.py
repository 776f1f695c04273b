"""``calibrate``: draw networks, time them (resumable), fit the model, report held-out accuracy.

The networks are the space's presets (training set) and ``networks`` random draws
(:mod:`deepmad.hardware.sample`, fixed seed) of which a ``holdout`` share, chosen at random, is
never used by the fit and gives the held-out accuracy. Every measurement is written at once to
a cache next to the output (``CAL.json.cache.json``, atomically), keyed by the spec and tagged
with the device fingerprint; with ``passes > 1`` every network is timed once per pass, pass
after pass (minutes apart), and the least loaded pass is kept (:func:`combine_passes`). Unless
``reference=False``, each run is paired with a run of :func:`reference_network` and the fit
uses the ratios at the campaign's median reference speed (:mod:`deepmad.hardware.measure`). A
rerun with the same settings reuses every cached measurement and times only the rest, so an
interrupted calibration continues where it stopped. With a time budget, measuring stops when it
is spent and the fit uses what was measured.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from deepmad.errors import DeepmadError
from deepmad.hardware import measure
from deepmad.hardware.calibration import Calibration
from deepmad.hardware.features import FEATURE_NAMES, network_features
from deepmad.hardware.fit import accuracy, design_matrix, fit_cv
from deepmad.hardware.measure import (
    TARGET_S,
    Measurement,
    Timer,
    TimingSettings,
    combine_passes,
    fingerprint,
)
from deepmad.hardware.sample import SampleConfig, preset_networks, random_networks
from deepmad.spec import get_preset
from deepmad.spec.network import NetworkSpec
from deepmad.spec.serialize import spec_to_dict
from deepmad.utils.io import atomic_write_json

__all__ = [
    "CalibrateConfig",
    "MeasurementCache",
    "cache_path",
    "calibrate",
    "campaign_networks",
    "fit_and_score",
    "REFERENCE",
    "campaign_timer",
    "reference_network",
    "reference_spec",
    "reference_speed",
    "spec_key",
    "time_like",
]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CalibrateConfig:
    """Everything ``deepmad calibrate`` needs besides the output path."""

    settings: TimingSettings
    sample: SampleConfig
    networks: int = 120  # random networks (train + held-out); presets come on top
    holdout: float = 0.25  # share of the random networks kept out of the fit
    time_budget: float | None = None  # seconds of measuring; None: no limit
    presets: bool = True
    seed: int = 0
    target_s: float = TARGET_S  # timed seconds per network and pass (repeats adapt to it)
    passes: int = 1  # timing passes per network, minutes apart; the least loaded one is kept
    reference: bool = True  # interleave a reference network and fit the ratios (see measure.py)

    def __post_init__(self) -> None:
        if not isinstance(self.networks, int) or self.networks < 2:
            raise DeepmadError(f"--networks {self.networks!r} is invalid; expected an integer >= 2")
        if not 0.0 <= self.holdout < 1.0:
            raise DeepmadError(f"--holdout {self.holdout!r} is invalid; expected 0 <= holdout < 1")
        if not isinstance(self.passes, int) or not 1 <= self.passes <= 10:
            raise DeepmadError(
                f"--passes {self.passes!r} is invalid; expected an integer from 1 to 10"
            )
        if self.time_budget is not None and not self.time_budget > 0:
            raise DeepmadError(
                f"--time-budget {self.time_budget!r} is invalid; expected seconds > 0"
            )
        if self.settings.batch != self.sample.batch:
            raise DeepmadError("the sample batch must equal the timing batch")


def cache_path(output: str | Path) -> Path:
    """The measurement cache of a calibration written to ``output``."""
    out = Path(output)
    return out.with_name(out.name + ".cache.json")


def spec_key(spec: NetworkSpec) -> str:
    """Stable key of a spec (its JSON without the name)."""
    d = spec_to_dict(spec)
    d.pop("name", None)
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


class MeasurementCache:
    """Measurements of one fingerprint, persisted atomically after every addition."""

    def __init__(self, path: Path, fp: dict[str, Any], progress: Progress) -> None:
        self.path, self.fp = path, fp
        self.entries: dict[str, dict[str, Any]] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                progress(f"warning: cache {path} is unreadable; starting afresh")
                return
            if (
                isinstance(data, dict)
                and data.get("fingerprint") == fp
                and isinstance(data.get("entries"), dict)
            ):
                self.entries = data["entries"]
            else:
                progress(f"warning: cache {path} was measured with other settings; starting afresh")

    def passes(self, key: str) -> list[Measurement]:
        """The timing passes of ``key`` measured so far."""
        e = self.entries.get(key)
        return [] if e is None else [Measurement.from_dict(m) for m in e["passes"]]

    def put(self, key: str, spec: NetworkSpec, m: Measurement) -> None:
        """Add one pass of ``spec`` and rewrite the cache atomically."""
        e = self.entries.setdefault(key, {"name": spec.name, "passes": []})
        e["passes"].append(m.to_dict())
        atomic_write_json(self.path, {"fingerprint": self.fp, "entries": self.entries}, indent=0)


REFERENCE = "resnet18"  # the preset interleaved with every timed run (see measure.py)


def reference_spec(resolution: int) -> NetworkSpec:
    """The reference network (:data:`REFERENCE`) at ``resolution``."""
    return get_preset(REFERENCE).replace(resolution=resolution, name="reference")


def reference_network(cfg: CalibrateConfig) -> NetworkSpec | None:
    """The reference of a campaign: :func:`reference_spec` at the smallest resolution (None with
    ``reference=False``)."""
    return reference_spec(min(cfg.sample.resolutions)) if cfg.reference else None


def campaign_timer(cfg: CalibrateConfig) -> Timer:
    """The :class:`~deepmad.hardware.measure.Timer` a campaign times with (its settings, target
    and reference)."""
    return Timer(cfg.settings, target_s=cfg.target_s, reference=reference_network(cfg))


def campaign_networks(cfg: CalibrateConfig) -> tuple[list[NetworkSpec], list[bool]]:
    """(the campaign's networks in measuring order: presets then random draws; their held-out flags)."""
    randoms = random_networks(cfg.sample, cfg.networks, cfg.seed)
    n_hold = int(round(cfg.holdout * len(randoms)))
    if cfg.holdout > 0 and len(randoms) - n_hold < 2:
        raise DeepmadError(f"--networks {cfg.networks} leaves fewer than 2 training networks")
    hold = set(np.random.default_rng(cfg.seed + 1).permutation(len(randoms))[:n_hold].tolist())
    presets = preset_networks(cfg.sample) if cfg.presets else []
    specs = presets + randoms
    flags = [False] * len(presets) + [i in hold for i in range(len(randoms))]
    return specs, flags


def _fmt_s(s: float) -> str:
    return f"{int(s // 60)}m{int(s % 60):02d}s" if s >= 60 else f"{s:.0f}s"


def _measure_all(
    cfg: CalibrateConfig,
    specs: list[NetworkSpec],
    cache: MeasurementCache,
    progress: Progress,
    timer_factory: Callable[[], Any],
) -> tuple[list[Measurement | None], int, int]:
    """Time every spec ``cfg.passes`` times (pass after pass), reusing cached passes, until the
    time budget runs out. Returns each spec's combined measurement (None if never timed) and
    the numbers of passes timed now and taken from the cache."""
    keys = [spec_key(s) for s in specs]
    todo = sum(max(0, cfg.passes - len(cache.passes(k))) for k in keys)
    timer, new, reused, t0 = None, 0, 0, time.perf_counter()
    for p in range(cfg.passes):
        for i, (spec, key) in enumerate(zip(specs, keys)):
            done = cache.passes(key)
            if len(done) > p:
                _line(progress, i, len(specs), p, cfg.passes, spec, done[p], "cached")
                reused += 1
                continue
            if cfg.time_budget is not None and time.perf_counter() - t0 > cfg.time_budget:
                break
            timer = timer or timer_factory()
            m = timer.time(spec)
            cache.put(key, spec, m)
            new += 1
            eta = (time.perf_counter() - t0) / new * (todo - new)
            _line(progress, i, len(specs), p, cfg.passes, spec, m, f"ETA {_fmt_s(eta)}")
    results = [
        combine_passes(cache.passes(k)[: cfg.passes]) if cache.passes(k) else None for k in keys
    ]
    return results, new, reused


def _line(
    progress: Progress,
    i: int,
    n: int,
    p: int,
    passes: int,
    spec: NetworkSpec,
    m: Measurement,
    tag: str,
) -> None:
    where = f"pass {p + 1}/{passes} " if passes > 1 else ""
    progress(
        f"[{i + 1:>4}/{n}] {where}{spec.name or 'network':<18} {m.median_ms:9.3f} ms "
        f"spread {100 * m.spread:4.1f}%  {tag}"
    )


Row = tuple[NetworkSpec, Measurement, bool]  # spec, measurement, held out


def reference_speed(rows: list[Row]) -> float:
    """The campaign's speed: the median of the reference's times over every measurement that
    has one (0.0 without a reference: :meth:`Measurement.scaled_ms` then returns raw ms)."""
    refs = [m.ref_ms for _, m, _ in rows if m.ratio > 0]
    return float(np.median(refs)) if refs else 0.0


Timed = tuple[NetworkSpec, float]  # a network and its time in ms


def fit_and_score(fp: dict[str, Any], train: list[Timed], test: list[Timed], seed: int = 0) -> Calibration:
    """Fit the model (:func:`~deepmad.hardware.fit.fit_cv`) on the ``train`` networks' times at the
    fingerprint's batch; the calibration (no info yet) with train / held-out / CV accuracy."""
    if len(train) < 2:
        raise DeepmadError(
            f"only {len(train)} training network(s) were measured; raise --time-budget"
        )
    batch = int(fp["batch"])
    x_train = design_matrix([network_features(s, batch) for s, _ in train], FEATURE_NAMES)
    fit = fit_cv(x_train, np.array([t for _, t in train]), FEATURE_NAMES, seed=seed)
    cal = Calibration(fp, fit.coefficients, fit.ridge)

    def score(part: list[Timed]) -> dict[str, Any]:
        pred = np.array([cal.predict(s).total_ms for s, _ in part])
        return accuracy(pred, np.array([t for _, t in part])).to_dict()

    acc = {"train": score(train), "heldout": score(test)}
    if fit.cv is not None:
        acc["cv"] = fit.cv.to_dict()
    return replace(cal, accuracy=acc)


def _info(
    cfg: CalibrateConfig, cal: Calibration, rows: list[Row], speed: float, new: int, reused: int,
    seconds: float,
) -> dict[str, Any]:
    """The calibration's ``info``: what was measured, how, and every network's figures."""
    ref = reference_network(cfg)
    return {
        "space": cfg.sample.space,
        "resolutions": list(cfg.sample.resolutions),
        "networks_train": sum(1 for *_, h in rows if not h),
        "networks_heldout": sum(1 for *_, h in rows if h),
        "measured_now": new,
        "from_cache": reused,
        "measure_seconds": seconds,
        "clock": cfg.settings.clock,
        "passes": cfg.passes,
        "statistic": ("median of each pass's network / reference ratios, interleaved run by run, "
                      "times the median reference time" if cfg.reference else "median of each pass's repeats")
        + " (beyond 3 scaled MADs rejected); least of the passes",
        "reference": REFERENCE if ref is not None else None,
        "reference_resolution": ref.resolution if ref is not None else None,
        "reference_ms": speed,
        "median_spread": float(np.median([m.spread for _, m, _ in rows])),
        "median_pass_spread": float(np.median([m.pass_spread for _, m, _ in rows])),
        "networks": [
            {
                "name": s.name,
                "heldout": h,
                "measured_ms": m.scaled_ms(speed),
                "raw_ms": m.median_ms,
                "predicted_ms": cal.predict(s).total_ms,
                "spread": m.spread,
                "pass_spread": m.pass_spread,
            }
            for s, m, h in rows
        ],
    }


def calibrate(
    cfg: CalibrateConfig,
    output: str | Path,
    progress: Progress | None = None,
    timer_factory: Callable[[], Any] | None = None,
) -> Calibration:
    """Run a calibration and write it to ``output`` (see the module docstring)."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    fp = fingerprint(cfg.settings)
    specs, held = campaign_networks(cfg)
    cache = MeasurementCache(cache_path(output), {**fp, **({"reference": REFERENCE} if cfg.reference else {})},
                             say)
    say(
        f"calibrating {len(specs)} networks ({sum(held)} held out) on {fp.get('gpu', fp['cpu'])}, "
        f"clock {cfg.settings.clock}, {len(cache.entries)} cached networks"
    )
    start = time.perf_counter()
    factory = timer_factory or (lambda: campaign_timer(cfg))
    results, new, reused = _measure_all(cfg, specs, cache, say, factory)
    seconds = time.perf_counter() - start
    rows = [(s, m, h) for s, m, h in zip(specs, results, held) if m is not None]
    speed = reference_speed(rows)
    timed = [((s, m.scaled_ms(speed)), h) for s, m, h in rows]  # in ms at the reference speed
    cal = fit_and_score(fp, [t for t, h in timed if not h], [t for t, h in timed if h], cfg.seed)
    cal = replace(cal, info=_info(cfg, cal, rows, speed, new, reused, seconds))
    cal.save(output)
    h = cal.accuracy["heldout"]
    if h["n"]:
        say(
            f"held-out ({h['n']} networks): MAPE {h['mape']:.1f}%, within 10% {h['within10']:.0f}%, "
            f"Spearman {h['spearman']:.3f}; measuring took {_fmt_s(seconds)} ({new} new)"
        )
    elif cfg.holdout > 0:
        say("warning: no held-out network was measured; the accuracy is unknown")
    return cal


@dataclass(frozen=True)
class CheckTiming:
    """One network timed here as its calibration timed networks (``latency`` / ``design --measure``)."""

    raw_ms: float  # median of the network's runs now
    spread: float  # IQR / median of the kept samples (of the ratios with a reference)
    at_speed_ms: float | None  # ratio to the reference x the calibration's reference time (None: no reference)

    @property
    def ms(self) -> float:
        """The figure to compare with a prediction: at the calibration's speed when known."""
        return self.raw_ms if self.at_speed_ms is None else self.at_speed_ms

    def record(self, predicted_ms: float) -> dict[str, Any]:
        """The measured figures beside a prediction (``latency --json``, ``design --json``'s
        ``latency``): ``measured_ms`` (:attr:`ms`), the raw ms, whether it is at the calibration's
        speed, the spread and ``error_pct = 100 (predicted - measured) / measured``."""
        return {"measured_ms": self.ms, "measured_raw_ms": self.raw_ms,
                "measured_at_calibration_speed": self.at_speed_ms is not None, "measured_spread": self.spread,
                "error_pct": 100.0 * (predicted_ms - self.ms) / self.ms}


def time_like(cal: Calibration, spec: NetworkSpec, target_s: float = TARGET_S) -> CheckTiming:
    """Time ``spec`` under ``cal``'s settings (about ``target_s`` timed seconds), paired with its
    reference network when the calibration used one, so the figure is at the calibration's
    machine speed (see measure.py)."""
    info = cal.info or {}
    ref_ms, res = float(info.get("reference_ms") or 0.0), info.get("reference_resolution")
    ref = reference_spec(int(res)) if ref_ms > 0 and res else None
    m = measure.Timer(cal.settings, target_s=target_s, reference=ref).time(spec)
    return CheckTiming(m.median_ms, m.spread, m.scaled_ms(ref_ms) if ref is not None else None)
