"""Design reports (no torch): per-stage tables of a spec and matplotlib (Agg) pictures.

:func:`stage_table` is pure data (a spec -> one :class:`StageRow` per part, with its shares of
MACs, params and activations); :func:`draw_design` and :func:`draw_sweep` draw PNGs from such
data. matplotlib is imported only inside the drawing functions.
"""

from __future__ import annotations

from deepmad.report.design_plot import StageRow, draw_design, stage_table
from deepmad.report.sweep_plot import PresetMark, SweepRow, draw_sweep, preset_marks

__all__ = ["PresetMark", "StageRow", "SweepRow", "draw_design", "draw_sweep", "preset_marks", "stage_table"]
