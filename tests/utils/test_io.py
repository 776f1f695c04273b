"""The atomic writer: file mode like ``open()``, clean errors, Ctrl-C cleanup; ``check_output``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deepmad.errors import DeepmadError
from deepmad.utils.io import atomic_write, atomic_write_text, check_output


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_honours_the_umask(tmp_path: Path, umask_022: None) -> None:
    out = atomic_write_text(tmp_path / "a.json", "{}")
    with open(tmp_path / "plain.json", "w") as f:
        f.write("{}")
    assert _mode(out) == 0o644 == _mode(tmp_path / "plain.json")


def test_other_umask_and_existing_mode_kept(tmp_path: Path) -> None:
    old = os.umask(0o007)
    try:
        assert _mode(atomic_write_text(tmp_path / "b.txt", "x")) == 0o660
    finally:
        os.umask(old)
    target = tmp_path / "c.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert _mode(target) == 0o640 and target.read_text() == "new"


def test_missing_parents_are_created(tmp_path: Path) -> None:
    assert atomic_write_text(tmp_path / "x" / "y" / "z.txt", "hi").read_text() == "hi"


def test_directory_target_names_the_path_not_the_temp_file(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(OSError) as info:
        atomic_write_text(tmp_path / "adir", "x")
    msg = str(info.value)
    assert "it is a directory" in msg and ".tmp" not in msg and "Errno" not in msg
    assert info.value.errno is not None
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_interrupt_inside_writer_removes_temp_and_reraises_keyboardinterrupt(tmp_path: Path) -> None:
    def writer(f):  # what torch.save does: a KeyboardInterrupt turned into a RuntimeError
        f.write(b"partial")
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("[enforce fail at inline_container.cc:672]") from None

    (tmp_path / "last.pt").write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "last.pt", writer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert (tmp_path / "last.pt").read_bytes() == b"previous"


def test_other_writer_errors_propagate_and_clean_up(tmp_path: Path) -> None:
    def writer(f):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        atomic_write(tmp_path / "f.bin", writer)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, suffixes, match", [
    ("adir", (), "cannot write --output .*adir: it is a directory"),
    ("afile/x.json", (), "afile is not a directory"),
    ("out.yaml", (".json",), r"--output 'out.yaml' must end in .json \(got .yaml\)"),
    ("", (), "--output is empty"),
])
def test_check_output_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                              suffixes: tuple[str, ...], match: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    with pytest.raises(DeepmadError, match=match):
        check_output(name, "--output", suffixes)


def test_check_output_accepts_new_nested_path_without_creating_it(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "out.json"
    assert check_output(target, "--output", (".json",)) == target
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_check_output_read_only_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(DeepmadError, match="is not writable"):
            check_output(ro / "x.json")
    finally:
        ro.chmod(0o755)
