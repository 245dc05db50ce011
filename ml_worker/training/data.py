"""Checking a labelled feature set and splitting it into training and held-out parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch


@dataclass(frozen=True)
class LabelledSet:
    """A validated training set: ``features`` (n, n_mels, frames) float32 CPU tensor,
    ``targets`` (n, n_classes) float32 (one-hot or multi-hot), ``class_index`` (n,) int64
    (single-label: the class; multi-label: -1), and the class names."""

    features: torch.Tensor
    targets: torch.Tensor
    class_index: npt.NDArray[np.int64]
    label_names: tuple[str, ...]
    multi_label: bool

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def n_mels(self) -> int:
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def raw_labels(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """Targets of ``rows`` as ``classification_metrics`` wants them."""
        if self.multi_label:
            return self.targets[torch.from_numpy(rows)].numpy()
        return self.class_index[rows]


def labelled_set(
    features: npt.NDArray[np.floating[Any]],
    labels: npt.NDArray[Any],
    *,
    label_names: Sequence[str],
    multi_label: bool,
) -> LabelledSet:
    """Validate and convert. ``features`` (n, n_mels, frames) float; ``labels`` (n,) int class
    indices (single-label) or (n, n_classes) 0/1 (multi-label). Raises ``ValueError``."""
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels)
    names = tuple(str(name) for name in label_names)
    if x.ndim != 3 or x.shape[0] < 2:
        raise ValueError(f"features must be (n >= 2, n_mels, frames), got {x.shape}")
    if len(set(names)) != len(names) or not names:
        raise ValueError("label_names must be non-empty and unique")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinity")
    n, n_classes = x.shape[0], len(names)
    if multi_label:
        if y.shape != (n, n_classes):
            raise ValueError(f"multi-label labels must be ({n}, {n_classes}), got {y.shape}")
        targets = (y > 0.5).astype(np.float32)
        index = np.full(n, -1, dtype=np.int64)
    else:
        if y.shape != (n,):
            raise ValueError(f"single-label labels must be ({n},), got {y.shape}")
        index = y.astype(np.int64)
        if index.min() < 0 or index.max() >= n_classes:
            raise ValueError(f"class indices must lie in [0, {n_classes})")
        targets = np.eye(n_classes, dtype=np.float32)[index]
    return LabelledSet(
        features=torch.from_numpy(np.ascontiguousarray(x)),
        targets=torch.from_numpy(targets),
        class_index=index,
        label_names=names,
        multi_label=multi_label,
    )


def split_indices(
    data: LabelledSet, *, val_fraction: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(train rows, held-out rows), each sorted int64, disjoint, together all rows.

    Single-label: stratified, ``round(val_fraction * n_c)`` clips of each class c held out,
    at least 1 and at most ``n_c - 1`` when ``n_c >= 2`` and ``val_fraction > 0`` (a class
    with one clip trains only). Multi-label: a random ``round(val_fraction * n)`` clips
    (at least 1, at most n - 1). Depends only on the labels, ``val_fraction`` and ``seed``,
    so the CNN and the baseline trained with one config share the held-out rows.
    """
    rng = np.random.default_rng(seed)
    n = len(data)
    if val_fraction <= 0:
        return np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64)
    held: list[npt.NDArray[np.int64]] = []
    if data.multi_label:
        count = min(max(round(val_fraction * n), 1), n - 1)
        held.append(rng.permutation(n)[:count].astype(np.int64))
    else:
        for cls in np.unique(data.class_index):
            rows = np.flatnonzero(data.class_index == cls).astype(np.int64)
            if rows.size < 2:
                continue
            count = min(max(round(val_fraction * rows.size), 1), rows.size - 1)
            held.append(rng.permutation(rows)[:count])
    val = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(n, dtype=np.int64), val)
    return train.astype(np.int64), val.astype(np.int64)
