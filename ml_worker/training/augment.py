"""Augmentations of log-mel batches ``(batch, n_mels, frames)``; every one takes a generator
so that a seeded run is reproducible. They return new tensors on the input's device."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def _band_masks(
    batch: int, size: int, *, n_masks: int, max_width: int, generator: torch.Generator
) -> Tensor:
    """(batch, size) bool: the union of ``n_masks`` bands of width uniform in [0, max_width]."""
    if n_masks <= 0 or max_width <= 0 or size <= 0:
        return torch.zeros(batch, size, dtype=torch.bool)
    widths = torch.randint(0, max_width + 1, (batch, n_masks), generator=generator)
    starts = (torch.rand(batch, n_masks, generator=generator) * (size - widths + 1)).long()
    positions = torch.arange(size)
    inside = (positions >= starts.unsqueeze(-1)) & (positions < (starts + widths).unsqueeze(-1))
    return inside.any(dim=1)


def spec_augment(
    features: Tensor,
    *,
    generator: torch.Generator,
    n_freq_masks: int = 2,
    freq_mask_bins: int = 8,
    n_time_masks: int = 2,
    time_mask_frames: int = 20,
) -> Tensor:
    """SpecAugment masking (Park et al. 2019, without time warping).

    ``features`` (batch, n_mels, frames) float. Per example, ``n_freq_masks`` bands of up to
    ``freq_mask_bins`` mel bins and ``n_time_masks`` bands of up to ``time_mask_frames``
    frames (each width capped at half the axis) are set to that example's mean value.
    ``generator`` is a CPU ``torch.Generator``.
    """
    batch, n_mels, frames = features.shape
    freq = _band_masks(
        batch,
        n_mels,
        n_masks=n_freq_masks,
        max_width=min(freq_mask_bins, n_mels // 2),
        generator=generator,
    )
    time = _band_masks(
        batch,
        frames,
        n_masks=n_time_masks,
        max_width=min(time_mask_frames, frames // 2),
        generator=generator,
    )
    mask = (freq.unsqueeze(2) | time.unsqueeze(1)).to(features.device)
    fill = features.mean(dim=(1, 2), keepdim=True)
    return torch.where(mask, fill, features)


def time_shift(features: Tensor, *, max_frames: int, generator: torch.Generator) -> Tensor:
    """Roll each example circularly in time by a uniform integer in [-max_frames, max_frames].

    ``features`` (batch, n_mels, frames) -> same shape. ``generator``: CPU ``torch.Generator``.
    """
    batch, n_mels, frames = features.shape
    if max_frames <= 0 or frames <= 1:
        return features
    shifts = torch.randint(-max_frames, max_frames + 1, (batch,), generator=generator)
    index = (torch.arange(frames).unsqueeze(0) - shifts.unsqueeze(1)) % frames  # (batch, frames)
    index = index.to(features.device).unsqueeze(1).expand(batch, n_mels, frames)
    return features.gather(2, index)


def random_crop(features: Tensor, *, frames: int, generator: torch.Generator) -> Tensor:
    """A random window of ``frames`` consecutive frames per example (offsets uniform).

    ``features`` (batch, n_mels, total) -> (batch, n_mels, min(frames, total)).
    ``generator``: CPU ``torch.Generator``. Shorter clips are returned unchanged.
    """
    batch, n_mels, total = features.shape
    if frames >= total:
        return features
    offsets = torch.randint(0, total - frames + 1, (batch,), generator=generator)
    index = offsets.unsqueeze(1) + torch.arange(frames).unsqueeze(0)  # (batch, frames)
    index = index.to(features.device).unsqueeze(1).expand(batch, n_mels, frames)
    return features.gather(2, index)


def mixup(
    features: Tensor, targets: Tensor, *, alpha: float, generator: np.random.Generator
) -> tuple[Tensor, Tensor]:
    """Mixup (Zhang et al. 2018) of a batch with a permutation of itself.

    ``features`` (batch, ...) float, ``targets`` (batch, n_classes) float (one-hot or
    multi-hot, or already soft). One ``lam ~ Beta(alpha, alpha)`` per batch, folded to
    ``max(lam, 1 - lam)`` so each example stays the dominant one; returns
    ``lam * a + (1 - lam) * a[perm]`` for both. ``alpha <= 0`` returns the inputs unchanged.
    """
    if alpha <= 0 or features.shape[0] < 2:
        return features, targets
    lam = float(generator.beta(alpha, alpha))
    lam = max(lam, 1.0 - lam)
    perm = torch.from_numpy(generator.permutation(features.shape[0])).to(features.device)
    return (
        lam * features + (1.0 - lam) * features[perm],
        lam * targets + (1.0 - lam) * targets[perm],
    )
