"""Active-learning scores: uncertainty of predictions and diversity of a selection.

Every uncertainty score is "higher = less sure", so callers can always sort descending.
Single-label inputs are softmax rows (n, n_classes); multi-label inputs are independent
per-class probabilities (n, n_classes), scored per class as binary decisions and then
reduced over classes by ``reduce`` ("mean", "max", or "none" for the (n, n_classes) matrix).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def weighted_kmeans(
    points: npt.NDArray[np.floating[Any]],
    k: int,
    *,
    weights: npt.NDArray[np.floating[Any]] | None = None,
    seed: int = 0,
    restarts: int = 3,
    iterations: int = 50,
) -> tuple[npt.NDArray[np.int64], Scores]:
    """Lloyd's k-means with weighted points and k-means++ starts; the best of ``restarts``
    by weighted inertia. Returns (cluster of each point, centres (k, dim)). Deterministic for a
    seed. Needs 1 <= k <= n and non-negative weights (all zero counts as all equal)."""
    x = np.asarray(points, dtype=np.float64)
    n = x.shape[0]
    if x.ndim != 2 or not 1 <= k <= n:
        raise ValueError(f"need points (n, dim) and 1 <= k <= n, got shape {x.shape} and k={k}")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or (w < 0).any():
        raise ValueError("weights must be (n,) and non-negative")
    if w.sum() <= 0:
        w = np.ones(n)
    rng = np.random.default_rng(seed)
    sq_norms = np.einsum("ij,ij->i", x, x)

    def sq_dists(centres: Scores) -> Scores:
        d = sq_norms[:, None] - 2.0 * x @ centres.T + np.einsum("ij,ij->i", centres, centres)
        return np.asarray(np.maximum(d, 0.0), dtype=np.float64)

    best: tuple[float, npt.NDArray[np.int64], Scores] | None = None
    for _ in range(max(restarts, 1)):
        centres = np.empty((k, x.shape[1]))
        centres[0] = x[rng.choice(n, p=w / w.sum())]
        nearest = sq_dists(centres[:1])[:, 0]
        for c in range(1, k):
            mass = w * nearest
            pick = rng.choice(n, p=mass / mass.sum()) if mass.sum() > 0 else int(rng.integers(n))
            centres[c] = x[pick]
            nearest = np.minimum(nearest, sq_dists(centres[c : c + 1])[:, 0])
        assign = np.full(n, -1, dtype=np.int64)
        for _ in range(iterations):
            new = np.asarray(sq_dists(centres).argmin(axis=1), dtype=np.int64)
            if np.array_equal(new, assign):
                break
            assign = new
            for c in range(k):
                members = assign == c
                if w[members].sum() > 0:
                    centres[c] = np.average(x[members], axis=0, weights=w[members])
        inertia = float((w * sq_dists(centres)[np.arange(n), assign]).sum())
        if best is None or inertia < best[0]:
            best = (inertia, assign, centres)
    assert best is not None
    return best[1], best[2]


DIVERSE_DIMS = 16
# Above this many numbers (rows x dim) a tall matrix's components come from its dim x dim
# covariance, read in chunks: an SVD would hold rows x dim doubles several times (100,000
# items of 1,024 numbers: 4.6 GB and 40 s, measured in docs/benchmarks.md).
LEAN_PCA_ABOVE = 20_000_000
_PCA_CHUNK = 8192


def principal_components(
    embeddings: npt.NDArray[np.floating[Any]], dims: int
) -> npt.NDArray[np.float64]:
    """The rows' coordinates on their ``dims`` leading principal components (centred, not
    whitened: distances keep the scale of each component). (n, dim) -> (n, min(dims, n, dim)).
    Each component's sign is arbitrary."""
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"expected embeddings (n, dim), got shape {x.shape}")
    if dims < 1:
        raise ValueError(f"dims must be at least 1, got {dims}")
    if x.shape[0] == 0:
        return np.zeros((0, min(dims, x.shape[1])))
    if x.shape[0] > x.shape[1] and x.size > LEAN_PCA_ABOVE:
        return _tall_principal_components(x, dims)
    x = x.astype(np.float64, copy=False)
    centred = x - x.mean(axis=0)
    u, singular, _ = np.linalg.svd(centred, full_matrices=False)
    keep = min(dims, singular.shape[0])
    return np.asarray(u[:, :keep] * singular[:keep], dtype=np.float64)


def _tall_principal_components(
    x: npt.NDArray[np.floating[Any]], dims: int
) -> npt.NDArray[np.float64]:
    """``principal_components`` of a matrix with more rows than columns, from the covariance
    accumulated over chunks of rows: memory of dim x dim plus one chunk, beside the output."""
    n, dim = x.shape

    def chunks() -> Iterator[npt.NDArray[np.float64]]:
        for start in range(0, n, _PCA_CHUNK):
            yield np.asarray(x[start : start + _PCA_CHUNK], dtype=np.float64)

    mean = sum((block.sum(axis=0) for block in chunks()), np.zeros(dim)) / n
    scatter = np.zeros((dim, dim))
    for block in chunks():
        centred = block - mean  # a new array: a float64 input's chunks are views of it
        scatter += centred.T @ centred
    _, vectors = np.linalg.eigh(scatter)  # eigenvalues ascending
    top = vectors[:, ::-1][:, : min(dims, dim)]
    return np.concatenate([(block - mean) @ top for block in chunks()])


def diverse_batch(
    embeddings: npt.NDArray[np.floating[Any]],
    scores: npt.NDArray[np.floating[Any]],
    k: int,
    *,
    pool_factor: int = 10,
    dims: int | None = DIVERSE_DIMS,
    seed: int = 0,
) -> list[int]:
    """A batch of ``k`` rows to label that are both uncertain and unlike each other (Zhdanov
    2019, "Diverse mini-batch active learning"), in a low-dimensional view of the embeddings:
    every row is projected on the ``dims`` leading principal components of all the rows given
    (``None``: the embeddings as they are); the ``pool_factor * k`` most uncertain rows
    (``scores``: higher = less sure) are clustered into ``k`` groups by k-means weighted by
    uncertainty, and each group gives the row nearest its centre. Returned most uncertain
    first; fewer than ``k`` only when there are fewer rows. Deterministic for a seed.

    The projection keeps k-means from clustering on the many directions of small, noisy
    variance of a large embedding (measured on ESC-10 in ``bench/bench_ml_active.py``)."""
    x = np.asarray(embeddings, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or s.shape != (x.shape[0],):
        raise ValueError(f"need embeddings (n, dim) and scores (n,), got {x.shape}, {s.shape}")
    n = x.shape[0]
    if k <= 0 or n == 0:
        return []
    order = np.lexsort((np.arange(n), -s))  # most uncertain first, ties by row
    pool = order[: max(k, pool_factor * k)]
    if pool.size <= k:
        return [int(i) for i in pool]
    if dims is not None:
        x = principal_components(x, dims)
    assign, centres = weighted_kmeans(x[pool], k, weights=s[pool] - s[pool].min() + 1e-6, seed=seed)
    picks: list[int] = []
    for c in range(k):
        members = np.flatnonzero(assign == c)
        if members.size:
            d = np.einsum("ij,ij->i", x[pool[members]] - centres[c], x[pool[members]] - centres[c])
            picks.append(int(pool[members[int(np.argmin(d))]]))
    # An empty cluster (duplicate points) leaves a gap: fill it with the next most uncertain.
    for row in pool:
        if len(picks) >= k:
            break
        if int(row) not in picks:
            picks.append(int(row))
    return sorted(picks, key=lambda row: (-s[row], row))


def representative_order(
    embeddings: npt.NDArray[np.floating[Any]],
    k: int,
    *,
    dims: int | None = DIVERSE_DIMS,
    seed: int = 0,
) -> list[int]:
    """Every row, in the order to label them when there is no model yet (a cold start): the
    rows are projected on the ``dims`` leading principal components (``None``: as they are)
    and clustered into ``k`` groups by k-means; the first ``k`` rows are the one nearest each
    centre, the next ``k`` the second nearest, and so on round-robin, larger clusters first
    in each round. So the first labels cover the collection's kinds of sound in proportion
    rather than in upload order (the "typical points" idea of Hacohen et al. 2022, TypiClust;
    measured on ESC-10 in ``bench/bench_ml_active.py``). Deterministic for a seed."""
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"expected embeddings (n, dim), got shape {x.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n = x.shape[0]
    if n == 0:
        return []
    # projected before any copy: a large project's embeddings are not doubled in memory
    x = principal_components(x, dims) if dims is not None else x.astype(np.float64)
    assign, centres = weighted_kmeans(x, min(k, n), seed=seed)
    clusters: list[list[int]] = []
    for c in range(centres.shape[0]):
        members = np.flatnonzero(assign == c)
        if members.size:
            d = np.einsum("ij,ij->i", x[members] - centres[c], x[members] - centres[c])
            clusters.append([int(m) for m in members[np.lexsort((members, d))]])
    clusters.sort(key=lambda rows: (-len(rows), rows[0]))
    order: list[int] = []
    for depth in range(max(len(rows) for rows in clusters)):
        order += [rows[depth] for rows in clusters if depth < len(rows)]
    return order
