"""Named data sets on local disk, held in memory as uint8 tensors, and the per-epoch batch order.

``--data`` takes ``digits``, ``fashion-mnist``, ``mnist``, ``cifar10``, ``cifar100`` (each
optionally ``NAME:DIR``), ``idx:DIR`` or ``folder:DIR``. Named sets are looked up in ``--data-dir``,
then ``$DEEPMAD_DATA_DIR/<name>``, then a standard location (Debian's ``dataset-fashion-mnist``
package installs ``/usr/share/datasets/fashion-mnist``). Nothing is ever downloaded; a missing
set raises an error that says how to get the files.

The batch order of an epoch comes from :class:`torch.utils.data.DistributedSampler` seeded with
``(seed, epoch)``, so it is the same on every run, every resume and every world size: the global
batch ``j`` is always samples ``perm[j*B:(j+1)*B]`` of that epoch's permutation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from deepmad.errors import DeepmadError
from deepmad.train import readers

__all__ = ["ImageSet", "Dataset", "load_dataset", "parse_data_arg", "epoch_batches", "steps_per_epoch"]

_STANDARD_DIRS = {
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],
    "mnist": ["/usr/share/datasets/mnist"],
    "cifar10": ["/usr/share/datasets/cifar10", "/usr/share/datasets/cifar-10-batches-py"],
    "cifar100": ["/usr/share/datasets/cifar100", "/usr/share/datasets/cifar-100-python"],
}
_HOW_TO_GET = {
    "fashion-mnist": "install Debian's package (sudo apt-get install dataset-fashion-mnist) or put the "
                     "four *-idx?-ubyte[.gz] files from github.com/zalandoresearch/fashion-mnist in a "
                     "folder and pass --data-dir DIR",
    "mnist": "put the four MNIST *-idx?-ubyte[.gz] files in a folder and pass --data-dir DIR",
    "cifar10": "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, "
               "extract it and pass --data cifar10:DIR",
    "cifar100": "download cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, "
                "extract it and pass --data cifar100:DIR",
}
_NUM_CLASSES = {"digits": 10, "fashion-mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100}
KINDS = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100", "idx", "folder")


@dataclass(frozen=True)
class ImageSet:
    """One split in memory."""

    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class Dataset:
    """A training and an evaluation split plus what the transforms need to know."""

    name: str  # the --data value
    train: ImageSet
    val: ImageSet
    num_classes: int
    mean: tuple[float, ...]  # per-channel mean of the training images, in [0, 1]
    std: tuple[float, ...]  # per-channel standard deviation, in [0, 1]
    hflip: bool  # whether random horizontal flips suit these images

    @property
    def channels(self) -> int:
        """Image channels C."""
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        """Stored image side (images are square)."""
        return int(self.train.images.shape[-1])


def parse_data_arg(data: str, data_dir: str | None = None) -> tuple[str, Path | None]:
    """Split ``NAME[:DIR]`` into the kind and its folder (``None`` for digits)."""
    kind, _, path = data.partition(":")
    if kind not in KINDS:
        raise DeepmadError(f"data={data!r} is unknown; expected one of {', '.join(KINDS)} (NAME[:DIR])")
    if path and data_dir and Path(path) != Path(data_dir):
        raise DeepmadError(f"data={data!r} and data_dir={data_dir!r} name different folders; give one")
    folder = path or data_dir
    if kind == "digits":
        return kind, None
    if kind in ("idx", "folder") and not folder:
        raise DeepmadError(f"data={kind!r} needs a folder: {kind}:DIR")
    if folder:
        if not Path(folder).is_dir():
            raise DeepmadError(f"data folder {folder!r} for {kind} does not exist")
        return kind, Path(folder)
    candidates = []
    if os.environ.get("DEEPMAD_DATA_DIR"):
        candidates.append(Path(os.environ["DEEPMAD_DATA_DIR"]) / kind)
    candidates += [Path(p) for p in _STANDARD_DIRS[kind]]
    for c in candidates:
        if c.is_dir():
            return kind, c
    raise DeepmadError(f"{kind} not found in {', '.join(map(str, candidates))}; {_HOW_TO_GET[kind]}")


def _find_idx(folder: Path, stem: str) -> Path:
    prefix, _, kind = stem.partition("-")  # "train-images" -> train, images
    names = [f"{stem}-idx{'3' if kind == 'images' else '1'}-ubyte", f"{prefix}-{kind}.idx{'3' if kind == 'images' else '1'}-ubyte"]
    for name in names:
        for suffix in ("", ".gz"):
            if (folder / (name + suffix)).is_file():
                return folder / (name + suffix)
    raise DeepmadError(f"IDX folder {folder} lacks {names[0]}[.gz]")


def _read_split(kind: str, folder: Path | None, split: str, size: int | None,
                classes: list[str] | None) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    if kind == "digits":
        return *readers.read_digits(split), None
    if kind in ("fashion-mnist", "mnist", "idx"):
        stem = "train" if split == "train" else "t10k"
        x = readers.read_idx(_find_idx(folder, f"{stem}-images"))
        y = readers.read_idx(_find_idx(folder, f"{stem}-labels")).astype(np.int64)
        return (x[..., None] if x.ndim == 3 else x), y, None
    if kind in ("cifar10", "cifar100"):
        return *readers.read_cifar(folder, split, 10 if kind == "cifar10" else 100), None
    sub = _split_folder(folder, split)
    return readers.read_image_folder(sub, size=size, classes=classes)


def _split_folder(root: Path, split: str) -> Path:
    names = ["train"] if split == "train" else ["val", "test", "validation"]
    for n in names:
        if (root / n).is_dir():
            return root / n
    raise DeepmadError(f"image folder {root} needs sub-folders train/ and val/ (or test/), each with one folder per class")


def _to_set(x: np.ndarray, y: np.ndarray, limit: int) -> ImageSet:
    if limit:
        x, y = x[:limit], y[:limit]
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return ImageSet(images=images, labels=torch.from_numpy(np.ascontiguousarray(y)))


def load_dataset(data: str, data_dir: str | None = None, size: int | None = None,
                 train_subset: int = 0, val_subset: int = 0) -> Dataset:
    """Load both splits of ``data`` into memory.

    Args:
        data: the ``--data`` value.
        data_dir: the ``--data-dir`` value.
        size: side to which folder images are resized when decoded (other kinds keep theirs).
        train_subset: keep only the first N training images (0 = all).
        val_subset: keep only the first N evaluation images (0 = all).
    """
    kind, folder = parse_data_arg(data, data_dir)
    x_tr, y_tr, classes = _read_split(kind, folder, "train", size, None)
    x_te, y_te, _ = _read_split(kind, folder, "test", size, classes)
    if x_tr.shape[1] != x_tr.shape[2] or x_tr.shape[1:] != x_te.shape[1:]:
        raise DeepmadError(f"{data}: images must be square and alike; got {x_tr.shape[1:]} and {x_te.shape[1:]}")
    num_classes = _NUM_CLASSES.get(kind) or (len(classes) if classes else int(max(y_tr.max(), y_te.max())) + 1)
    pixels = x_tr.reshape(-1, x_tr.shape[-1]).astype(np.float64) / 255.0
    return Dataset(
        name=data,
        train=_to_set(x_tr, y_tr, train_subset),
        val=_to_set(x_te, y_te, val_subset),
        num_classes=num_classes,
        mean=tuple(float(v) for v in pixels.mean(0)),
        std=tuple(float(max(v, 1e-3)) for v in pixels.std(0)),
        hflip=kind not in ("digits", "mnist", "idx"),
    )


def steps_per_epoch(num_samples: int, global_batch: int) -> int:
    """Optimiser steps per epoch; the last incomplete global batch is dropped."""
    return num_samples // global_batch


def epoch_batches(num_samples: int, global_batch: int, epoch: int, seed: int,
                  rank: int = 0, world_size: int = 1) -> list[torch.Tensor]:
    """This rank's sample indices for every step of ``epoch``.

    Rank ``r`` takes every ``world_size``-th element of the permutation (as
    ``DistributedSampler`` does), so its local batch ``j`` is the ``r``-th interleaved share of
    global batch ``j``.
    """
    if global_batch % world_size:
        raise DeepmadError(f"batch_size={global_batch} is not divisible by the {world_size} processes")
    if num_samples < global_batch:
        raise DeepmadError(f"batch_size={global_batch} exceeds the {num_samples} training images")
    sampler = DistributedSampler(range(num_samples), num_replicas=world_size, rank=rank,
                                 shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    local = torch.tensor(list(iter(sampler)), dtype=torch.long)
    b = global_batch // world_size
    return list(local[: steps_per_epoch(num_samples, global_batch) * b].split(b))
