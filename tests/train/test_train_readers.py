"""Readers on tiny files written here in the real formats, and named-data-set resolution."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepmad.errors import DeepmadError
from deepmad.train.data import epoch_batches, load_dataset, parse_data_arg
from deepmad.train.readers import read_cifar, read_digits, read_idx, read_image_folder, write_idx


def _idx_bytes(array: np.ndarray) -> bytes:
    """IDX by hand (independent of write_idx): magic 0 0 0x08 ndim, big-endian sizes, data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_uint8_plain_and_gzip(tmp_path: Path, compress: bool) -> None:
    images = np.random.default_rng(0).integers(0, 256, (7, 5, 4), dtype=np.uint8)
    raw = _idx_bytes(images)
    path = tmp_path / "imgs"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (7, 5, 4)
    np.testing.assert_array_equal(out, images)


def test_read_idx_other_dtypes_roundtrip(tmp_path: Path) -> None:
    for arr in (np.arange(12, dtype=np.int32).reshape(3, 4) - 5, np.linspace(-1, 1, 6, dtype=np.float32)):
        write_idx(tmp_path / "a", arr, compress=True)
        np.testing.assert_array_equal(read_idx(tmp_path / "a"), arr)


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\0" * 8)
    with pytest.raises(DeepmadError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros((4, 3), np.uint8))[:-2])
    with pytest.raises(DeepmadError, match="needs 12"):
        read_idx(tmp_path / "short")


def _write_cifar_batch(path: Path, rng: np.random.Generator, n: int, label_key: bytes) -> tuple[np.ndarray, list[int]]:
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    with path.open("wb") as f:  # protocol 2, as the original Python-2 cPickle files
        pickle.dump({b"batch_label": b"test", label_key: labels, b"data": data,
                     b"filenames": [b"x.png"] * n}, f, protocol=2)
    return data, labels


def test_read_cifar10_and_100(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    parts = [_write_cifar_batch(root / f"data_batch_{i}", rng, 3, b"labels") for i in range(1, 6)]
    _write_cifar_batch(root / "test_batch", rng, 2, b"labels")
    x, y = read_cifar(tmp_path, "train", 10)  # the parent folder works too
    assert x.shape == (15, 32, 32, 3) and y.tolist() == sum((p[1] for p in parts), [])
    # channel-planar rows: the first 1024 bytes are the red plane
    np.testing.assert_array_equal(x[0, :, :, 0].ravel(), parts[0][0][0, :1024])
    np.testing.assert_array_equal(x[0, :, :, 2].ravel(), parts[0][0][0, 2048:])
    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    _write_cifar_batch(c100 / "train", rng, 4, b"fine_labels")
    _write_cifar_batch(c100 / "test", rng, 2, b"fine_labels")
    assert read_cifar(c100, "test", 100)[0].shape == (2, 32, 32, 3)


def test_read_cifar_refuses_foreign_pickles(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    with (root / "test_batch").open("wb") as f:
        pickle.dump({b"data": Path("x")}, f)  # would import pathlib on load
    with pytest.raises(DeepmadError, match="refusing to load"):
        read_cifar(root, "test", 10)
    with pytest.raises(DeepmadError, match="lacks data_batch_1"):
        read_cifar(root, "train", 10)


def _write_folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (6, 5)) -> None:
    rng = np.random.default_rng(2)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / name / f"{i}.png")


def test_read_image_folder(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"cat": 2, "ant": 3})
    x, y, classes = read_image_folder(tmp_path)
    assert classes == ["ant", "cat"] and y.tolist() == [0, 0, 0, 1, 1]
    assert x.shape == (5, 5, 6, 3) and x.dtype == np.uint8
    first = np.asarray(Image.open(tmp_path / "ant" / "0.png").convert("RGB"))
    np.testing.assert_array_equal(x[0], first)  # PNG is lossless
    assert read_image_folder(tmp_path, size=4)[0].shape == (5, 4, 4, 3)


def test_folder_dataset_with_train_and_val(tmp_path: Path) -> None:
    _write_folder(tmp_path / "train", {"a": 3, "b": 2})
    _write_folder(tmp_path / "val", {"a": 1, "b": 1})
    ds = load_dataset(f"folder:{tmp_path}", size=8)
    assert ds.num_classes == 2 and ds.channels == 3 and ds.image_size == 8
    assert len(ds.train) == 5 and ds.val.labels.tolist() == [0, 1]


def test_read_digits_split() -> None:
    x_tr, y_tr = read_digits("train")
    x_te, y_te = read_digits("test")
    assert x_tr.shape == (1437, 8, 8, 1) and x_te.shape == (360, 8, 8, 1)
    assert x_tr.max() == 255 and set(np.unique(y_te)) == set(range(10))


def test_named_idx_dataset_from_data_dir(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for stem, n in (("train", 12), ("t10k", 4)):
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), True)
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))
    ds = load_dataset("fashion-mnist", data_dir=str(tmp_path))
    assert ds.train.images.shape == (12, 1, 28, 28) and ds.train.images.dtype == torch.uint8
    assert ds.num_classes == 10 and len(ds.val) == 4 and ds.hflip
    assert abs(ds.mean[0] - ds.train.images.double().mean().item() / 255) < 1e-9


def test_missing_named_dataset_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPMAD_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("deepmad.train.data._STANDARD_DIRS", {"cifar10": [str(tmp_path / "nope")]})
    with pytest.raises(DeepmadError, match="cifar10 not found.*cs.toronto.edu"):
        parse_data_arg("cifar10")
    with pytest.raises(DeepmadError, match="unknown"):
        parse_data_arg("imagenet")
    with pytest.raises(DeepmadError, match="does not exist"):
        parse_data_arg(f"folder:{tmp_path / 'absent'}")


def test_epoch_batches_are_the_global_batches_split_over_ranks() -> None:
    single = epoch_batches(50, 8, epoch=3, seed=5)
    r0 = epoch_batches(50, 8, epoch=3, seed=5, rank=0, world_size=2)
    r1 = epoch_batches(50, 8, epoch=3, seed=5, rank=1, world_size=2)
    assert len(single) == len(r0) == len(r1) == 6
    for s, a, b in zip(single, r0, r1):
        assert torch.equal(s[0::2], a) and torch.equal(s[1::2], b)
    assert not torch.equal(torch.cat(single), torch.cat(epoch_batches(50, 8, epoch=4, seed=5)))
    assert torch.equal(torch.cat(single), torch.cat(epoch_batches(50, 8, epoch=3, seed=5)))
