"""Per-stage FLOPs of the MathNAS MobileNetV3 stage options (no torch).

MathNAS (arXiv 2311.04943, Sec. 4 and Table 9) searches the Once-for-All MobileNetV3 space
(Cai et al., ICLR 2020, arXiv 1908.09791) with the ``ofa_mbv3_d234_e346_k357_w1.2`` supernet;
a MathNAS block is one whole stage, a (depth, expansions, kernels) tuple. The released tables
carry no FLOPs, so the b^F of the paper's predictor (Eq. 6) is computed here from the stage
options, counting multiply-accumulates of convolutions and linear layers at 224x224 the way
OFA does: width multiplier 1.2 gives stem 24, first block 24, stage widths 32, 48, 96, 136,
192, final expand 1152, feature mix 1536; stage strides 2, 2, 2, 1, 2; squeeze-excitation in
stages 2, 4 and 5; expanded width ``make_divisible(round(c_in * e), 8)``, SE width
``make_divisible(mid // 4, 8)``.

Check: the counter gives 289.6M for MathNAS-MB2 (CPU set, option 0 everywhere) and 669.4M
for MathNAS-MB4 (CPU set, option 4), the 289M and 669M of the paper's Table 1. (MB1 and MB3
come out at 309.8M and 408.8M against the printed 257M and 336M; those two were presumably
measured at a lower input resolution, which the released results do not record.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deepmad.spec.rounding import make_divisible

__all__ = ["MBV3_STAGE_WIDTHS", "mbv3_fixed_macs", "mbv3_option_macs", "mbv3_stage_macs"]

MBV3_STAGE_WIDTHS: tuple[int, ...] = (32, 48, 96, 136, 192)
_STRIDES = (2, 2, 2, 1, 2)
_SE = (False, True, False, True, True)
_STEM, _FINAL_EXPAND, _FEATURE_MIX, _CLASSES = 24, 1152, 1536, 1000


def _side_after(side: int, stride: int) -> int:
    return (side - 1) // stride + 1


def _stage_input(stage: int, resolution: int) -> tuple[int, int]:
    """(input side, input channels) of ``stage``."""
    side = _side_after(resolution, 2)
    for s in _STRIDES[:stage]:
        side = _side_after(side, s)
    return side, (_STEM if stage == 0 else MBV3_STAGE_WIDTHS[stage - 1])


def mbv3_stage_macs(stage: int, option: Mapping[str, Any], resolution: int = 224) -> int:
    """MACs of one stage option ``{depth, expand[4], kernel[4]}`` (only the first depth used).

    Per MBConv layer: expand 1x1 ``H^2 c_in m``, depthwise ``H'^2 m k^2``, SE ``2 m r`` and
    project ``H'^2 m c_out``, with H' = ceil(H / s) and m the expanded width.
    """
    side, c_in = _stage_input(stage, resolution)
    c_out = MBV3_STAGE_WIDTHS[stage]
    macs = 0
    for layer in range(int(option["depth"])):
        stride = _STRIDES[stage] if layer == 0 else 1
        mid = make_divisible(round(c_in * option["expand"][layer]), 8)
        out_side = _side_after(side, stride)
        k = option["kernel"][layer]
        macs += side * side * c_in * mid + out_side * out_side * mid * (k * k + c_out)
        if _SE[stage]:
            macs += 2 * mid * make_divisible(mid // 4, 8)
        side, c_in = out_side, c_out
    return macs


def mbv3_fixed_macs(resolution: int = 224) -> int:
    """MACs outside the 5 searched stages: stem, first block, final expand, feature mix, head."""
    side = _side_after(resolution, 2)
    stem = side * side * 3 * _STEM * 9
    first_block = side * side * _STEM * (9 + _STEM)  # depthwise 3x3 + 1x1, expansion 1
    last = _side_after(_stage_input(4, resolution)[0], _STRIDES[4])
    head = last * last * MBV3_STAGE_WIDTHS[-1] * _FINAL_EXPAND + _FINAL_EXPAND * _FEATURE_MIX
    return stem + first_block + head + _FEATURE_MIX * _CLASSES


def mbv3_option_macs(options: Sequence[Sequence[Mapping[str, Any]]],
                     resolution: int = 224) -> tuple[tuple[float, ...], ...]:
    """b^F table: MACs of every (stage, option) of a released MathNAS block set."""
    return tuple(tuple(float(mbv3_stage_macs(i, opt, resolution)) for opt in row)
                 for i, row in enumerate(options))
