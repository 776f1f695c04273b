"""Readers of image-classification files already on disk (numpy and Pillow; no torch, no download).

Formats:
- IDX (LeCun et al., the MNIST database; Fashion-MNIST, Xiao et al., arXiv 1708.07747 uses the
  same files): big-endian header ``0 0 dtype ndim``, ``ndim`` uint32 sizes, then the data; read
  plain or gzip-compressed (detected by the gzip magic bytes, not the file name).
- CIFAR-10/100 "python version" pickles (Krizhevsky, 2009): dicts with ``b"data"`` (N x 3072
  uint8, channel-planar) and ``b"labels"`` / ``b"fine_labels"``, unpickled with an allow-list.
- an image-folder tree, one sub-folder per class (decoded with Pillow).
- scikit-learn's bundled 8x8 digits (Alpaydin & Kaynak, UCI optdigits).

Every reader returns ``(images, labels)``: ``images`` uint8 ``(N, H, W, C)``, ``labels`` int64 ``(N,)``.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
from pathlib import Path

import numpy as np

from deepmad.errors import DeepmadError

__all__ = ["read_idx", "read_cifar", "read_image_folder", "read_digits", "write_idx", "IMAGE_SUFFIXES"]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _read_maybe_gzip(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DeepmadError(f"{path} is a damaged gzip file ({exc})") from None
    return raw


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzip or not) into an array of its stored shape.

    Args:
        path: the ``*-idx3-ubyte`` (images) or ``*-idx1-ubyte`` (labels) file.

    Returns:
        The array, in native byte order.
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DeepmadError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise DeepmadError(
            f"{path} holds {len(data) - offset} data bytes but its header {shape} needs {expected}"
        )
    return np.frombuffer(data, dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, lists and dicts (CIFAR's content)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _load_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = batch[b"labels"] if b"labels" in batch else batch[b"fine_labels"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise DeepmadError(f"{path} is not a CIFAR python batch ({type(exc).__name__}: {exc})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DeepmadError(f"{path} holds data {data.shape} and {len(labels)} labels; expected N x 3072")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def read_cifar(root: str | os.PathLike[str], split: str, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Read CIFAR-10 (``data_batch_1..5``, ``test_batch``) or CIFAR-100 (``train``, ``test``).

    Args:
        root: the extracted ``cifar-10-batches-py`` / ``cifar-100-python`` folder (or its parent).
        split: ``"train"`` or ``"test"``.
        classes: 10 or 100.
    """
    root = Path(root)
    sub = "cifar-10-batches-py" if classes == 10 else "cifar-100-python"
    if (root / sub).is_dir():
        root = root / sub
    if classes == 10:
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    else:
        names = ["train" if split == "train" else "test"]
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise DeepmadError(f"CIFAR-{classes} folder {root} lacks {', '.join(missing)}")
    parts = [_load_cifar_batch(root / n) for n in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _decode(path: Path, size: int | None) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        if size is not None:
            w, h = img.size
            scale = size / min(w, h)
            img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
            w, h = img.size
            left, top = (w - size) // 2, (h - size) // 2
            img = img.crop((left, top, left + size, top + size))
        return np.asarray(img, dtype=np.uint8)


def read_image_folder(root: str | os.PathLike[str], size: int | None = None,
                      classes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode ``root/<class>/<image>`` into memory, classes in sorted folder-name order.

    Args:
        root: folder with one sub-folder per class.
        size: if given, resize the shorter side to ``size`` and centre-crop a square.
        classes: class names to use (e.g. those of the training split); default: the sub-folders.

    Returns:
        ``(images, labels, classes)``.
    """
    root = Path(root)
    if classes is None:
        classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        files += found
        labels += [label] * len(found)
    if not files:
        raise DeepmadError(f"image folder {root} has no images in class sub-folders ({', '.join(IMAGE_SUFFIXES)})")
    arrays = [_decode(p, size) for p in files]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DeepmadError(f"images in {root} have different sizes {sorted(shapes)[:3]}...; give a resolution to resize them to")
    return np.stack(arrays), np.asarray(labels, dtype=np.int64), classes


def read_digits(split: str, test_size: int = 360) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits (grey levels 0..16 scaled to 0..255), split stratified.

    The split is fixed (``random_state=0``): 1,437 training and 360 test images.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, bunch.target.astype(np.int64), test_size=test_size, random_state=0, stratify=bunch.target
    )
    return (x_tr, y_tr) if split == "train" else (x_te, y_te)


def write_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` as an IDX file (used by tests and to export data)."""
    big = ">" + np.dtype(array.dtype).str[1:]
    codes = {v: k for k, v in _IDX_DTYPES.items()}
    if big not in codes:
        raise DeepmadError(f"dtype {array.dtype} cannot be stored in IDX; allowed: {sorted(codes)}")
    code = codes[big]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=big).tobytes()
    buf = io.BytesIO()
    if compress:
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            gz.write(payload)
        payload = buf.getvalue()
    Path(path).write_bytes(payload)
