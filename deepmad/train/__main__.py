"""``python -m deepmad.train ARGS`` == ``deepmad train ARGS``; also the target of ``torchrun -m``.

Only the training code is imported (not every CLI area). Example:
    torchrun --nproc_per_node 4 -m deepmad.train --model deepmad_r18 --data cifar10:DIR --out runs/r18
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from deepmad.cli.train import Train


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the ``deepmad train`` flags and run; user errors print one line and return 2."""
    command = Train()
    parser = argparse.ArgumentParser(prog="python -m deepmad.train", description=command.help)
    command.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return command.run(args)
    except KeyboardInterrupt:
        print("deepmad train: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, KeyError) as exc:  # DeepmadError is a ValueError
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"deepmad train: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
