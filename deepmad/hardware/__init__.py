"""Hardware-aware design: a latency model of the user's own device (no torch at import).

``deepmad calibrate`` times random networks on this device (:mod:`deepmad.hardware.measure`),
fits a non-negative linear model over closed-form per-layer features
(:mod:`deepmad.hardware.features`, :mod:`deepmad.hardware.fit`) and writes a
:class:`~deepmad.hardware.calibration.Calibration`; ``Calibration.load(path).predict(spec)``
predicts a network's latency, total and per stage.
"""

from deepmad.hardware.calibration import Calibration, LatencyPrediction, StageLatency
from deepmad.hardware.features import FEATURE_NAMES, conv_terms, network_features, segment_features

__all__ = [
    "FEATURE_NAMES",
    "Calibration",
    "LatencyPrediction",
    "StageLatency",
    "conv_terms",
    "network_features",
    "segment_features",
]
