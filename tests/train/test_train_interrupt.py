"""A second Ctrl-C while a checkpoint is written: exit 130, no traceback, no temp file, old last.pt intact."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from train_helpers import subprocess_env

from deepmad.train.checkpoint import load_checkpoint

# torch.save of the third checkpoint gets two SIGINTs after its first bytes: the first asks for
# a graceful stop, the second raises KeyboardInterrupt inside torch's zip writer.
SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    from deepmad.cli.main import main

    real_save, calls = torch.save, [0]

    class Interrupting:
        def __init__(self, f):
            self.f, self.writes = f, 0
        def write(self, b):
            self.writes += 1
            if self.writes == 2:
                for _ in range(2):
                    os.kill(os.getpid(), signal.SIGINT)
                    for _ in range(1000):  # let the Python-level handler run
                        pass
            return self.f.write(b)
        def flush(self):
            return self.f.flush()

    def save(obj, f, *args, **kwargs):
        calls[0] += 1
        return real_save(obj, Interrupting(f) if calls[0] == 3 else f, *args, **kwargs)

    torch.save = save
    sys.exit(main(sys.argv[1:]))
""")


def test_second_ctrl_c_during_checkpoint_write(tiny_spec_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "--model", str(tiny_spec_path), "--data", "digits", "--device", "cpu", "--no-progress",
            "--epochs", "1", "--batch-size", "64", "--checkpoint-every", "1", "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *argv], env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "interrupted" in proc.stderr
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temp file left
    assert load_checkpoint(out / "last.pt")["state"]["global_step"] == 2  # the previous one survives
