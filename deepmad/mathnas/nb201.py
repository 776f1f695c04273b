"""The NAS-Bench-201 cell space as a MathNAS space (no torch).

NAS-Bench-201 (Dong & Yang, ICLR 2020, arXiv 2001.00326): one cell with 4 nodes and 6 edges,
each edge one of 5 ops, repeated in 3 stages of 5 cells (C = 16, 32, 64) with two residual
reduction blocks; 5^6 = 15,625 cells. MathNAS (arXiv 2311.04943, App. B.5) treats the 6 edges
as the block nodes, an edge change being applied to every cell at once.

Architecture strings group the edges by target node::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|      edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3

Option order is the MathNAS table order: none, skip_connect, nor_conv_1x1, nor_conv_3x3,
avg_pool_3x3. FLOPs follow the NAS-Bench-201 metadata convention (its counter, in FLOPs,
1 multiply-add = 1): a ReLU-conv-BN op of kernel k on C channels at side H costs
``H^2 C^2 k^2 + 3 H^2 C`` per cell, an average pool ``9 H^2 C``; the fixed part (stem,
reductions, head) is the constant below. This reproduces the ``flops`` field of every
architecture of NASLib's NAS-Bench-201 subset exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from deepmad.errors import DeepmadError
from deepmad.mathnas.space import Arch, Space

__all__ = [
    "NB201_DATASETS",
    "NB201_EDGES",
    "NB201_OPS",
    "arch_from_naslib_key",
    "format_arch",
    "nb201_space",
    "op_flops",
    "parse_arch",
]

NB201_EDGES: tuple[str, ...] = ("0->1", "0->2", "1->2", "0->3", "1->3", "2->3")
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (input side, classes) per dataset; CIFAR at 32x32, ImageNet16-120 at 16x16.
NB201_DATASETS: dict[str, tuple[int, int]] = {
    "cifar10": (32, 10), "cifar100": (32, 100), "ImageNet16-120": (16, 120),
}
# FLOPs outside the 6 searched edges (stem, 2 reduction blocks, final BN, pool, classifier),
# without the classifier's 64 * classes; fitted exactly on NASLib's 491-architecture subset.
_FIXED_FLOPS = {32: 7_943_232, 16: 1_986_112}
_CELLS_PER_STAGE = 5
_STAGE_CHANNELS = (16, 32, 64)
# NASLib op index -> NAS-Bench-201 op name (naslib/search_spaces/nasbench201/conversions.py).
_NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
_NASLIB_TO_STRING_ORDER = (0, 1, 3, 2, 4, 5)
_ARCH_RE = re.compile(r"^\|([^|~]+)~0\|\+\|([^|~]+)~0\|([^|~]+)~1\|\+\|([^|~]+)~0\|([^|~]+)~1\|([^|~]+)~2\|$")


def op_flops(op: str, resolution: int) -> int:
    """FLOPs one edge op adds over the 15 cells (NAS-Bench-201 convention, see module doc)."""
    total = 0
    side = resolution
    for c in _STAGE_CHANNELS:
        per_cell = {"nor_conv_1x1": side * side * (c * c + 3 * c),
                    "nor_conv_3x3": side * side * (9 * c * c + 3 * c),
                    "avg_pool_3x3": 9 * side * side * c}.get(op, 0)
        total += _CELLS_PER_STAGE * per_cell
        side //= 2
    return total


def nb201_space(dataset: str = "cifar10") -> Space:
    """The 6-edge x 5-op NAS-Bench-201 space with per-op FLOPs for ``dataset``."""
    if dataset not in NB201_DATASETS:
        raise DeepmadError(f"NAS-Bench-201 dataset {dataset!r} is unknown; allowed: {', '.join(NB201_DATASETS)}")
    resolution, classes = NB201_DATASETS[dataset]
    row = tuple(float(op_flops(op, resolution)) for op in NB201_OPS)
    return Space(
        name="nb201", nodes=NB201_EDGES, options=(NB201_OPS,) * len(NB201_EDGES),
        flops=(row,) * len(NB201_EDGES), flops_base=float(_FIXED_FLOPS[resolution] + 64 * classes),
    )


def parse_arch(text: str) -> Arch:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` -> option indices in :data:`NB201_OPS` order."""
    match = _ARCH_RE.match(text.strip())
    if match is None:
        raise DeepmadError(
            f"{text!r} is not a NAS-Bench-201 architecture string; expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
        )
    ops = match.groups()
    for op in ops:
        if op not in NB201_OPS:
            raise DeepmadError(f"op {op!r} in {text!r} is unknown; allowed: {', '.join(NB201_OPS)}")
    return tuple(NB201_OPS.index(op) for op in ops)


def format_arch(arch: Sequence[int]) -> str:
    """Inverse of :func:`parse_arch`."""
    if len(arch) != 6 or not all(0 <= int(j) < len(NB201_OPS) for j in arch):
        raise DeepmadError(f"{list(arch)!r} is not a NAS-Bench-201 architecture; expected 6 op indices in 0..4")
    o = [NB201_OPS[int(j)] for j in arch]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def arch_from_naslib_key(key: str | Sequence[int]) -> Arch:
    """NASLib op-index tuple ``"(i0, ..., i5)"`` -> architecture in string order (MathNAS ops).

    NASLib orders the edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4) and numbers the ops
    skip, none, conv3x3, conv1x1, avgpool; the string order swaps positions 2 and 3.
    """
    if isinstance(key, str):
        key = [int(v) for v in re.findall(r"-?\d+", key)]
    if len(key) != 6 or not all(0 <= int(v) < 5 for v in key):
        raise DeepmadError(f"NASLib key {key!r} is invalid; expected 6 op indices in 0..4")
    names = [_NASLIB_OPS[int(key[p])] for p in _NASLIB_TO_STRING_ORDER]
    return tuple(NB201_OPS.index(n) for n in names)
