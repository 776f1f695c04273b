"""Shared by the hardware tests: a layer record priced through the calibration's own terms."""

from __future__ import annotations

from deepmad.cost.report import LayerRecord
from deepmad.hardware import Calibration
from deepmad.hardware.features import conv_class


def layer_price(cal: Calibration, r: LayerRecord) -> float:
    """ms of the conv-like layer ``r`` (BN records are priced elsewhere, as block elementwise terms)."""
    return cal.layer_ms(conv_class(r), r.in_channels, r.out_channels, r.kernel_size, r.groups,
                        r.in_size, r.out_size)
