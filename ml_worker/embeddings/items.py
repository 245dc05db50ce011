"""Embedding every item once: windows -> the project's model -> cached per item -> pooled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ml_worker.embeddings.model import EmbeddingModel
from ml_worker.features import FeatureCache, count_windows, window_batch, window_geometry

Pool = Literal["mean", "max", "mean_max"]


def item_window_embeddings(
    model: EmbeddingModel,
    signal: npt.NDArray[np.floating[Any]],
    *,
    batch_size: int = 32,
) -> npt.NDArray[np.float32]:
    """Embeddings of every window of one mono ``signal`` (samples,) float32 at the model's
    sample rate: ``(n_windows, dim)`` float32, windows of ``spec.window_s`` every
    ``spec.hop_s`` seconds, the last zero-padded (an empty signal gives one silent window, so
    every item has an embedding). Reads ``batch_size`` windows at a time (memmap friendly)."""
    spec = model.spec
    window_samples, hop_samples = window_geometry(
        sample_rate_hz=spec.sample_rate_hz, window_s=spec.window_s, hop_s=spec.hop_s_resolved
    )
    x = np.asarray(signal, dtype=np.float32) if not isinstance(signal, np.memmap) else signal
    if x.ndim != 1:
        raise ValueError(f"expected a mono signal (samples,), got shape {x.shape}")
    total = max(
        1, count_windows(x.shape[0], window_samples=window_samples, hop_samples=hop_samples)
    )
    parts = [
        model.embed(
            window_batch(
                x,
                first,
                min(batch_size, total - first),
                window_samples=window_samples,
                hop_samples=hop_samples,
            )
        )
        for first in range(0, total, batch_size)
    ]
    return np.concatenate(parts)


def pool_windows(
    window_embeddings: npt.NDArray[np.floating[Any]], pool: Pool
) -> npt.NDArray[np.float32]:
    """(n_windows, dim) -> (dim,) by ``"mean"`` or ``"max"``, or (2 * dim,) ``"mean_max"``."""
    e = np.asarray(window_embeddings, dtype=np.float32)
    if pool == "mean":
        return np.asarray(e.mean(axis=0), dtype=np.float32)
    if pool == "max":
        return np.asarray(e.max(axis=0), dtype=np.float32)
    if pool == "mean_max":
        return np.concatenate([e.mean(axis=0), e.max(axis=0)])
    raise ValueError(f"pool must be 'mean', 'max' or 'mean_max', got {pool!r}")


def embed_items(
    model: EmbeddingModel,
    items: Sequence[tuple[str, Callable[[], npt.NDArray[np.float32]]]],
    *,
    cache: FeatureCache | None = None,
    pool: Pool = "mean",
    batch_size: int = 32,
) -> npt.NDArray[np.float32]:
    """Pooled embeddings of items: ``(n_items, dim)`` float32 (``2 * dim`` for
    ``"mean_max"``), in the order of ``items``.

    ``items``: ``(content key, load)`` pairs; ``load()`` returns the item's mono signal at
    the model's sample rate and is called only on a cache miss. The key should identify the
    audio content (e.g. its sha256): the per-window embeddings are cached under it in
    ``cache``, whose config key should be ``model.key`` (see ``embedding_cache``), so a new
    model file or windowing never reads old entries.
    """

    def compute(load: Callable[[], npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        return item_window_embeddings(model, load(), batch_size=batch_size)

    pooled = [
        pool_windows(
            compute(load) if cache is None else cache.get_or_compute(key, partial(compute, load)),
            pool,
        )
        for key, load in items
    ]
    width = model.dim * (2 if pool == "mean_max" else 1)
    return np.stack(pooled) if pooled else np.zeros((0, width), dtype=np.float32)


def embedding_cache(root: str, model: EmbeddingModel) -> FeatureCache:
    """A ``FeatureCache`` under ``root`` keyed by the model file's sha256 and windowing."""
    return FeatureCache(root, model.key)
