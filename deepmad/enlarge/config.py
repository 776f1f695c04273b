"""Settings of greedy enlarging and of the compound-scaling baseline (frozen dataclasses, no torch).

Every number here is a choice of this reconstruction of Greedy Network Enlarging (Liu et al.,
arXiv 2108.00177; reference note B.3), not a value from the paper, whose search procedure is
unpublished: the band [0.95, 1.0] x C_t, the per-step increments (depth +0/+1/+2, width
x{1, 1.1, 1.2, 1.3}, resolution +0/+16/+32) and the candidate count are B.3's suggestions. The
compound coefficients are EfficientNet's (Tan & Le, ICML 2019, arXiv 1905.11946, Sec. 3.3:
alpha = 1.2, beta = 1.1, gamma = 1.15 with alpha beta^2 gamma^2 ~ 2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from deepmad.errors import DeepmadError

__all__ = ["EnlargeConfig", "CompoundConfig"]


def _check_band(band: tuple[float, float]) -> tuple[float, float]:
    if len(band) != 2 or not 0 < band[0] <= band[1]:
        raise DeepmadError(f"band={band!r} is invalid; expected (low, high) with 0 < low <= high, e.g. (0.95, 1.0)")
    return float(band[0]), float(band[1])


def _check_steps(name: str, steps: tuple[Any, ...], first: float, minimum: float) -> None:
    if not steps or steps[0] != first or any(b <= a for a, b in zip(steps, steps[1:])) or steps[0] < minimum:
        raise DeepmadError(f"{name}={steps!r} is invalid; expected an increasing list starting at {first}")


@dataclass(frozen=True)
class EnlargeConfig:
    """Greedy enlarging settings (reference note B.3, all reconstruction choices)."""

    band: tuple[float, float] = (0.95, 1.0)  # candidates need MACs in [low, high] x C_t
    depth_steps: tuple[int, ...] = (0, 1, 2)  # allowed per-stage depth increments per step
    width_multipliers: tuple[float, ...] = (1.0, 1.1, 1.2, 1.3)  # per-stage width factors per step
    resolution_steps: tuple[int, ...] = (0, 16, 32)  # allowed resolution increments per step
    num_candidates: int = 32  # candidates evaluated per parent and step (0 = all found)
    max_enumerate: int = 20000  # enumerate the whole step grid when it is at most this big
    sample_tries: int = 20  # random-fill draws per wanted candidate when sampling
    top_k: int = 1  # parents kept per step (1 = greedy; >1 = beam of the k best)
    seed: int = 0  # seeds the candidate sampler
    width_quantum: int | None = None  # None -> the family's (4 for S-GhostNet, 8 otherwise)

    def __post_init__(self) -> None:
        object.__setattr__(self, "band", _check_band(tuple(self.band)))
        for name in ("depth_steps", "width_multipliers", "resolution_steps"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_steps("depth_steps", self.depth_steps, 0, 0)
        _check_steps("width_multipliers", self.width_multipliers, 1.0, 1.0)
        _check_steps("resolution_steps", self.resolution_steps, 0, 0)
        for name in ("num_candidates", "max_enumerate", "sample_tries", "top_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "num_candidates" else 1):
                raise DeepmadError(f"{name}={value!r} is invalid; expected an integer >= "
                                   f"{0 if name == 'num_candidates' else 1}")
        if self.width_quantum is not None and self.width_quantum < 1:
            raise DeepmadError(f"width_quantum={self.width_quantum} is invalid; expected >= 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class CompoundConfig:
    """Uniform compound scaling: d = ceil(d0 alpha^phi), w = q(w0 beta^phi), r = round(r0 gamma^phi)."""

    alpha: float = 1.2  # depth coefficient
    beta: float = 1.1  # width coefficient
    gamma: float = 1.15  # resolution coefficient
    band: tuple[float, float] = (0.95, 1.0)  # the scaled net should have MACs in [low, high] x C_t
    resolution_quantum: int = 4  # r is rounded to a multiple of this
    fill: bool = True  # below the band: scale all widths, then r, further while MACs <= high x C_t
    width_quantum: int | None = None  # None -> the family's

    def __post_init__(self) -> None:
        object.__setattr__(self, "band", _check_band(tuple(self.band)))
        for name in ("alpha", "beta", "gamma"):
            if getattr(self, name) < 1.0:
                raise DeepmadError(f"{name}={getattr(self, name)} is invalid; expected >= 1")
        if self.alpha == self.beta == self.gamma == 1.0:
            raise DeepmadError("alpha = beta = gamma = 1 cannot enlarge anything; raise at least one")
        if self.resolution_quantum < 1:
            raise DeepmadError(f"resolution_quantum={self.resolution_quantum} is invalid; expected >= 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
