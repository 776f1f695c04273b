"""The calibration file: a fitted latency model of one device, and predictions from it (no torch).

``Calibration.load(path).predict(spec)`` returns a :class:`LatencyPrediction` (total and per
stage, in ms). The file (JSON, ``format = "deepmad-calibration"``, ``version = 1``) holds the
device fingerprint, the feature names and their non-negative coefficients (ms per unit), the
ridge weight, the accuracy on the training and held-out networks, and how long it took.
:meth:`Calibration.layer_ms` evaluates the model on one layer's closed-form features and works
on numpy arrays, for solvers that price (width, bottleneck, depth, kernel) cells.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepmad.errors import DeepmadError
from deepmad.hardware.features import (
    FEATURE_NAMES,
    conv_terms,
    elementwise_terms,
    segment_features,
    weighted_sum,
)
from deepmad.hardware.measure import TimingSettings, fingerprint
from deepmad.spec.network import NetworkSpec
from deepmad.utils.io import atomic_write_json

__all__ = [
    "FORMAT",
    "VERSION",
    "Calibration",
    "LatencyPrediction",
    "StageLatency",
    "FINGERPRINT_KEYS",
]

FORMAT, VERSION = "deepmad-calibration", 1
# keys compared between a calibration and this machine (a mismatch warns, never fails)
FINGERPRINT_KEYS = (
    "cpu",
    "gpu",
    "torch",
    "device",
    "threads",
    "batch",
    "mode",
    "amp",
    "channels_last",
)


@dataclass(frozen=True)
class StageLatency:
    """Predicted time of one segment of the network."""

    name: str  # "stem", "stage1", ..., "final_conv", "head"
    ms: float


@dataclass(frozen=True)
class LatencyPrediction:
    """Predicted latency (ms) of one network under a calibration's settings."""

    total_ms: float
    stages: tuple[StageLatency, ...]
    overhead_ms: float  # the per-network constant, in the total but in no stage
    batch: int
    mode: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "predicted_ms": self.total_ms,
            "overhead_ms": self.overhead_ms,
            "batch": self.batch,
            "mode": self.mode,
            "stages": [{"name": s.name, "predicted_ms": s.ms} for s in self.stages],
        }


def _bad(path: str | os.PathLike[str], why: str) -> DeepmadError:
    return DeepmadError(f"calibration file {os.fspath(path)!r} is invalid: {why}")


@dataclass(frozen=True)
class Calibration:
    """A fitted device latency model (see the module docstring)."""

    fingerprint: dict[str, Any]
    coefficients: dict[str, float]
    ridge: float = 0.0
    accuracy: dict[str, Any] = field(
        default_factory=dict
    )  # "train", "heldout", "cv" -> Accuracy dicts
    info: dict[str, Any] = field(default_factory=dict)  # networks, seconds, space, resolutions, ...

    def __post_init__(self) -> None:
        unknown = sorted(set(self.coefficients) - set(FEATURE_NAMES))
        if unknown:
            raise DeepmadError(f"coefficients {unknown} are not model features")
        bad = [k for k, v in self.coefficients.items() if not (math.isfinite(v) and v >= 0)]
        if bad:
            raise DeepmadError(
                f"coefficients {bad} are negative or not finite; the model needs w >= 0"
            )
        for key in ("batch", "mode"):
            if key not in self.fingerprint:
                raise DeepmadError(f"calibration fingerprint lacks {key!r}")

    @property
    def batch(self) -> int:
        return int(self.fingerprint["batch"])

    @property
    def mode(self) -> str:
        return str(self.fingerprint["mode"])

    def evaluate(self, terms: dict[str, Any]) -> Any:
        """``sum_j w_j terms[j]`` in ms (numbers or numpy arrays), see :func:`weighted_sum`."""
        return weighted_sum(self.coefficients, terms)

    def layer_ms(
        self, cls: str, cin: Any, cout: Any, k: Any, groups: Any, in_side: Any, out_side: Any
    ) -> Any:
        """Predicted ms of one conv-like layer (its BN and activation not included)."""
        return self.evaluate(conv_terms(cls, cin, cout, k, groups, in_side, out_side, self.batch))

    def elementwise_ms(self, name: str, channels: Any, side: Any) -> Any:
        """Predicted ms of one elementwise feature (``block.out``, ``se.elems``, ``pool.elems``)."""
        return self.evaluate(elementwise_terms(name, channels, side, self.batch))

    def predict(self, spec: NetworkSpec) -> LatencyPrediction:
        """Predicted ms of ``spec`` at the calibration's batch and mode, total and per segment."""
        segs = segment_features(spec, self.batch)
        overhead = float(self.evaluate(segs.pop("network")))
        stages = tuple(StageLatency(name, float(self.evaluate(t))) for name, t in segs.items())
        return LatencyPrediction(
            overhead + sum(s.ms for s in stages), stages, overhead, self.batch, self.mode
        )

    @property
    def settings(self) -> TimingSettings:
        """The timing settings the calibration was measured with (to time a network the same way)."""
        fp = self.fingerprint
        return TimingSettings(fp.get("device", "cpu"), int(fp.get("threads", 1)), int(fp["batch"]),
                              fp["mode"], fp.get("amp", "off"), bool(fp.get("channels_last", False)))

    def mismatches_here(self) -> list[str]:
        """:meth:`mismatches` against this machine, timed with the calibration's own settings."""
        return self.mismatches(fingerprint(self.settings))

    def mismatches(self, here: dict[str, Any]) -> list[str]:
        """``"key: calibrated X, here Y"`` for every fingerprint key that differs."""
        out = []
        for key in FINGERPRINT_KEYS:
            if key in self.fingerprint and key in here and self.fingerprint[key] != here[key]:
                out.append(f"{key}: calibrated {self.fingerprint[key]!r}, here {here[key]!r}")
        return out

    # --- file ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "features": list(FEATURE_NAMES),
            "coefficients": self.coefficients,
            "ridge": self.ridge,
            "accuracy": self.accuracy,
            "info": self.info,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the calibration atomically."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, path: str | os.PathLike[str] = "<dict>") -> Calibration:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise _bad(
                path,
                f"not a {FORMAT} file (format={data.get('format') if isinstance(data, dict) else None!r})",
            )
        if data.get("version") != VERSION:
            raise _bad(
                path, f"version={data.get('version')!r} is not supported; expected {VERSION}"
            )
        for key, typ in (("fingerprint", dict), ("coefficients", dict), ("features", list)):
            if not isinstance(data.get(key), typ):
                raise _bad(path, f"{key!r} is missing or not a JSON {typ.__name__}")
        if list(data["features"]) != list(FEATURE_NAMES):
            raise _bad(path, "its feature list differs from this version's model; recalibrate")
        try:
            coef = {str(k): float(v) for k, v in data["coefficients"].items()}
            return cls(
                data["fingerprint"],
                coef,
                float(data.get("ridge", 0.0)),
                dict(data.get("accuracy", {})),
                dict(data.get("info", {})),
            )
        except (TypeError, ValueError) as exc:
            raise _bad(path, str(exc).splitlines()[0]) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Calibration:
        """Read a calibration file; any problem is a one-line :class:`DeepmadError`."""
        p = Path(path)
        if not p.is_file():
            raise DeepmadError(f"calibration file {os.fspath(path)!r} does not exist")
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _bad(path, f"not valid JSON ({str(exc).splitlines()[0]})") from None
        return cls.from_dict(data, path)
