"""Vectorised image augmentation on whole batches, on the training device (no torchvision).

Training images get the CIFAR recipe of He et al. ("Deep Residual Learning for Image
Recognition", CVPR 2016, arXiv 1512.03385, Sec. 4.2): a random crop after zero padding, a random
horizontal flip, then a bilinear resize to the model's resolution and per-channel
normalisation. Evaluation images are only resized and normalised.

The random numbers of a step come from a generator seeded with ``(seed, epoch, step)`` and are
drawn for the whole *global* batch; each process takes its interleaved share. So a sample gets
the same crop and flip whatever the number of processes, and a resumed run needs no saved state
to redo a step exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deepmad.errors import DeepmadError

__all__ = ["AugmentParams", "BatchTransform", "sample_params", "random_crop", "random_flip", "step_seed"]


def step_seed(*parts: int) -> int:
    """A 63-bit seed mixing ``parts`` (e.g. seed, epoch, step) through BLAKE2b."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


@dataclass(frozen=True)
class AugmentParams:
    """Per-sample random choices of one local batch."""

    offset_y: torch.Tensor  # int64 (B,), crop top in [0, 2p]
    offset_x: torch.Tensor  # int64 (B,), crop left in [0, 2p]
    flip: torch.Tensor  # bool (B,)


def sample_params(global_batch: int, padding: int, hflip: bool, seed: int,
                  rank: int = 0, world_size: int = 1) -> AugmentParams:
    """Draw crop offsets and flips for ``global_batch`` samples and keep this rank's share."""
    g = torch.Generator().manual_seed(seed)
    oy = torch.randint(0, 2 * padding + 1, (global_batch,), generator=g)
    ox = torch.randint(0, 2 * padding + 1, (global_batch,), generator=g)
    flip = torch.rand(global_batch, generator=g) < 0.5
    if not hflip:
        flip = torch.zeros_like(flip)
    return AugmentParams(oy[rank::world_size], ox[rank::world_size], flip[rank::world_size])


def random_crop(x: torch.Tensor, offset_y: torch.Tensor, offset_x: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad ``x`` (B, C, H, W) by ``padding`` and cut an H x W window at per-sample offsets."""
    if padding == 0:
        return x
    b, _, h, w = x.shape
    xp = F.pad(x, (padding, padding, padding, padding))
    rows = offset_y.to(x.device)[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offset_x.to(x.device)[:, None] + torch.arange(w, device=x.device)  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = xp[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the samples of ``x`` (B, C, H, W) where ``flip`` is true."""
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)


class BatchTransform:
    """uint8 batch -> normalised float batch at the model's resolution and channel count.

    Args:
        mean: per-channel mean in [0, 1] of the source images.
        std: per-channel standard deviation in [0, 1].
        size: output side (the model's resolution).
        out_channels: channels the model expects; grey images are repeated to 3 channels.
        channels_last: return NHWC-strided tensors.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], size: int,
                 out_channels: int, channels_last: bool = False) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.size = size
        self.out_channels = out_channels
        self.channels_last = channels_last

    def __call__(self, images: torch.Tensor, params: AugmentParams | None = None,
                 padding: int = 0) -> torch.Tensor:
        """Transform ``images`` (B, C, H, W) uint8; augment when ``params`` is given."""
        x = images
        if params is not None:
            x = random_flip(random_crop(x, params.offset_y, params.offset_x, padding), params.flip)
        x = x.float().div_(255.0)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            down = x.shape[-1] > self.size
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=down)
        x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        if x.shape[1] == 1 and self.out_channels != 1:
            x = x.expand(-1, self.out_channels, -1, -1)
        if x.shape[1] != self.out_channels:
            raise DeepmadError(f"images have {x.shape[1]} channels but the model expects {self.out_channels}")
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        return x.contiguous(memory_format=memory_format)
