"""Export a network to the formats deployment uses: ONNX and TorchScript.

* **ONNX** goes through PyTorch's own exporter. The default path is the ``torch.export``-based
  one, ``torch.onnx.export(model, args, dynamo=True)`` (PyTorch's default since 2.9; it needs
  ``onnx`` and ``onnxscript``). If it fails, the TorchScript-based exporter
  (``dynamo=False``, deprecated upstream) is used instead and the result says so and why;
  ``exporter="dynamo"`` or ``"torchscript"`` forces one path. The default opset is 18: the
  lowest the dynamo exporter writes natively (below it, it converts and may keep 18) and one
  every ONNX Runtime since 1.14 reads. The opset written is read back from the file.
* **TorchScript** by tracing (``torch.jit.trace``; scripting the spec-built ``Network`` is not
  supported). The traced graph has no batch-dependent shape ops, so it accepts any batch.

A dynamic batch is the ONNX input's dimension 0 (``torch.export.Dim("batch")``, traced with an
example batch of 2); a fixed one is traced at that size. The file is written atomically
(``deepmad.utils.io``) with the spec, resolution and input normalisation as metadata (ONNX
``metadata_props``, TorchScript extra file ``deepmad.json``): the network expects images
normalised with the training mean and std, ``(x - mean) / std``, of shape
``(batch, in_channels, resolution, resolution)``.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepmad.errors import DeepmadError
from deepmad.spec import NetworkSpec, load_spec
from deepmad.utils.io import atomic_write_bytes, why_unwritable

__all__ = [
    "FORMATS", "EXPORTERS", "DEFAULT_OPSET", "EXPORT_EXTRA", "ExportResult", "LoadedModel",
    "parse_batch", "require_packages", "check_output", "load_model", "export_onnx",
    "export_torchscript", "onnx_max_error",
]

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".ts", ".torchscript")}
EXPORTERS = ("auto", "dynamo", "torchscript")
DEFAULT_OPSET = 18
OPSET_RANGE = (7, 23)  # what torch 2.13 accepts; the TorchScript-based path stops at 20
TORCHSCRIPT_MAX_OPSET = 20
INPUT_NAME, OUTPUT_NAME = "input", "logits"
EXPORT_EXTRA = "pip install deepmad[export]"
_PACKAGES = {"onnx": ("onnx", "onnxscript"), "onnxruntime": ("onnx", "onnxscript", "onnxruntime")}


@dataclass(frozen=True)
class LoadedModel:
    """A network ready to export, and where its weights came from."""

    model: nn.Module  # in eval mode, on the CPU
    spec: NetworkSpec  # as built (classes and resolution applied)
    weights: str  # e.g. "runs/x/best.pt[model] (source ema, epoch 5)" or "random initialisation"
    mean: tuple[float, ...] | None = None  # input normalisation of the training data, if known
    std: tuple[float, ...] | None = None

    def metadata(self) -> dict[str, str]:
        """String metadata stored in the exported file."""
        data = {"deepmad.spec": json.dumps(self.spec.to_dict()), "deepmad.weights": self.weights,
                "deepmad.resolution": str(self.spec.resolution),
                "deepmad.in_channels": str(self.spec.in_channels),
                "deepmad.num_classes": str(self.spec.head.num_classes)}
        if self.mean is not None and self.std is not None:
            data["deepmad.normalize"] = json.dumps({"mean": list(self.mean), "std": list(self.std)})
        return data


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how."""

    path: Path
    format: str  # onnx | torchscript
    method: str  # the PyTorch call that produced the file
    opset: int | None  # ONNX opset read back from the file (None for TorchScript)
    batch: int | None  # fixed batch size, or None for a dynamic batch
    input_shape: tuple[int | str, ...]
    seconds: float  # wall time of the export and the write
    size_bytes: int
    fallback: str | None = None  # why the dynamo exporter failed, when the TorchScript one was used
    notes: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """Multi-line summary for the command line."""
        shape = "x".join(str(d) for d in self.input_shape)
        lines = []
        if self.fallback:
            lines.append(f"dynamo exporter failed ({self.fallback}); fell back to the TorchScript-based one")
        batch = "dynamic" if self.batch is None else "fixed"
        if self.format == "onnx":
            lines.append(f"onnx: {self.method}, opset {self.opset}; input {INPUT_NAME!r} {shape} "
                         f"({batch} batch), output {OUTPUT_NAME!r}")
        else:
            lines.append(f"torchscript: {self.method}; input {shape} ({batch} batch)")
        lines.extend(self.notes)
        lines.append(f"wrote {self.path} ({self.size_bytes / 1e6:.1f} MB) in {self.seconds:.1f} s")
        return "\n".join(lines)


def parse_batch(text: str | int | None) -> int | None:
    """``"dynamic"`` (or None) -> None; ``"N"`` -> N >= 1."""
    if text is None or text == "dynamic":
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise DeepmadError(f"--batch {text!r} is invalid; expected 'dynamic' or an integer >= 1")
    return value


def require_packages(what: str = "onnx") -> None:
    """Raise a one-line error naming the ``[export]`` extra if ONNX packages are missing."""
    missing = []
    for name in _PACKAGES[what]:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        need = " and ".join(_PACKAGES[what])
        raise DeepmadError(f"ONNX export needs {need} (missing: {', '.join(missing)}); "
                           f"install them with: {EXPORT_EXTRA}")


def check_output(path: str | os.PathLike[str], fmt: str | None) -> tuple[Path, str]:
    """Validate ``-o`` before exporting: its suffix fits ``fmt`` (or gives it) and it is writable.

    Returns:
        The path and the format (inferred from the suffix when ``fmt`` is None).
    """
    out = Path(path)
    by_suffix = next((f for f, sufs in SUFFIXES.items() if out.suffix in sufs), None)
    if fmt is None and by_suffix is None:
        raise DeepmadError(f"-o {str(out)!r} has no export suffix; end it in .onnx (ONNX) or "
                           f".pt / .ts (TorchScript), or give --format")
    fmt = fmt or by_suffix
    if fmt not in FORMATS:
        raise DeepmadError(f"--format {fmt!r} is invalid; expected one of {', '.join(FORMATS)}")
    if out.suffix not in SUFFIXES[fmt]:
        raise DeepmadError(f"-o {str(out)!r} does not fit --format {fmt}; expected a name ending in "
                           f"{' / '.join(SUFFIXES[fmt])}")
    why = why_unwritable(out)
    if why:
        raise DeepmadError(f"-o {str(out)!r} is not writable: {why}")
    if out.exists() and not os.access(out, os.W_OK):
        raise DeepmadError(f"-o {str(out)!r} exists and is not writable")
    return out, fmt


def load_model(model: str | os.PathLike[str] | NetworkSpec | None = None,
               checkpoint: str | os.PathLike[str] | None = None, weights: str = "model",
               num_classes: int | None = None, resolution: int | None = None) -> LoadedModel:
    """Build the network to export, with trained weights when ``checkpoint`` is given.

    Args:
        model: preset name, spec / design-result ``.json`` or TinyNAS ``.txt``; default: the spec
            recorded in ``checkpoint`` (deepmad checkpoints record it).
        checkpoint: a deepmad ``best.pt`` / ``last.pt`` or a bare state-dict file.
        weights: the checkpoint key: ``model`` (in ``best.pt`` the better of the raw and EMA
            weights, whose ``source`` key says which) or ``ema`` (the EMA weights of ``last.pt``).
        num_classes, resolution: override the checkpoint's (or else the spec's) values.
    """
    from deepmad.models import build_model
    from deepmad.train.checkpoint import checkpoint_meta, read_torch_file, weights_from
    from deepmad.train.factory import load_state

    obj = read_torch_file(checkpoint) if checkpoint is not None else None  # read once
    meta = checkpoint_meta(obj, checkpoint) if checkpoint is not None else {}
    if model is not None:
        spec = load_spec(model)
    elif meta.get("model_spec"):
        spec = NetworkSpec.from_dict(meta["model_spec"])
    elif checkpoint is not None:
        raise DeepmadError(f"checkpoint {checkpoint} records no network; pass the SPEC or PRESET too")
    else:
        raise DeepmadError("nothing to export: give a SPEC or PRESET, or --checkpoint CKPT")
    data = meta.get("data") or {}
    resolution = resolution or (meta.get("resolved") or {}).get("resolution") or spec.resolution
    num_classes = num_classes or data.get("num_classes") or spec.head.num_classes
    net = build_model(spec, num_classes=num_classes, resolution=resolution)
    source = "random initialisation (no --checkpoint)"
    if checkpoint is not None:
        load_state(net, weights_from(obj, checkpoint, key=weights), checkpoint)
        source = f"{checkpoint}[{weights}]"
        if meta:
            epoch = meta.get("epoch", (meta.get("state") or {}).get("epoch", "?"))
            source += f" (source {meta.get('source', weights)}, epoch {epoch})"
    mean, std = data.get("mean"), data.get("std")
    return LoadedModel(net.eval(), net.spec, source, tuple(mean) if mean else None, tuple(std) if std else None)


def _example(spec: NetworkSpec, batch: int | None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch or 2, spec.in_channels, spec.resolution, spec.resolution, generator=gen)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress lines, deprecation notices and optional-op warnings."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        log.setLevel(level)


def _onnx_dynamo(model: nn.Module, x: torch.Tensor, batch: int | None, opset: int) -> bytes:
    shapes = None if batch is not None else ({0: torch.export.Dim("batch")},)
    program = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset, dynamic_shapes=shapes,
                                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False,
                                external_data=False)
    return program.model_proto.SerializeToString()


def _onnx_torchscript(model: nn.Module, x: torch.Tensor, batch: int | None, opset: int) -> bytes:
    if opset > TORCHSCRIPT_MAX_OPSET:
        raise DeepmadError(f"--opset {opset} is beyond the TorchScript-based exporter's "
                           f"{TORCHSCRIPT_MAX_OPSET}; use --opset <= {TORCHSCRIPT_MAX_OPSET}")
    axes = None if batch is not None else {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=opset, dynamic_axes=axes,
                      input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False)
    return buf.getvalue()


def export_onnx(loaded: LoadedModel, path: str | os.PathLike[str], batch: int | None = None,
                opset: int = DEFAULT_OPSET, exporter: str = "auto") -> ExportResult:
    """Write ``loaded.model`` as ONNX to ``path`` (atomically); see the module docstring."""
    require_packages("onnx")
    import onnx

    if exporter not in EXPORTERS:
        raise DeepmadError(f"--exporter {exporter!r} is invalid; expected one of {', '.join(EXPORTERS)}")
    if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        raise DeepmadError(f"--opset {opset} is invalid; expected {OPSET_RANGE[0]}..{OPSET_RANGE[1]}")
    x, t0, fallback = _example(loaded.spec, batch), time.perf_counter(), None
    with _quiet():
        if exporter == "torchscript":
            proto, method = _checked(_onnx_torchscript(loaded.model, x, batch, opset), opset), _TS_METHOD
        else:
            try:
                proto, method = _checked(_onnx_dynamo(loaded.model, x, batch, opset), opset), _DYNAMO_METHOD
            except Exception as exc:  # any exporter failure: fall back, and say why
                if exporter == "dynamo":
                    raise DeepmadError(f"the dynamo ONNX exporter failed: {_first_line(exc)}") from None
                fallback = _first_line(exc)
                proto, method = _checked(_onnx_torchscript(loaded.model, x, batch, opset), opset), _TS_METHOD
    written = _opset_of(proto)
    onnx.helper.set_model_props(proto, loaded.metadata())
    out = atomic_write_bytes(path, proto.SerializeToString())
    return _result(loaded, out, "onnx", method, written, batch, t0, fallback)


def _opset_of(proto: Any) -> int | None:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def _checked(data: bytes, opset: int) -> Any:
    """The ModelProto of ``data``; an error when it is not at ``opset``.

    Below 18 the dynamo exporter writes 18 and converts down, and keeps 18 when the conversion
    fails (e.g. ReduceMean's axes, an input at 18 and an attribute before), so this is checked.
    """
    import onnx

    proto = onnx.load_from_string(data)
    if _opset_of(proto) != opset:
        raise DeepmadError(f"--opset {opset} could not be produced (the exporter wrote opset "
                           f"{_opset_of(proto)})")
    return proto


_DYNAMO_METHOD = "torch.onnx.export(dynamo=True) (torch.export-based)"
_TS_METHOD = "torch.onnx.export(dynamo=False) (TorchScript-based)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:160]}" if text else type(exc).__name__


def export_torchscript(loaded: LoadedModel, path: str | os.PathLike[str],
                       batch: int | None = None) -> ExportResult:
    """Trace ``loaded.model`` with ``torch.jit.trace`` and save it to ``path`` (atomically)."""
    x, t0 = _example(loaded.spec, batch), time.perf_counter()
    buf = io.BytesIO()
    with torch.no_grad(), _quiet():  # torch 2.13 marks torch.jit deprecated (in favour of torch.export)
        traced = torch.jit.trace(loaded.model, (x,))
        torch.jit.save(traced, buf, _extra_files={"deepmad.json": json.dumps(loaded.metadata())})
    out = atomic_write_bytes(path, buf.getvalue())
    note = (f"traced with a batch of {x.shape[0]}; the traced graph accepts any batch size",)
    return _result(loaded, out, "torchscript", "torch.jit.trace", None, batch, t0, None, note)


def _result(loaded: LoadedModel, out: Path, fmt: str, method: str, opset: int | None,
            batch: int | None, t0: float, fallback: str | None,
            notes: tuple[str, ...] = ()) -> ExportResult:
    s = loaded.spec
    shape = (batch if batch is not None else "batch", s.in_channels, s.resolution, s.resolution)
    return ExportResult(out, fmt, method, opset, batch, shape, time.perf_counter() - t0,
                        out.stat().st_size, fallback, (f"weights: {loaded.weights}", *notes))


def onnx_max_error(path: str | os.PathLike[str], model: nn.Module, x: torch.Tensor) -> float:
    """Largest ``|onnxruntime(x) - model(x)|`` over the logits (CPU execution provider)."""
    require_packages("onnxruntime")
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x.detach().cpu().numpy()})[0]
    with torch.no_grad():
        ref = model.eval()(x.cpu())
    return float((torch.from_numpy(got) - ref).abs().max())
