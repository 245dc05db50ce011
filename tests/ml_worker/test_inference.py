import math

import numpy as np
import pytest
import torch

from ml_worker.features import LogMel, LogMelConfig, windows
from ml_worker.inference import (
    Segment,
    decode_segments,
    embed_clips,
    entropy,
    k_center_greedy,
    least_confidence,
    margin,
    predict_clips,
    predict_frames,
    predict_long,
    window_probabilities,
)
from ml_worker.models import ClipCNN, ClipModel, SegmentCRNN
from tests.ml_worker.synth import sine

SINGLE = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [1.0, 0.0, 0.0]])
MULTI = np.array([[0.9, 0.5], [0.2, 0.0]])


def test_single_label_uncertainty_by_hand():
    np.testing.assert_allclose(least_confidence(SINGLE), [0.3, 0.6, 0.0], atol=1e-12)
    np.testing.assert_allclose(margin(SINGLE), [0.5, 1.0, 0.0], atol=1e-12)
    h0 = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    h1 = -(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2))
    np.testing.assert_allclose(entropy(SINGLE), [h0, h1, 0.0], atol=1e-12)
    np.testing.assert_allclose(
        entropy(SINGLE, normalize=True), np.array([h0, h1, 0.0]) / math.log(3), atol=1e-12
    )
    # Most uncertain first: row 1 (two-way tie) under every score.
    for score in (least_confidence, margin, entropy):
        assert np.argsort(-score(SINGLE)).tolist() == [1, 0, 2]


def test_multi_label_uncertainty_by_hand():
    per_class_lc = np.array([[0.1, 0.5], [0.2, 0.0]])
    np.testing.assert_allclose(
        least_confidence(MULTI, multi_label=True, reduce="none"), per_class_lc, atol=1e-12
    )
    np.testing.assert_allclose(least_confidence(MULTI, multi_label=True), [0.3, 0.1])
    np.testing.assert_allclose(margin(MULTI, multi_label=True, reduce="max"), [1.0, 0.4])

    def h(p):
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    np.testing.assert_allclose(
        entropy(MULTI, multi_label=True, reduce="none"),
        [[h(0.9), math.log(2)], [h(0.2), 0.0]],
        atol=1e-12,
    )
    np.testing.assert_allclose(
        entropy(MULTI, multi_label=True, normalize=True, reduce="max"), [1.0, h(0.2) / math.log(2)]
    )
    with pytest.raises(ValueError, match="two classes"):
        margin(np.array([[1.0]]))


def test_k_center_picks_one_point_per_cluster():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.concatenate([c + 0.1 * rng.standard_normal((10, 2)) for c in centres])
    cluster = np.repeat([0, 1, 2], 10)

    picks = k_center_greedy(points, 3)
    assert sorted(cluster[picks].tolist()) == [0, 1, 2]
    assert len(set(picks)) == 3

    more = k_center_greedy(points, 2, already_selected=[0, 1])  # both in cluster 0
    assert sorted(cluster[more].tolist()) == [1, 2]
    assert not set(more) & {0, 1}

    assert len(k_center_greedy(points, 100, already_selected=range(25))) == 5
    assert k_center_greedy(points, 0) == []
    assert k_center_greedy(points, 3) == picks  # deterministic


def test_decode_segments_filters_blips_and_short_events():
    hop_s = 0.1
    track = np.zeros((50, 2))
    track[10:20, 0] = 0.9  # a 1 s event
    track[30, 0] = 0.95  # a one-frame blip
    track[40:42, 1] = 0.8  # a 0.2 s event of class 1

    raw = decode_segments(track, hop_s=hop_s, threshold=0.5)
    assert [(s.class_index, round(s.start_s, 3), round(s.end_s, 3)) for s in raw] == [
        (0, 1.0, 2.0),
        (0, 3.0, 3.1),
        (1, 4.0, 4.2),
    ]
    assert raw[0].score == pytest.approx(0.9)
    assert isinstance(raw[0], Segment)

    smoothed = decode_segments(track, hop_s=hop_s, threshold=0.5, median_filter_frames=3)
    assert [(s.class_index, s.start_s, s.end_s) for s in smoothed] == [
        (0, pytest.approx(1.0), pytest.approx(2.0)),
        (1, pytest.approx(4.0), pytest.approx(4.2)),
    ]

    long_only = decode_segments(track, hop_s=hop_s, threshold=0.5, min_duration_s=0.3)
    assert [(s.class_index, s.start_s) for s in long_only] == [(0, pytest.approx(1.0))]


def test_decode_segments_hysteresis_and_gap_merging():
    hop_s = 0.02
    track = np.array([0.1, 0.4, 0.6, 0.8, 0.6, 0.4, 0.1, 0.6, 0.6, 0.1, 0.9, 0.1])[:, None]
    plain = decode_segments(track, hop_s=hop_s, threshold=0.7)
    assert [(round(s.start_s / hop_s), round(s.end_s / hop_s)) for s in plain] == [
        (3, 4),
        (10, 11),
    ]
    hysteresis = decode_segments(track, hop_s=hop_s, threshold=0.7, low_threshold=0.5)
    # Frames 2-4 rise above 0.5 around a frame above 0.7; frames 7-8 never reach 0.7.
    assert [(round(s.start_s / hop_s), round(s.end_s / hop_s)) for s in hysteresis] == [
        (2, 5),
        (10, 11),
    ]
    merged = decode_segments(track, hop_s=hop_s, threshold=0.5, min_gap_s=0.05, offset_s=10.0)
    assert [(round((s.start_s - 10) / hop_s), round((s.end_s - 10) / hop_s)) for s in merged] == [
        (2, 11)
    ]
    with pytest.raises(ValueError, match="low_threshold"):
        decode_segments(track, hop_s=hop_s, threshold=0.5, low_threshold=0.6)


class BandDetector(ClipModel):
    """A hand-made 'model': is the loudest frame of one mel band above a level?"""

    architecture = "BandDetector"

    def __init__(self, *, n_mels: int, band: int, level: float) -> None:
        super().__init__()
        self.n_classes, self.n_mels, self.multi_label = 1, n_mels, True
        self.band, self.level = band, level
        self.calls: list[int] = []

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.calls.append(features.shape[0])
        loudest = features[:, self.band, :].amax(dim=1, keepdim=True)
        return 2.0 * (loudest - self.level)


def test_predict_long_pools_a_tone_in_one_part():
    config = LogMelConfig(sample_rate_hz=8000, n_fft=256, hop_length=160, n_mels=16)
    frontend = LogMel(config)
    rate = config.sample_rate_hz
    rng = np.random.default_rng(0)
    signal = (0.001 * rng.standard_normal(10 * rate)).astype(np.float32)  # 10 s of hiss
    signal[4 * rate : 5 * rate] += sine(1000.0, duration_s=1.0, sample_rate_hz=rate)  # 4-5 s
    tone_band = int(
        frontend(torch.from_numpy(signal[None, 4 * rate : 5 * rate]))[0].mean(1).argmax()
    )
    with torch.no_grad():
        hiss = frontend(torch.from_numpy(signal[None, :rate]))[0, tone_band].max()
        tone = frontend(torch.from_numpy(signal[None, 4 * rate : 5 * rate]))[0, tone_band].max()
    model = BandDetector(n_mels=16, band=tone_band, level=float(hiss + tone) / 2)

    kwargs = {"frontend": frontend, "sample_rate_hz": rate, "window_s": 1.0, "hop_s": 1.0}
    top = predict_long(model, signal, pool="max", batch_size=3, **kwargs)
    mean = predict_long(model, signal, pool="mean", batch_size=3, **kwargs)
    assert top.shape == mean.shape == (1,)
    assert top.dtype == np.float32
    assert top[0] > 0.99
    assert 0.08 < mean[0] < 0.12  # one window in ten
    assert model.calls[-4:] == [3, 3, 3, 1]  # ten windows streamed three at a time

    # Window by window: only the window starting at 4 s hears the tone.
    starts, probs = zip(*window_probabilities(model, signal, batch_size=4, **kwargs), strict=True)
    starts_s = np.concatenate(starts)
    per_window = np.concatenate(probs)[:, 0]
    np.testing.assert_allclose(starts_s, np.arange(10.0))
    assert np.flatnonzero(per_window > 0.5).tolist() == [4]
    # Same as cutting all windows up front and classifying them as clips.
    clips = frontend(
        torch.from_numpy(windows(signal, sample_rate_hz=rate, window_s=1.0, hop_s=1.0))
    )
    np.testing.assert_allclose(
        per_window, predict_clips(model, clips.numpy(), batch_size=5)[:, 0], rtol=1e-5
    )
    assert predict_long(model, signal[:0], pool="max", **kwargs).tolist() == [0.0]
    with pytest.raises(ValueError, match="16000 Hz"):
        predict_long(
            model,
            signal,
            frontend=LogMel(LogMelConfig()),
            sample_rate_hz=8000,
            window_s=1.0,
            hop_s=1.0,
        )


def test_predict_clips_and_embeddings():
    torch.manual_seed(0)
    model = ClipCNN(3, n_mels=16, channels=(4, 8)).train()
    features = np.random.default_rng(0).standard_normal((5, 16, 20)).astype(np.float32)
    probs = predict_clips(model, features, batch_size=2)
    assert probs.shape == (5, 3)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.training  # mode restored
    np.testing.assert_allclose(predict_clips(model, features, batch_size=5), probs, rtol=1e-5)
    assert embed_clips(model, features).shape == (5, 16)
    assert predict_clips(model, features[:0]).shape == (0, 3)


def test_predict_frames_with_the_crnn():
    torch.manual_seed(0)
    model = SegmentCRNN(2, n_mels=16, channels=(4, 8), gru_hidden=8)
    features = np.random.default_rng(0).standard_normal((3, 16, 25)).astype(np.float32)
    frames = predict_frames(model, features, batch_size=2)
    assert frames.shape == (3, 25, 2)
    assert ((frames >= 0) & (frames <= 1)).all()
    assert decode_segments(frames[0], hop_s=0.02, threshold=1.1) == []
    with pytest.raises(TypeError):
        predict_frames(ClipCNN(2, n_mels=16), features)
