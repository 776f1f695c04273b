"""``RUN_DIR/report.md`` of ``deepmad run``: the figures of the run and its pictures.

Figures: the design's objective, solver status and certified gap, the costs of the design and
of the trained network (torch convention, at the training resolution and class count), the
test accuracy of ``best.pt``, the ONNX check, and the wall time of every step. Pictures: the
design report (``design.png``, drawn by :func:`deepmad.report.draw_design`) and the training
curves (``curves.png``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deepmad.cost import count_network
from deepmad.spec import NetworkSpec, load_spec
from deepmad.utils.io import atomic_write_text
from deepmad.utils.numbers import si

__all__ = ["write_report", "draw_design_png"]


def _n(x: float | None) -> str:
    return "n/a" if x is None else si(x, ".3f")


def draw_design_png(out: Path, design: dict[str, Any], spec: NetworkSpec) -> str:
    """Draw ``out/design.png``; returns the report section's image link."""
    from deepmad.report import draw_design
    from deepmad.solvers.problem import ConstraintValue

    constraints = [ConstraintValue.from_dict(c) for c in design.get("constraints", [])]
    title = f"objective {design['objective']:.3f}; certified gap {_gap(design['solver']['gap'])}"
    draw_design(out / "design.png", spec, name=spec.name or "design", constraints=constraints,
                title=title)
    return "![design report](design.png)"


def _gap(gap: float | None) -> str:
    return "n/a (no bound)" if gap is None else f"{100 * gap:.3f} %"


def _status(solver: dict[str, Any]) -> str:
    """Status and certified gap (the statuses are exact: ``optimal`` only at a zero gap)."""
    return f"status {solver['status']}, certified gap {_gap(solver['gap'])}"


def _stage_table(spec: NetworkSpec) -> list[str]:
    sides = spec.feature_sizes()
    rows = ["| part | block | stride | out | bottleneck | depth | kernel | side |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| stem | conv | {spec.stem.stride} | {spec.stem.out_channels} | | 1 | "
            f"{spec.stem.kernel_size} | {sides[0]} |"]
    for i, st in enumerate(spec.stages):
        rows.append(f"| stage {i + 1} | {st.block} | {st.stride} | {st.out_channels} | "
                    f"{st.bottleneck_channels} | {st.depth} | {st.kernel_size} | {sides[i + 1]} |")
    if spec.final_conv is not None:
        rows.append(f"| final conv | conv | 1 | {spec.final_conv.out_channels} | | 1 | 1 | {sides[-1]} |")
    return rows


def _figures(design: dict[str, Any], trained: NetworkSpec, record: dict[str, Any]) -> list[str]:
    c, solver = design["costs"], design["solver"]
    t = count_network(trained)
    ev, ex = record.get("evaluate", {}), record.get("export", {})
    rows = ["| figure | value |", "| --- | --- |",
            f"| DeepMAD objective (entropy - penalty) | {design['objective']:.3f} "
            f"= {design['entropy']:.3f} - {design['penalty']:.3f} |",
            f"| solver | {solver['name']}, {solver['time_s']:.1f} s: {_status(solver)} |",
            f"| design costs ({c['convention']}, {design['spec']['resolution']} px, "
            f"{design['spec']['head']['num_classes']} classes) | params {_n(c['params'])}, "
            f"MACs {_n(c['macs'])}, activations {_n(c['activations'])}, layers {c['layers']}, "
            f"rho {c['rho']:.4f} |",
            f"| trained network (torch, {trained.resolution} px, {trained.head.num_classes} classes) | "
            f"params {_n(t.params)}, MACs {_n(t.macs)}, activations {_n(t.activations)} |"]
    if ev:
        rows.append(f"| best.pt on the test split ({ev['images']} images) | top-1 {ev['top1']:.2f} %, "
                    f"top-5 {ev['top5']:.2f} %, loss {ev['loss']:.4f} |")
    if ex:
        rows.append(f"| model.onnx | {ex['method']}, opset {ex['opset']}; onnxruntime vs PyTorch max "
                    f"abs logit difference {ex['max_abs_error']:.2e} |")
    return rows


def _times(record: dict[str, Any]) -> list[str]:
    rows = ["| step | wall time (s) |", "| --- | --- |"]
    rows += [f"| {name} | {sec:.1f} |" for name, sec in record["seconds"].items()]
    rows.append(f"| total | {sum(record['seconds'].values()):.1f} |")
    return rows


def _epochs(out: Path) -> list[str]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = ["| epoch | train loss | val loss | val top-1 (%) | epoch time (s) |",
            "| --- | --- | --- | --- | --- |"]
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows.append(f"| {r['epoch']} | {r['train_loss']:.4f} | {r['val_loss']:.4f} | "
                    f"{r['val_top1']:.2f} | {r['epoch_time_s']:.1f} |")
    return rows


def write_report(out: Path, record: dict[str, Any], dataset: Any) -> Path:
    """Write ``out/report.md`` (and ``design.png`` where possible); returns its path."""
    from deepmad.train.checkpoint import load_checkpoint
    from deepmad.train.plot import plot_run

    design = json.loads((out / "design.json").read_text(encoding="utf-8"))
    spec = load_spec(out / "design.json")
    trained = NetworkSpec.from_dict(load_checkpoint(out / "best.pt")["model_spec"])
    if not (out / "curves.png").is_file():
        plot_run(out)
    flags = record["flags"]
    lines = [f"# deepmad run: {out.name}", "",
             f"Data `{flags['data']}`: {len(dataset.train)} training and {len(dataset.val)} test "
             f"images, {dataset.num_classes} classes, trained at {trained.resolution} px for "
             f"{flags['epochs']} epochs. Files: `design.json`, `best.pt`, `last.pt`, "
             f"`metrics.jsonl`, `eval.json`, `model.onnx`, `run.json`.", "",
             "## Figures", "", *_figures(design, trained, record), "",
             "## Time per step", "", *_times(record), "",
             "## Design", "", *_stage_table(spec), "", draw_design_png(out, design, spec), "",
             "## Training", "", *_epochs(out), "", "![training curves](curves.png)", ""]
    return atomic_write_text(out / "report.md", "\n".join(lines))
