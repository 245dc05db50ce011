"""Bring-your-own embedding models: TorchScript and ONNX files made in the test, the cache,
pooling, and a head trained on the embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ml_worker.embeddings import (
    EmbeddingModelError,
    EmbeddingModelSpec,
    HeadConfig,
    embed_items,
    embedding_cache,
    item_window_embeddings,
    load_embedding_model,
    pool_windows,
    predict_embeddings,
    train_embedding_head,
)
from ml_worker.inference import k_center_greedy
from ml_worker.models import EmbeddingHead
from ml_worker.training import choose_model, load_checkpoint, save_checkpoint, train_baseline
from tests.ml_worker.synth import SMALL_CONFIG, TONE_CLASSES_HZ, sine

RATE = 8000
WINDOW_S = 0.5
BANDS = 8


class BandEnergy(nn.Module):
    """A stand-in for a real embedding model: log energy in 8 FFT bands of the window."""

    def __init__(self) -> None:
        super().__init__()
        self.bands = BANDS

    def forward(self, windows: Tensor) -> Tensor:
        spectrum = torch.fft.rfft(windows, dim=1).abs().square()
        usable = spectrum.shape[1] - spectrum.shape[1] % self.bands
        bands = spectrum[:, :usable].reshape(windows.shape[0], self.bands, -1).sum(dim=2)
        return torch.log(bands + 1e-6)


def torchscript_file(tmp_path):
    path = tmp_path / "band_energy.pt"
    torch.jit.script(BandEnergy()).save(str(path))
    return path


def onnx_file(tmp_path):
    """The same kind of model built node by node with onnx.helper: a fixed random projection
    of the window followed by tanh, (batch, 4000) -> (batch, 6)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).standard_normal((4000, 6)).astype(np.float32) / 60
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["windows", "w"], ["projected"]),
            helper.make_node("Tanh", ["projected"], ["embeddings"]),
        ],
        "projection",
        [helper.make_tensor_value_info("windows", TensorProto.FLOAT, ["batch", 4000])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", 6])],
        initializer=[numpy_helper.from_array(weights, name="w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / "projection.onnx"
    onnx.save(model, str(path))
    return path, weights


def tone_items(n_per_class: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    signals, labels = [], []
    for i in range(n_per_class):
        for cls, freq in enumerate(TONE_CLASSES_HZ):
            duration = float(rng.uniform(0.6, 2.0))
            signals.append(
                sine(freq, duration_s=duration, sample_rate_hz=RATE, noise=0.05, seed=i * 10 + cls)
            )
            labels.append(cls)
    return signals, np.array(labels, dtype=np.int64)


def test_torchscript_model_embeds_windows_and_items(tmp_path):
    spec = EmbeddingModelSpec(
        path=str(torchscript_file(tmp_path)), sample_rate_hz=RATE, window_s=WINDOW_S
    )
    model = load_embedding_model(spec)
    signal = sine(900.0, duration_s=1.3, sample_rate_hz=RATE)

    windows = item_window_embeddings(model, signal)

    assert model.dim == BANDS
    assert windows.shape == (3, BANDS)  # 0-0.5, 0.5-1.0, 1.0-1.5 (zero-padded)
    assert windows.dtype == np.float32
    expected = BandEnergy()(torch.from_numpy(signal[:4000])[None]).numpy()[0]
    np.testing.assert_allclose(windows[0], expected, rtol=1e-5, atol=1e-5)
    assert pool_windows(windows, "mean").shape == (BANDS,)
    assert pool_windows(windows, "mean_max").shape == (2 * BANDS,)
    assert item_window_embeddings(model, np.zeros(0, dtype=np.float32)).shape == (1, BANDS)


def test_onnx_model_runs_through_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    path, weights = onnx_file(tmp_path)
    model = load_embedding_model(
        EmbeddingModelSpec(path=str(path), sample_rate_hz=RATE, window_s=WINDOW_S)
    )
    x = np.random.default_rng(1).standard_normal((5, 4000)).astype(np.float32)

    out = model.embed(x)

    assert model.dim == 6
    np.testing.assert_allclose(out, np.tanh(x @ weights), rtol=1e-4, atol=1e-5)


def test_unusable_model_files_raise_a_readable_error(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(EmbeddingModelError, match=r"broken\.onnx"):
        load_embedding_model(
            EmbeddingModelSpec(path=str(broken), sample_rate_hz=RATE, window_s=WINDOW_S)
        )
    scalar = tmp_path / "scalar.pt"
    torch.jit.script(nn.Flatten(0)).save(str(scalar))  # (batch, samples) -> (batch*samples,)
    with pytest.raises(EmbeddingModelError, match=r"\(batch, dim\)"):
        load_embedding_model(
            EmbeddingModelSpec(path=str(scalar), sample_rate_hz=RATE, window_s=WINDOW_S)
        )
    with pytest.raises(FileNotFoundError):
        load_embedding_model(
            EmbeddingModelSpec(path=str(tmp_path / "nope.pt"), sample_rate_hz=RATE, window_s=1)
        )


def test_item_embeddings_are_cached_per_model_file(tmp_path):
    path = torchscript_file(tmp_path)
    model = load_embedding_model(
        EmbeddingModelSpec(path=str(path), sample_rate_hz=RATE, window_s=WINDOW_S)
    )
    signals, _ = tone_items(2)
    loads = []

    def loader(i):
        def load():
            loads.append(i)
            return signals[i]

        return load

    items = [(f"sha-{i}", loader(i)) for i in range(len(signals))]
    cache = embedding_cache(str(tmp_path / "cache"), model)

    first = embed_items(model, items, cache=cache)
    again = embed_items(model, items, cache=cache)

    assert first.shape == (len(signals), BANDS)
    np.testing.assert_array_equal(first, again)
    assert loads == list(range(len(signals)))  # audio decoded once per item
    assert (cache.misses, cache.hits) == (len(signals), len(signals))
    other = load_embedding_model(
        EmbeddingModelSpec(path=str(path), sample_rate_hz=RATE, window_s=0.25)
    )
    assert embedding_cache(str(tmp_path / "cache"), other).folder != cache.folder


def test_head_trains_in_seconds_checkpoints_and_feeds_diversity(tmp_path):
    spec = EmbeddingModelSpec(
        path=str(torchscript_file(tmp_path)), sample_rate_hz=RATE, window_s=WINDOW_S
    )
    model = load_embedding_model(spec)
    signals, labels = tone_items(12)
    embeddings = embed_items(model, [(str(i), lambda s=s: s) for i, s in enumerate(signals)])
    reports = []

    result = train_embedding_head(
        embeddings,
        labels,
        label_names=("low", "mid", "high"),
        config=HeadConfig(hidden=16),
        embedding={**spec.to_json(), "sha256": model.sha256},
        progress=reports.append,
    )

    assert result.metrics is not None
    assert result.metrics.accuracy == 1.0
    assert result.train_time_s < 30  # includes torch.optim's one-off lazy imports (~10 s)
    assert reports[-1].phase == "done"
    head = result.build_model()
    assert isinstance(head, EmbeddingHead)
    probs = predict_embeddings(head, embeddings)
    assert (probs.argmax(axis=1) == labels).mean() >= 0.95
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    path = tmp_path / "head.pt"
    save_checkpoint(path, result, feature_config=SMALL_CONFIG)
    loaded = load_checkpoint(path).build_model()
    assert isinstance(loaded, EmbeddingHead)
    assert loaded.embedding["sha256"] == model.sha256
    np.testing.assert_allclose(predict_embeddings(loaded, embeddings), probs, rtol=1e-5)

    # Same held-out rows as the baseline trained with the same seed: comparable.
    config = result.config
    logmel = np.stack([np.zeros((SMALL_CONFIG.n_mels, 20), dtype=np.float32)] * len(labels))
    baseline = train_baseline(logmel, labels, label_names=("low", "mid", "high"), config=config)
    assert choose_model(result, baseline) is result

    picked = k_center_greedy(embeddings, 3)
    assert len(set(labels[np.asarray(picked)])) == 3


def test_head_training_is_deterministic():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)

    a = train_embedding_head(x, y, label_names=("neg", "pos"), config=HeadConfig(steps=30))
    b = train_embedding_head(x, y, label_names=("neg", "pos"), config=HeadConfig(steps=30))

    assert all(torch.equal(a.model_state[k], b.model_state[k]) for k in a.model_state)


def _noisy_blobs(seed: int, *, labels_per_class: int = 3):
    """Four blobs in 30 dimensions with much noise; ``labels_per_class`` labelled rows each.
    Returns (embeddings, class of each row, labelled rows, unlabelled rows)."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(4), 60)
    x = (3.0 * rng.standard_normal((4, 30))[truth] + 4.0 * rng.standard_normal((240, 30))).astype(
        np.float32
    )
    labelled = np.concatenate(
        [rng.choice(np.flatnonzero(truth == c), labels_per_class, replace=False) for c in range(4)]
    )
    return x, truth, labelled, np.setdiff1d(np.arange(240), labelled)


def test_a_head_with_few_labels_also_learns_from_the_unlabelled_items():
    x, truth, labelled, unlabelled = _noisy_blobs(1)
    names = ("a", "b", "c", "d")

    alone = train_embedding_head(x[labelled], truth[labelled], label_names=names)
    together = train_embedding_head(
        x[labelled], truth[labelled], label_names=names, unlabelled=x[unlabelled]
    )

    def accuracy(result) -> float:
        probs = predict_embeddings(result.build_model(), x[unlabelled])
        return float((probs.argmax(axis=1) == truth[unlabelled]).mean())

    assert alone.n_pseudo == 0
    assert together.n_pseudo == unlabelled.size
    assert accuracy(together) >= 0.9
    assert accuracy(together) >= accuracy(alone) + 0.1


def test_the_held_out_labels_are_not_spread(monkeypatch: pytest.MonkeyPatch):
    from ml_worker.embeddings import head as head_module

    x, truth, labelled, unlabelled = _noisy_blobs(2, labels_per_class=5)
    seen: list[np.ndarray] = []
    real = head_module.pseudo_labels

    def spy(labelled_x, targets, *args, **kwargs):
        seen.append(np.asarray(labelled_x))
        return real(labelled_x, targets, *args, **kwargs)

    monkeypatch.setattr(head_module, "pseudo_labels", spy)
    result = train_embedding_head(
        x[labelled], truth[labelled], label_names=("a", "b", "c", "d"), unlabelled=x[unlabelled]
    )
    (given,) = seen
    held_out = x[labelled][list(result.val_indices)]
    assert result.n_val == 4
    assert len(given) == result.n_train
    assert not any((given == row).all(axis=1).any() for row in held_out)


def test_multi_label_heads_and_weight_zero_train_on_the_labels_only():
    from ml_worker.embeddings.spread import SpreadConfig

    x, truth, labelled, unlabelled = _noisy_blobs(3)
    names = ("a", "b", "c", "d")
    multi = np.eye(4, dtype=np.float32)[truth]
    result = train_embedding_head(
        x[labelled], multi[labelled], label_names=names, multi_label=True, unlabelled=x[unlabelled]
    )
    assert result.n_pseudo == 0

    plain = train_embedding_head(x[labelled], truth[labelled], label_names=names)
    off = train_embedding_head(
        x[labelled],
        truth[labelled],
        label_names=names,
        unlabelled=x[unlabelled],
        spread=SpreadConfig(weight=0.0),
    )
    assert off.n_pseudo == 0
    assert all(torch.equal(plain.model_state[k], off.model_state[k]) for k in plain.model_state)


def test_unlabelled_embeddings_of_another_size_are_refused():
    x, truth, labelled, _ = _noisy_blobs(4)
    with pytest.raises(ValueError, match=r"unlabelled embeddings must be \(m, 30\)"):
        train_embedding_head(
            x[labelled], truth[labelled], label_names=("a", "b", "c", "d"), unlabelled=x[:, :5]
        )
