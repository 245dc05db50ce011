"""Label spreading over a project's items (``ml_worker.embeddings.spread``): the neighbour
graph, how labels travel along it, and the pseudo-labels the embedding head trains on."""

from __future__ import annotations

import numpy as np
import pytest

from ml_worker.embeddings import spread as spread_module
from ml_worker.embeddings.spread import (
    SpreadConfig,
    knn_affinity,
    pseudo_labels,
    spread_labels,
)


def _two_arcs(step: float = 0.02, length: float = 1.2, gap: float = 0.15) -> np.ndarray:
    """Two parallel arcs: ``(cos t, sin t, +gap)`` and ``(cos t, sin t, -gap)`` for t in
    ``[0, length]``; each point's nearest neighbours are on its own arc, but an arc's far end
    is nearer the other arc's start than its own start. Rows: arc A then arc B."""
    t = np.arange(0.0, length + 1e-9, step)
    arc = np.stack([np.cos(t), np.sin(t)], axis=1)
    a = np.hstack([arc, np.full((t.size, 1), gap)])
    b = np.hstack([arc, np.full((t.size, 1), -gap)])
    return np.vstack([a, b])


def _dense_reference(x: np.ndarray, k: int) -> np.ndarray:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    w = np.zeros_like(sim)
    for i, row in enumerate(sim):
        top = np.argsort(-row, kind="stable")[:k]
        w[i, top] = np.maximum(row[top], 0.0)
    w = np.maximum(w, w.T)
    d = w.sum(axis=1)
    return w / np.sqrt(np.outer(d, d))


def test_the_graph_is_the_symmetric_normalised_neighbour_graph():
    x = np.random.default_rng(0).standard_normal((40, 8))
    graph = knn_affinity(x, 5).toarray()
    np.testing.assert_allclose(graph, graph.T, atol=1e-7)
    assert np.all(np.diag(graph) == 0)
    assert np.all(graph >= 0)
    assert np.all((graph > 0).sum(axis=1) >= 5)
    np.testing.assert_allclose(graph, _dense_reference(x, 5), atol=1e-6)


def test_the_graph_is_the_same_when_read_in_chunks(monkeypatch: pytest.MonkeyPatch):
    x = np.random.default_rng(1).standard_normal((50, 6))
    whole = knn_affinity(x, 4).toarray()
    monkeypatch.setattr(spread_module, "_CHUNK", 7)
    np.testing.assert_allclose(knn_affinity(x, 4).toarray(), whole, atol=1e-7)


def test_labels_travel_along_an_arc_where_the_nearest_label_is_on_the_other_arc():
    x = _two_arcs()
    half = len(x) // 2
    truth = np.repeat([0, 1], half)
    # arc A labelled at its start, arc B at its far end
    labelled = np.array([0, len(x) - 1])
    soft = spread_labels(x, labelled, truth[labelled], 2, SpreadConfig(neighbours=3))
    np.testing.assert_array_equal(soft.argmax(axis=1), truth)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-6)
    # the nearest labelled point (what a classifier of two examples would say) is wrong on
    # a good part of each arc: spreading did more than copy the nearest label
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    nearest = (unit @ unit[labelled].T).argmax(axis=1)
    assert (nearest != truth).mean() > 0.2


def test_class_mass_normalisation_keeps_a_class_with_one_label_alive():
    # two touching groups; class 0 has six labels in its group, class 1 one label in its own
    rng = np.random.default_rng(2)
    group0 = np.array([1.0, 0.2, 0.0]) + 0.05 * rng.standard_normal((30, 3))
    group1 = np.array([1.0, -0.2, 0.0]) + 0.05 * rng.standard_normal((30, 3))
    x = np.vstack([group0, group1])
    labelled = np.array([0, 1, 2, 3, 4, 5, 30])
    targets = np.array([0, 0, 0, 0, 0, 0, 1])
    soft = spread_labels(x, labelled, targets, 2, SpreadConfig(neighbours=8))
    assert (soft[30:].argmax(axis=1) == 1).mean() >= 0.8
    assert (soft[:30].argmax(axis=1) == 0).mean() >= 0.8


def test_an_item_no_label_reaches_gets_no_pseudo_label():
    rng = np.random.default_rng(3)
    group = np.array([1.0, 0.0, 0.0]) + 0.05 * rng.standard_normal((12, 3))
    x = np.vstack([group, [[-1.0, 0.0, 0.0]]])  # opposite: similarity below 0 with everyone
    soft = spread_labels(x, np.array([0]), np.array([1]), 2, SpreadConfig(neighbours=3))
    np.testing.assert_array_equal(soft[-1], [0.0, 0.0])
    px, py, pw = pseudo_labels(x[:1], np.array([1]), x[1:], 2, SpreadConfig(neighbours=3))
    assert len(px) == len(py) == len(pw) == 11
    assert np.all(py == 1)


def test_pseudo_labels_beat_two_labels_per_class_on_blobs():
    """Four noisy blobs, two labels each: the spread labels of the unlabelled points are
    more often right than the label of the nearest labelled point."""
    rng = np.random.default_rng(4)
    centres = 3.0 * rng.standard_normal((4, 30))
    truth = np.repeat(np.arange(4), 50)
    x = centres[truth] + 5.0 * rng.standard_normal((200, 30))
    labelled = np.concatenate(
        [rng.choice(np.flatnonzero(truth == c), 2, replace=False) for c in range(4)]
    )
    unlabelled = np.setdiff1d(np.arange(200), labelled)
    px, py, pw = pseudo_labels(x[labelled], truth[labelled], x[unlabelled], 4, SpreadConfig())
    assert len(px) == unlabelled.size
    np.testing.assert_array_equal(px, x[unlabelled].astype(np.float32))
    spread_right = (py == truth[unlabelled]).mean()
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    nearest = truth[labelled][(unit[unlabelled] @ unit[labelled].T).argmax(axis=1)]
    assert spread_right > (nearest == truth[unlabelled]).mean() + 0.05
    assert np.all((pw > 0) & (pw <= SpreadConfig().weight + 1e-6))
    # surer spread labels are right more often
    sure = pw >= np.median(pw)
    assert (py[sure] == truth[unlabelled][sure]).mean() >= spread_right


def test_no_pseudo_labels_without_weight_items_or_labels():
    x = np.random.default_rng(5).standard_normal((10, 4))
    off = SpreadConfig(weight=0.0)
    assert len(pseudo_labels(x[:2], np.array([0, 1]), x[2:], 2, off)[0]) == 0
    assert len(pseudo_labels(x[:2], np.array([0, 1]), x[:0], 2)[0]) == 0
    assert len(pseudo_labels(x[:0], np.array([], dtype=int), x, 2)[0]) == 0


def test_a_large_project_spreads_over_a_seeded_sample_of_its_unlabelled_items():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((60, 5)).astype(np.float32)
    config = SpreadConfig(max_unlabelled=20)
    first = pseudo_labels(x[:4], np.array([0, 1, 0, 1]), x[4:], 2, config, seed=7)
    again = pseudo_labels(x[:4], np.array([0, 1, 0, 1]), x[4:], 2, config, seed=7)
    other = pseudo_labels(x[:4], np.array([0, 1, 0, 1]), x[4:], 2, config, seed=8)
    assert len(first[0]) <= 20
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    rows = {tuple(row) for row in x[4:]}
    assert all(tuple(row) in rows for row in first[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"neighbours": 0}, "neighbours"),
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": 0.0}, "alpha"),
        ({"weight": -0.1}, "weight"),
        ({"max_unlabelled": -1}, "max_unlabelled"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, float], message: str):
    with pytest.raises(ValueError, match=message):
        SpreadConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_labels_are_named():
    x = np.random.default_rng(7).standard_normal((6, 3))
    with pytest.raises(ValueError, match=r"within 0\.\.5"):
        spread_labels(x, np.array([6]), np.array([0]), 2)
    with pytest.raises(ValueError, match=r"class indices within 0\.\.1"):
        spread_labels(x, np.array([0]), np.array([2]), 2)
    with pytest.raises(ValueError, match="same length"):
        spread_labels(x, np.array([0, 1]), np.array([0]), 2)
    with pytest.raises(ValueError, match="n >= 2"):
        knn_affinity(x[:1], 3)
