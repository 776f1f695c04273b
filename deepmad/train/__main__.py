"""``python -m deepmad.train ARGS`` == ``deepmad train ARGS``; also the target of ``torchrun -m``.

Only the training command is imported (not every CLI area). This file is an entry point, not
library code: nothing imports it, and no other module of ``deepmad.train`` imports the CLI
(``tests/test_import_graph.py`` checks both). Example:
    torchrun --nproc_per_node 4 -m deepmad.train --model deepmad_r18 --data cifar10:DIR --out runs/r18
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from deepmad.cli.main import UsageError, one_line_parser
from deepmad.cli.train import Train


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the ``deepmad train`` flags and run; user errors print one line and return 2."""
    command = Train()
    parser = one_line_parser(prog="python -m deepmad.train", description=command.help)
    command.add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{exc} (see --help)", file=sys.stderr)
        return 2
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
