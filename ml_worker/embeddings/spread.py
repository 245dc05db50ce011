"""Label spreading over a project's items: soft labels for the items nobody has labelled yet.

A project's unlabelled items are known (their audio is uploaded, their embeddings are cached),
only their labels are not. With a few labels per class a classifier is better when it also
learns from where the unlabelled items lie: the labels are spread along a graph that links
every item to its nearest neighbours (Zhou et al., "Learning with local and global
consistency", 2004), and the embedding head then trains on the labelled items plus the
unlabelled ones with their spread label, weighted by how sure the spreading is. Once every
item is labelled nothing is spread and the head is what it was without it.

The graph: cosine similarity of the embeddings, the ``neighbours`` most similar items of each
item (negative similarities dropped), made symmetric, normalised ``D^-1/2 W D^-1/2``. The
spreading iterates ``F <- alpha S F + (1 - alpha) Y`` to its limit; each class's column is then
divided by its total (class mass normalisation, so a class with more seed labels does not
swallow its neighbours) and each row by its sum. Single-label only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse

Array = npt.NDArray[np.float32]

# Chosen on ESC-10 among 5 or 10 neighbours, alpha 0.5 or 0.9 and weight 0.3 or 1 (docs/
# benchmarks.md, "Active learning on ESC-10": the highest mean accuracy from 20 to 100 labels).
SPREAD_NEIGHBOURS = 5
SPREAD_ALPHA = 0.9
# How much an unlabelled item's spread label counts against a real label, times its confidence.
PSEUDO_WEIGHT = 0.3
# The graph of a larger project is built on this many unlabelled items drawn at random (with
# the run's seed): its cost grows with the square of the items (10,000 x 1,024 numbers: about
# 10^11 multiply-adds).
SPREAD_MAX_UNLABELLED = 10_000
_CHUNK = 2048


@dataclass(frozen=True)
class SpreadConfig:
    """``weight`` 0 turns spreading off; ``neighbours`` and ``alpha`` shape the graph and how
    far labels travel along it (``0 < alpha < 1``)."""

    neighbours: int = SPREAD_NEIGHBOURS
    alpha: float = SPREAD_ALPHA
    weight: float = PSEUDO_WEIGHT
    max_unlabelled: int = SPREAD_MAX_UNLABELLED
    iterations: int = 200
    tolerance: float = 1e-6

    def __post_init__(self) -> None:
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {self.neighbours}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.weight < 0.0:
            raise ValueError(f"weight must be >= 0, got {self.weight}")
        if self.max_unlabelled < 0:
            raise ValueError(f"max_unlabelled must be >= 0, got {self.max_unlabelled}")


def knn_affinity(
    embeddings: npt.NDArray[np.floating[Any]], neighbours: int
) -> scipy.sparse.csr_matrix:
    """The normalised neighbour graph ``D^-1/2 W D^-1/2`` of ``(n, dim)`` embeddings, sparse
    ``(n, n)``, symmetric, zero diagonal. Rows are compared in chunks, so memory stays at
    ``chunk x n`` similarities."""
    x = np.asarray(embeddings, dtype=np.float32)
    n = x.shape[0]
    if x.ndim != 2 or n < 2:
        raise ValueError(f"need embeddings (n >= 2, dim), got shape {x.shape}")
    k = min(neighbours, n - 1)
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    rows, cols, values = [], [], []
    for start in range(0, n, _CHUNK):
        block = unit[start : start + _CHUNK] @ unit.T
        local = np.arange(block.shape[0])
        block[local, start + local] = -np.inf  # not its own neighbour
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        rows.append(np.repeat(start + local, k))
        cols.append(top.ravel())
        values.append(np.maximum(block[local[:, None], top], 0.0).ravel())
    w = scipy.sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    w = w.maximum(w.T).tocsr()
    w.eliminate_zeros()
    degree = np.asarray(w.sum(axis=1)).ravel()
    scale = 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0))
    diagonal = scipy.sparse.diags(scale)
    return (diagonal @ w @ diagonal).tocsr()


def spread_labels(
    embeddings: npt.NDArray[np.floating[Any]],
    labelled: npt.NDArray[np.integer[Any]],
    targets: npt.NDArray[np.integer[Any]],
    n_classes: int,
    config: SpreadConfig | None = None,
) -> Array:
    """Soft labels ``(n, n_classes)`` for every row of ``embeddings`` given the class index
    ``targets[i]`` of row ``labelled[i]``. Rows sum to 1, or are all 0 where no label reaches
    (an item whose neighbours are all unreachable)."""
    config = config or SpreadConfig()
    labelled = np.asarray(labelled, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    n = len(embeddings)
    if labelled.shape != targets.shape or labelled.ndim != 1:
        raise ValueError("labelled and targets must be 1-D and the same length")
    if labelled.size and (labelled.min() < 0 or labelled.max() >= n):
        raise ValueError(f"labelled rows must be within 0..{n - 1}")
    if targets.size and (targets.min() < 0 or targets.max() >= n_classes):
        raise ValueError(f"targets must be class indices within 0..{n_classes - 1}")
    seed = np.zeros((n, n_classes), dtype=np.float64)
    seed[labelled, targets] = 1.0
    if n < 2 or not labelled.size:
        return seed.astype(np.float32)
    graph = knn_affinity(embeddings, config.neighbours)
    spread = seed.copy()
    for _ in range(config.iterations):
        following = config.alpha * (graph @ spread) + (1.0 - config.alpha) * seed
        change = float(np.abs(following - spread).max())
        spread = following
        if change < config.tolerance:
            break
    mass = spread.sum(axis=0, keepdims=True)
    spread = spread / np.where(mass > 0, mass, 1.0)
    total = spread.sum(axis=1, keepdims=True)
    return np.asarray(spread / np.where(total > 0, total, 1.0), dtype=np.float32)


def pseudo_labels(
    labelled_x: npt.NDArray[np.floating[Any]],
    targets: npt.NDArray[np.integer[Any]],
    unlabelled_x: npt.NDArray[np.floating[Any]],
    n_classes: int,
    config: SpreadConfig | None = None,
    *,
    seed: int = 0,
) -> tuple[Array, npt.NDArray[np.int64], Array]:
    """What the head also trains on: ``(embeddings, class, weight)`` of unlabelled items, the
    class their spread label makes most likely and the weight ``config.weight x`` its share
    (0..1). At most ``config.max_unlabelled`` of them (drawn with ``seed``); none when the
    weight is 0, there are no unlabelled items or no labels."""
    config = config or SpreadConfig()
    unlabelled_x = np.asarray(unlabelled_x, dtype=np.float32)
    labelled_x = np.asarray(labelled_x, dtype=np.float32)
    dim = labelled_x.shape[1] if labelled_x.ndim == 2 else unlabelled_x.shape[-1]
    none = (
        np.zeros((0, dim), dtype=np.float32),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.float32),
    )
    if config.weight == 0.0 or not len(unlabelled_x) or not len(labelled_x):
        return none
    if len(unlabelled_x) > config.max_unlabelled:
        keep = np.sort(
            np.random.default_rng(seed).choice(
                len(unlabelled_x), size=config.max_unlabelled, replace=False
            )
        )
        unlabelled_x = unlabelled_x[keep]
        if not len(unlabelled_x):
            return none
    together = np.concatenate([labelled_x, unlabelled_x])
    soft = spread_labels(
        together, np.arange(len(labelled_x)), np.asarray(targets), n_classes, config
    )[len(labelled_x) :]
    share = soft.max(axis=1)
    reached = share > 0
    return (
        unlabelled_x[reached],
        soft[reached].argmax(axis=1).astype(np.int64),
        (config.weight * share[reached]).astype(np.float32),
    )
