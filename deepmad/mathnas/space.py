"""Modular search spaces: m block nodes, each with n_i alternative blocks (no torch).

MathNAS (Wang et al., "MathNAS: If Blocks Have a Role in Mathematical Architecture Design",
NeurIPS 2023, arXiv 2311.04943), Sec. 3.1: a network is N = (b_{1,J1}, ..., b_{m,Jm}), one
block per node, so a space with n_i options at node i holds prod_i n_i networks. An
architecture is written as the tuple of 0-based option indices (J_1, ..., J_m).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from deepmad.errors import DeepmadError

__all__ = ["Arch", "Space", "check_ragged"]

Arch = tuple[int, ...]


def check_ragged(owner: str, name: str, values: Sequence[Sequence[float]],
                 sizes: Sequence[int]) -> tuple[tuple[float, ...], ...]:
    """Return ``values`` as a tuple of float tuples after checking its nodes x options shape."""
    if len(values) != len(sizes):
        raise DeepmadError(f"{owner}.{name} has {len(values)} rows; expected one per node ({len(sizes)})")
    out = []
    for i, (row, n) in enumerate(zip(values, sizes)):
        if len(row) != n:
            raise DeepmadError(f"{owner}.{name}[{i}] has {len(row)} entries; expected {n} (one per option)")
        floats = tuple(float(v) for v in row)
        if not all(math.isfinite(v) for v in floats):
            raise DeepmadError(f"{owner}.{name}[{i}]={list(row)!r} holds a non-finite value")
        out.append(floats)
    return tuple(out)


@dataclass(frozen=True)
class Space:
    """A MathNAS space: ``nodes`` x ``options`` (ragged), with optional per-block FLOPs.

    Network FLOPs are ``F(N) = flops_base + sum_i flops[i][J_i]`` (the b^F of Eq. 6, plus the
    FLOPs outside the nodes, e.g. stem and head).
    """

    name: str  # display name, e.g. "nb201"
    nodes: tuple[str, ...]  # node names B_1..B_m
    options: tuple[tuple[str, ...], ...]  # option names b_{i,1..n_i} per node
    flops: tuple[tuple[float, ...], ...] | None = None  # b^F_{i,j}; None when unknown
    flops_base: float = 0.0  # FLOPs of the fixed parts of the network

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(str(n) for n in self.nodes))
        object.__setattr__(self, "options", tuple(tuple(str(o) for o in row) for row in self.options))
        if not self.nodes:
            raise DeepmadError("Space.nodes=() is invalid; expected at least one node")
        if len(self.options) != len(self.nodes):
            raise DeepmadError(
                f"Space.options has {len(self.options)} rows for {len(self.nodes)} nodes; expected one per node"
            )
        for i, row in enumerate(self.options):
            if not row:
                raise DeepmadError(f"Space.options[{i}] is empty; every node needs at least one option")
            if len(set(row)) != len(row):
                raise DeepmadError(f"Space.options[{i}]={list(row)!r} repeats a name; option names must be unique")
        if self.flops is not None:
            object.__setattr__(self, "flops", check_ragged("Space", "flops", self.flops, self.sizes))

    @property
    def sizes(self) -> tuple[int, ...]:
        """Options per node, (n_1, ..., n_m)."""
        return tuple(len(row) for row in self.options)

    @property
    def size(self) -> int:
        """Number of networks, prod_i n_i."""
        return math.prod(self.sizes)

    def check_arch(self, arch: Iterable[int]) -> Arch:
        """Validate an architecture (one 0-based option index per node) and return it as a tuple."""
        out = tuple(int(j) for j in arch)
        if len(out) != len(self.nodes):
            raise DeepmadError(f"architecture {list(out)} has {len(out)} entries; expected {len(self.nodes)} (one per node)")
        for i, (j, n) in enumerate(zip(out, self.sizes)):
            if not 0 <= j < n:
                raise DeepmadError(f"architecture {list(out)}: option {j} at node {i} is out of range 0..{n - 1}")
        return out

    def option_index(self, node: int, name: str) -> int:
        """Index of the option called ``name`` at ``node``."""
        try:
            return self.options[node].index(name)
        except ValueError:
            raise DeepmadError(
                f"option {name!r} is not an option of node {self.nodes[node]!r}; allowed: {', '.join(self.options[node])}"
            ) from None

    def network_flops(self, arch: Arch) -> float:
        """F(N) = flops_base + sum_i b^F_{i,J_i}; raises when the space has no FLOPs."""
        if self.flops is None:
            raise DeepmadError(f"space {self.name!r} has no per-block FLOPs")
        return self.flops_base + sum(self.flops[i][j] for i, j in enumerate(arch))

    def average_flops_network(self) -> Arch:
        """Algorithm 1, step 1: per node, the block whose FLOPs are closest to the node's mean.

        Without FLOPs the middle option (index n_i // 2) is used. Ties go to the lower index.
        """
        if self.flops is None:
            return tuple(n // 2 for n in self.sizes)
        arch = []
        for row in self.flops:
            mean = sum(row) / len(row)
            arch.append(min(range(len(row)), key=lambda j, r=row, m=mean: (abs(r[j] - m), j)))
        return tuple(arch)

    def random_archs(self, rng: np.random.Generator, count: int) -> list[Arch]:
        """``count`` independent uniformly random architectures."""
        cols = [rng.integers(0, n, size=count) for n in self.sizes]
        return [tuple(int(c[k]) for c in cols) for k in range(count)]

    def all_archs(self, limit: int = 2_000_000) -> np.ndarray:
        """Every architecture as an int array of shape (prod n_i, m), in lexicographic order."""
        if self.size > limit:
            raise DeepmadError(f"space {self.name!r} has {self.size} networks; enumeration is limited to {limit}")
        grids = np.indices(self.sizes, dtype=np.int32)
        return grids.reshape(len(self.sizes), -1).T.copy()
