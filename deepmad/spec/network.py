"""``NetworkSpec``: stem + stages + optional final conv + classifier head (pure data, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from deepmad.errors import SpecError
from deepmad.spec.blocks import ConvBNAct, ResNetStem, StageSpec

__all__ = ["HeadSpec", "NetworkSpec", "StemSpec", "conv_out_size"]

StemSpec = ConvBNAct | ResNetStem


def conv_out_size(size: int, kernel_size: int, stride: int) -> int:
    """Output side of a conv/pool with padding ``(k-1)//2``: ``(size + 2p - k)//s + 1``."""
    pad = (kernel_size - 1) // 2
    return (size + 2 * pad - kernel_size) // stride + 1


@dataclass(frozen=True)
class HeadSpec:
    """Global average pool -> (dropout) -> linear classifier with bias."""

    num_classes: int = 1000  # classifier outputs; 0 means no classifier (features only)
    dropout: float = 0.0  # dropout rate before the linear layer

    def __post_init__(self) -> None:
        if not isinstance(self.num_classes, int) or isinstance(self.num_classes, bool) or self.num_classes < 0:
            raise SpecError(f"HeadSpec.num_classes={self.num_classes!r} is invalid; expected an integer >= 0")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise SpecError(f"HeadSpec.dropout={self.dropout!r} is invalid; expected 0 <= dropout < 1")


@dataclass(frozen=True)
class NetworkSpec:
    """A complete CNN: the single source of truth for cost, scores and the builder.

    Input channels of every stage are derived from the previous stage (never stored twice).
    """

    stem: StemSpec  # first conv (or torchvision ResNet stem)
    stages: tuple[StageSpec, ...]  # body, in order
    final_conv: ConvBNAct | None = None  # optional conv after the last stage (mobile nets: 1x1)
    head: HeadSpec = field(default_factory=HeadSpec)  # classifier
    resolution: int = 224  # input side r (square images)
    in_channels: int = 3  # image channels
    name: str = ""  # optional display name

    def __post_init__(self) -> None:
        if not isinstance(self.stem, ConvBNAct | ResNetStem):
            raise SpecError(f"NetworkSpec.stem={self.stem!r} is invalid; expected ConvBNAct or ResNetStem")
        if isinstance(self.stages, list):
            object.__setattr__(self, "stages", tuple(self.stages))
        if not self.stages:
            raise SpecError("NetworkSpec.stages=() is invalid; expected at least one stage")
        for i, st in enumerate(self.stages):
            if not isinstance(st, StageSpec):
                raise SpecError(f"NetworkSpec.stages[{i}]={st!r} is invalid; expected a StageSpec")
        for name in ("resolution", "in_channels"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise SpecError(f"NetworkSpec.{name}={v!r} is invalid; expected a positive integer")
        if isinstance(self.stem, ConvBNAct) and self.in_channels % self.stem.groups:
            raise SpecError(
                f"stem groups={self.stem.groups} does not divide in_channels={self.in_channels}"
            )
        if self.final_conv is not None and self.stage_in_channels(len(self.stages)) % self.final_conv.groups:
            raise SpecError(
                f"final_conv.groups={self.final_conv.groups} does not divide its input "
                f"channels {self.stage_in_channels(len(self.stages))}"
            )

    # --- derived structure -------------------------------------------------------------
    def stage_in_channels(self, index: int) -> int:
        """Input channels of stage ``index`` (``len(stages)`` gives the final conv's input)."""
        return self.stem.out_channels if index == 0 else self.stages[index - 1].out_channels

    @property
    def num_features(self) -> int:
        """Channels entering the classifier."""
        if self.final_conv is not None:
            return self.final_conv.out_channels
        return self.stages[-1].out_channels

    @property
    def depths(self) -> tuple[int, ...]:
        """Per-stage depths L."""
        return tuple(s.depth for s in self.stages)

    @property
    def widths(self) -> tuple[int, ...]:
        """Per-stage output channels c."""
        return tuple(s.out_channels for s in self.stages)

    def feature_sizes(self, resolution: int | None = None) -> tuple[int, ...]:
        """Spatial side after the stem and after each stage (true integer sizes)."""
        r = self.resolution if resolution is None else resolution
        if isinstance(self.stem, ResNetStem):
            r = conv_out_size(conv_out_size(r, self.stem.kernel_size, 2), 3, 2)
        else:
            r = conv_out_size(r, self.stem.kernel_size, self.stem.stride)
        sizes = [r]
        for st in self.stages:
            r = conv_out_size(r, st.kernel_size, st.stride)
            sizes.append(r)
        return tuple(sizes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict with a schema version (see :mod:`deepmad.spec.serialize`)."""
        from deepmad.spec.serialize import spec_to_dict

        return spec_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkSpec:
        """Inverse of :meth:`to_dict`; unknown keys are rejected."""
        from deepmad.spec.serialize import spec_from_dict

        return spec_from_dict(data)

    def replace(self, **changes: Any) -> NetworkSpec:
        """Return a copy with fields replaced (``dataclasses.replace``)."""
        return replace(self, **changes)

    def with_stage(self, index: int, **changes: Any) -> NetworkSpec:
        """Return a copy with stage ``index`` replaced by ``replace(stage, **changes)``."""
        stages = list(self.stages)
        stages[index] = replace(stages[index], **changes)
        return replace(self, stages=tuple(stages))
