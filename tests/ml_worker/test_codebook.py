"""The label-free codebook embedding and the diverse batch selection of active learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_worker.features import LogMelConfig, extract_logmel
from ml_worker.features.codebook import fit_codebook, patches
from ml_worker.inference import diverse_batch, weighted_kmeans

SR = 16000
CONFIG = LogMelConfig(n_mels=40)


def _sounds(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three kinds of 1-s sound, 6 each: a low tone, a high tone, clicks in noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    out, kinds = [], []
    for i in range(6):
        out.append(0.3 * np.sin(2 * np.pi * (300 + 20 * i) * t))
        out.append(0.3 * np.sin(2 * np.pi * (3000 + 50 * i) * t))
        clicks = 0.02 * rng.standard_normal(SR)
        clicks[rng.choice(SR, 20, replace=False)] += 0.9
        out.append(clicks)
        kinds += [0, 1, 2]
    noise = 0.003 * rng.standard_normal((len(out), SR))
    return (np.stack(out) + noise).astype(np.float32), np.array(kinds)


def test_patches_are_normalised_and_short_clips_give_one():
    logmel = np.random.default_rng(0).standard_normal((40, 30)).astype(np.float32) * 3 + 7
    p = patches(logmel, 8, 4)
    assert p.shape == (6, 40 * 8)  # starts 0, 4, ..., 20
    np.testing.assert_allclose(p.mean(axis=1), 0, atol=1e-5)
    assert patches(logmel[:, :3], 8, 4).shape == (1, 320)


def test_codebook_embeds_sounds_of_a_kind_together():
    signals, kinds = _sounds(0)
    logmels = list(extract_logmel(signals, config=CONFIG))
    book = fit_codebook(logmels, size=24, max_patches=2000, seed=1)
    np.testing.assert_allclose(np.linalg.norm(book.centroids, axis=1), 1, atol=1e-5)
    emb = book.encode_batch(logmels)
    assert emb.shape == (18, 48)
    assert (emb >= 0).all()
    # Learned without labels, yet nearly every clip's nearest other clip is of its own kind
    # (chance: 1 in 3).
    dist = ((emb[:, None] - emb[None]) ** 2).sum(axis=2)
    np.fill_diagonal(dist, np.inf)
    assert (kinds[dist.argmin(axis=1)] == kinds).sum() >= 16
    again = fit_codebook(logmels, size=24, max_patches=2000, seed=1)
    np.testing.assert_array_equal(again.centroids, book.centroids)  # deterministic per seed


def test_the_traced_encoder_gives_the_numpy_embedding_for_any_batch(tmp_path):
    signals, _ = _sounds(1)
    book = fit_codebook(list(extract_logmel(signals, config=CONFIG)), size=16, max_patches=1500)
    traced = torch.jit.trace(book.module(CONFIG), torch.from_numpy(signals[:2]))
    traced.save(str(tmp_path / "codebook.pt"))
    loaded = torch.jit.load(str(tmp_path / "codebook.pt"))
    with torch.no_grad():
        got = loaded(torch.from_numpy(signals[:5])).numpy()
    want = book.encode_batch(list(extract_logmel(signals[:5], config=CONFIG)))
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_fit_codebook_rejects_what_it_cannot_use():
    with pytest.raises(ValueError, match="at least one"):
        fit_codebook([])
    with pytest.raises(ValueError, match="cannot make a codebook of 64"):
        fit_codebook([np.zeros((40, 20), np.float32)], size=64)


def _blobs() -> np.ndarray:
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [10, 0], [0, 10]], dtype=float)
    return np.concatenate([c + 0.3 * rng.standard_normal((20, 2)) for c in centres])


def test_weighted_kmeans_finds_the_blobs_and_follows_the_weights():
    points = _blobs()
    assign, _ = weighted_kmeans(points, 3, seed=0)
    for blob in range(3):
        assert len(set(assign[blob * 20 : (blob + 1) * 20])) == 1
    assert len(set(assign)) == 3
    again, _ = weighted_kmeans(points, 3, seed=0)
    np.testing.assert_array_equal(again, assign)
    # All the weight on one point of a blob pulls that blob's centre onto it.
    weights = np.full(60, 1e-9)
    weights[[5, 25, 45]] = 1.0
    _, pulled = weighted_kmeans(points, 3, weights=weights, seed=0)
    for row in (5, 25, 45):
        assert np.min(np.linalg.norm(pulled - points[row], axis=1)) < 1e-3
    with pytest.raises(ValueError, match="1 <= k <= n"):
        weighted_kmeans(points, 61)


def test_diverse_batch_spreads_over_clusters_that_uncertainty_alone_would_not():
    points = _blobs()
    scores = np.linspace(0.1, 0.2, 60)
    scores[:20] += 0.5  # blob 0 is the most uncertain: top-3 by score are all in it
    top3 = np.argsort(-scores)[:3]
    assert {int(i) // 20 for i in top3} == {0}
    picks = diverse_batch(points, scores, 3, pool_factor=20)
    assert {p // 20 for p in picks} == {0, 1, 2}
    assert picks == sorted(picks, key=lambda p: -scores[p])  # most uncertain first
    # A pool no larger than the batch is the pool, by uncertainty.
    assert diverse_batch(points, scores, 3, pool_factor=1) == [int(i) for i in top3]
    assert diverse_batch(points[:2], scores[:2], 5) == [1, 0]
    assert diverse_batch(points, scores, 0) == []
    with pytest.raises(ValueError, match="scores"):
        diverse_batch(points, scores[:5], 3)


def test_the_diverse_queue_opens_with_one_item_per_cluster():
    from ml_worker.pipeline import _rank

    points = _blobs()
    scores = np.linspace(0.1, 0.2, 60)
    for blob in range(3):  # the pool (30 most uncertain) holds 10 of each blob...
        scores[blob * 20 : blob * 20 + 10] += 0.5
    scores[:10] += 0.2  # ...and the 10 most uncertain are all in blob 0
    embeddings = [row.astype(np.float32) for row in points]
    ranks = _rank("diverse", 3, scores, embeddings)
    assert ranks is not None
    assert sorted(ranks.tolist()) == list(range(1, 61))
    first = [int(i) for i in np.argsort(ranks)[:3]]
    assert {i // 20 for i in first} == {0, 1, 2}
    plain = _rank("uncertainty", 3, scores, embeddings)
    assert plain is not None
    assert {int(i) // 20 for i in np.argsort(plain)[:3]} == {0}


def test_the_command_writes_an_embedding_model_the_worker_loads(tmp_path, capsys):
    import soundfile as sf

    from ml_worker.embeddings import EmbeddingModelSpec, load_embedding_model
    from ml_worker.features.codebook import main

    signals, _ = _sounds(2)
    folder = tmp_path / "audio"
    folder.mkdir()
    for i, signal in enumerate(signals):  # 18 one-second files in 3 kinds
        sf.write(folder / f"clip{i:02d}.wav", signal, SR)
    out = tmp_path / "models" / "codebook.pt"

    assert main([str(folder), "--out", str(out), "--window-s", "1", "--size", "16"]) == 0

    # Two codebooks (8- and 32-frame patches) of 16 centroids, mean and max pooled.
    assert "18 files, embeddings of 64 numbers per 1 s window" in capsys.readouterr().out
    model = load_embedding_model(EmbeddingModelSpec(path=str(out), sample_rate_hz=SR, window_s=1))
    assert model.dim == 64
    emb = model.embed(signals[:3])
    assert emb.shape == (3, 64)
    assert np.isfinite(emb).all()
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing"), "--out", str(out)])
