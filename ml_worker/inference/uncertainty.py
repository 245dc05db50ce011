"""Active-learning scores: uncertainty of predictions and diversity of a selection.

Every uncertainty score is "higher = less sure", so callers can always sort descending.
Single-label inputs are softmax rows (n, n_classes); multi-label inputs are independent
per-class probabilities (n, n_classes), scored per class as binary decisions and then
reduced over classes by ``reduce`` ("mean", "max", or "none" for the (n, n_classes) matrix).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Reduce = Literal["mean", "max", "none"]
Scores = npt.NDArray[np.float64]


def _probs(probabilities: npt.NDArray[np.floating[Any]]) -> Scores:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"expected probabilities (n, n_classes), got shape {p.shape}")
    return np.clip(p, 0.0, 1.0)


def _reduce(per_class: Scores, reduce: Reduce) -> Scores:
    if reduce == "none":
        return per_class
    if reduce == "max":
        return np.asarray(per_class.max(axis=1, initial=0.0), dtype=np.float64)
    if reduce == "mean":
        if not per_class.shape[1]:
            return np.zeros(per_class.shape[0])
        return np.asarray(per_class.mean(axis=1), dtype=np.float64)
    raise ValueError(f"reduce must be 'mean', 'max' or 'none', got {reduce!r}")


def _plogp(p: Scores) -> Scores:
    """Elementwise p * ln(p), with 0 * ln(0) = 0."""
    out = np.zeros_like(p)
    np.multiply(p, np.log(p, out=np.zeros_like(p), where=p > 0), out=out, where=p > 0)
    return out


def least_confidence(
    probabilities: npt.NDArray[np.floating[Any]],
    *,
    multi_label: bool = False,
    reduce: Reduce = "mean",
) -> Scores:
    """Single-label: ``1 - max_c p[i, c]`` -> (n,) in [0, 1 - 1/n_classes].
    Multi-label: per class ``1 - max(p, 1 - p)`` in [0, 0.5], then ``reduce``."""
    p = _probs(probabilities)
    if multi_label:
        return _reduce(1.0 - np.maximum(p, 1.0 - p), reduce)
    return np.asarray(1.0 - p.max(axis=1), dtype=np.float64)


def margin(
    probabilities: npt.NDArray[np.floating[Any]],
    *,
    multi_label: bool = False,
    reduce: Reduce = "mean",
) -> Scores:
    """Single-label: ``1 - (p_first - p_second)`` (the two largest per row) -> (n,) in [0, 1]
    (needs n_classes >= 2). Multi-label: per class ``1 - |p - (1 - p)| = 1 - |2p - 1|`` in
    [0, 1], then ``reduce``."""
    p = _probs(probabilities)
    if multi_label:
        return _reduce(1.0 - np.abs(2.0 * p - 1.0), reduce)
    if p.shape[1] < 2:
        raise ValueError("single-label margin needs at least two classes")
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return np.asarray(1.0 - (top2[:, 1] - top2[:, 0]), dtype=np.float64)


def entropy(
    probabilities: npt.NDArray[np.floating[Any]],
    *,
    multi_label: bool = False,
    reduce: Reduce = "mean",
    normalize: bool = False,
) -> Scores:
    """Shannon entropy in nats. Single-label: ``-sum_c p ln p`` -> (n,) in [0, ln n_classes].
    Multi-label: per class ``-(p ln p + (1 - p) ln(1 - p))`` in [0, ln 2], then ``reduce``.
    ``normalize`` divides by the maximum (ln n_classes, or ln 2) so scores lie in [0, 1]."""
    p = _probs(probabilities)
    if multi_label:
        per_class = -(_plogp(p) + _plogp(1.0 - p))
        if normalize:
            per_class = per_class / np.log(2.0)
        return _reduce(per_class, reduce)
    scores = np.asarray(-_plogp(p).sum(axis=1), dtype=np.float64)
    if normalize and p.shape[1] > 1:
        scores = scores / np.log(p.shape[1])
    return scores


def k_center_greedy(
    embeddings: npt.NDArray[np.floating[Any]],
    k: int,
    *,
    already_selected: Sequence[int] = (),
) -> list[int]:
    """Greedy k-center (Sener & Savarese 2018) for a diverse batch to label.

    ``embeddings`` (n, dim) float; picks ``min(k, n - len(already_selected))`` new row
    indices, each the point farthest (Euclidean) from everything selected so far, in pick
    order. With nothing already selected, the first pick is the point nearest the centroid.
    Ties go to the lowest index; deterministic. O(n * (k + len(already_selected))) time,
    O(n) extra memory.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected embeddings (n, dim), got shape {x.shape}")
    n = x.shape[0]
    chosen = {int(i) for i in already_selected}
    if any(not 0 <= i < n for i in chosen):
        raise ValueError("already_selected holds an index out of range")
    budget = min(max(k, 0), n - len(chosen))
    if budget == 0:
        return []

    def sq_dist(row: int) -> Scores:
        diff = x - x[row]
        return np.asarray(np.einsum("ij,ij->i", diff, diff), dtype=np.float64)

    min_dist = np.full(n, np.inf)
    for index in chosen:
        min_dist = np.minimum(min_dist, sq_dist(index))
    picks: list[int] = []
    if not chosen:
        centre = x.mean(axis=0)
        diff = x - centre
        first = int(np.argmin(np.einsum("ij,ij->i", diff, diff)))
        picks.append(first)
        min_dist = sq_dist(first)
    taken = np.zeros(n, dtype=bool)
    taken[list(chosen | set(picks))] = True
    while len(picks) < budget:
        candidate = np.where(taken, -1.0, min_dist)
        nxt = int(np.argmax(candidate))
        picks.append(nxt)
        taken[nxt] = True
        min_dist = np.minimum(min_dist, sq_dist(nxt))
    return picks
