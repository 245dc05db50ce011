"""The diverse batch of active learning: uncertainty-weighted k-means among the most uncertain
clips, on the leading principal components of the embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from ml_worker.inference import (
    DIVERSE_DIMS,
    diverse_batch,
    principal_components,
    representative_order,
)


def _blobs_with_noise(
    seed: int, *, blobs: int = 4, per: int = 25, noise_dims: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """``blobs`` tight groups far apart in 3 directions, plus many directions of small noise;
    returns (points, blob of each point)."""
    rng = np.random.default_rng(seed)
    centres = 8.0 * rng.standard_normal((blobs, 3))
    signal = np.repeat(centres, per, axis=0) + 0.3 * rng.standard_normal((blobs * per, 3))
    noise = 0.1 * rng.standard_normal((blobs * per, noise_dims))
    return np.hstack([signal, noise]), np.repeat(np.arange(blobs), per)


def _pairwise(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)


def test_principal_components_keep_the_geometry_of_a_low_rank_embedding():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((64, 4)))  # 4 orthonormal directions in 64-d
    points = rng.standard_normal((30, 4)) * [5.0, 3.0, 2.0, 1.0] @ basis.T + 7.0
    projected = principal_components(points, 16)
    assert projected.shape == (30, 16)
    np.testing.assert_allclose(projected.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(_pairwise(projected), _pairwise(points), atol=1e-8)
    np.testing.assert_allclose(projected[:, 4:], 0.0, atol=1e-8)  # nothing beyond the rank
    # Fewer components than the rank: the first two, largest variance first, never longer.
    two = principal_components(points, 2)
    assert two.shape == (30, 2)
    assert two[:, 0].var() >= two[:, 1].var()
    assert (_pairwise(two) <= _pairwise(points) + 1e-9).all()
    # More components asked than rows or columns: as many as there are.
    assert principal_components(points[:5], 16).shape == (5, 5)
    assert principal_components(points[:, :3], 16).shape == (30, 3)
    assert principal_components(np.zeros((0, 8)), 4).shape == (0, 4)
    with pytest.raises(ValueError, match="dims"):
        principal_components(points, 0)
    with pytest.raises(ValueError, match="embeddings"):
        principal_components(points[0], 4)


def test_the_batch_takes_one_uncertain_clip_from_each_group():
    points, blob = _blobs_with_noise(1)
    rng = np.random.default_rng(2)
    scores = rng.uniform(0.1, 0.5, len(points))
    scores[blob == 0] += 0.4  # the most uncertain 25 are all in group 0
    picks = diverse_batch(points, scores, 4, pool_factor=15)  # the pool: the 60 most uncertain
    pool = set(np.argsort(-scores)[:60].tolist())
    assert set(picks) <= pool
    assert sorted(blob[picks].tolist()) == [0, 1, 2, 3]
    assert picks == sorted(picks, key=lambda p: -scores[p])  # most uncertain first
    # Plain uncertainty would ask four times about group 0.
    assert set(blob[np.argsort(-scores)[:4]].tolist()) == {0}


def test_the_batch_is_the_same_for_the_same_input_and_for_a_rotated_shifted_embedding():
    points, _ = _blobs_with_noise(3, blobs=5, per=20, noise_dims=40)
    scores = np.random.default_rng(4).uniform(0.0, 1.0, len(points))
    picks = diverse_batch(points, scores, 5, pool_factor=8)
    assert len(set(picks)) == 5
    assert diverse_batch(points, scores, 5, pool_factor=8) == picks
    # Principal components and k-means depend on distances only.
    rotation, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((43, 43)))
    assert diverse_batch(points @ rotation - 3.0, scores, 5, pool_factor=8) == picks
    # The projection changes only how the pool is clustered, never which rows are in it.
    raw = diverse_batch(points, scores, 5, pool_factor=8, dims=None)
    top = set(np.argsort(-scores)[:40].tolist())
    assert set(raw) <= top
    assert set(picks) <= top


def test_fewer_rows_than_components_or_than_the_batch():
    points, _ = _blobs_with_noise(6, blobs=3, per=3, noise_dims=30)  # 9 rows < DIVERSE_DIMS
    assert points.shape[0] < DIVERSE_DIMS
    scores = np.linspace(0.9, 0.1, 9)
    picks = diverse_batch(points, scores, 3)
    assert len(set(picks)) == 3
    assert sorted(p // 3 for p in picks) == [0, 1, 2]
    assert diverse_batch(points[:2], scores[:2], 5) == [0, 1]  # fewer rows: all, by uncertainty
    assert diverse_batch(points[:0], scores[:0], 5) == []


def test_the_queue_opens_with_exactly_the_batch_the_benchmark_measures():
    from ml_worker.pipeline import DIVERSE_POOL_FACTOR, _rank

    points, blob = _blobs_with_noise(7, blobs=4, per=30, noise_dims=60)
    scores = np.random.default_rng(8).uniform(0.0, 1.0, len(points))
    scores[blob == 2] += 1.0
    embeddings = [row.astype(np.float32) for row in points]
    ranks = _rank("diverse", 4, scores, embeddings)
    assert ranks is not None
    assert sorted(ranks.tolist()) == list(range(1, len(points) + 1))
    first = [int(i) for i in np.argsort(ranks)[:4]]
    matrix = np.stack(embeddings)
    assert first == diverse_batch(matrix, scores, 4, pool_factor=DIVERSE_POOL_FACTOR)
    assert sorted(blob[first].tolist()) == [0, 1, 2, 3]
    # The next batch spreads over the groups too, without repeating the first.
    second = [int(i) for i in np.argsort(ranks)[4:8]]
    assert not set(first) & set(second)
    assert len(set(blob[second].tolist())) >= 3


def _groups_of_sizes(sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tight groups of the given sizes far apart, in upload order one group after another,
    plus small noise in many directions; returns (points, group of each point)."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * rng.standard_normal((len(sizes), 3))
    group = np.repeat(np.arange(len(sizes)), sizes)
    signal = centres[group] + 0.3 * rng.standard_normal((group.size, 3))
    return np.hstack([signal, 0.05 * rng.standard_normal((group.size, 100))]), group


def test_a_cold_start_opens_with_one_typical_item_of_each_kind_of_sound():
    x, group = _groups_of_sizes([40, 25, 10])
    order = representative_order(x, 3, seed=1)
    assert sorted(order) == list(range(x.shape[0]))  # every row, once
    head = order[:3]
    # upload order would give three of the first group; this gives one of each, largest first
    assert [int(group[r]) for r in head] == [0, 1, 2]
    for row in head:
        members = np.flatnonzero(group == group[row])
        centre = x[members].mean(axis=0)
        distances = np.linalg.norm(x[members] - centre, axis=1)
        # the chosen one is among the most central of its group, not an outlier
        assert np.linalg.norm(x[row] - centre) <= np.quantile(distances, 0.25)


def test_the_cold_start_order_goes_round_robin_and_keeps_to_larger_groups_longest():
    x, group = _groups_of_sizes([6, 3, 1])
    order = representative_order(x, 3, dims=None, seed=0)
    assert [int(group[r]) for r in order] == [0, 1, 2, 0, 1, 0, 1, 0, 0, 0]
    # within a group, nearer the centre comes first
    first = [r for r in order if group[r] == 0]
    centre = x[group == 0].mean(axis=0)
    assert np.all(np.diff(np.linalg.norm(x[first] - centre, axis=1)) >= 0)


def test_the_cold_start_order_is_deterministic_and_handles_small_or_bad_input():
    x, _ = _groups_of_sizes([8, 8])
    assert representative_order(x, 4, seed=3) == representative_order(x, 4, seed=3)
    assert sorted(representative_order(x[:3], 10)) == [0, 1, 2]  # more clusters than rows
    assert representative_order(np.zeros((0, 5)), 3) == []
    with pytest.raises(ValueError, match="k must be at least 1"):
        representative_order(x, 0)
    with pytest.raises(ValueError, match="expected embeddings"):
        representative_order(x[0], 2)


def test_a_large_tall_embedding_takes_the_lean_route_to_the_same_components(monkeypatch):
    from ml_worker.inference import uncertainty

    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    # distinct variances, so every component is well defined; offset, so centring matters
    x = (rng.standard_normal((3000, 40)) * np.linspace(10, 1, 40)) @ rotation + 5.0
    before = x.copy()
    svd = principal_components(x, 8)
    svd_order = representative_order(x, 5, dims=8, seed=2)
    monkeypatch.setattr(uncertainty, "LEAN_PCA_ABOVE", 1000)
    monkeypatch.setattr(uncertainty, "_PCA_CHUNK", 700)  # several chunks, the last one short
    lean = principal_components(x, 8)
    assert lean.shape == svd.shape == (3000, 8)
    # the same coordinates, each component up to its sign
    signs = np.sign((lean * svd).sum(axis=0))
    np.testing.assert_allclose(lean * signs, svd, atol=1e-8)
    np.testing.assert_array_equal(x, before)  # the input is left as it was
    # float32 input (what embeddings are) gives the same to float32 precision
    np.testing.assert_allclose(
        np.abs(principal_components(x.astype(np.float32), 8)), np.abs(svd), atol=1e-3
    )
    # and a cold start orders the items the same way (k-means does not see the signs)
    assert representative_order(x, 5, dims=8, seed=2) == svd_order
