"""Segment detector: frame targets, event-based F1, splits, training, long-file detection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_worker.features import LogMel
from ml_worker.inference import DecodeConfig, detect_segments, frame_probabilities_long
from ml_worker.models import SegmentCRNN
from ml_worker.training import (
    Cancelled,
    Event,
    Recording,
    SegmentTrainConfig,
    event_metrics,
    frame_targets,
    load_checkpoint,
    save_checkpoint,
    segment_examples,
    split_recordings,
    train_segment_detector,
)
from tests.ml_worker.synth import SMALL_CONFIG, sine

RATE = SMALL_CONFIG.sample_rate_hz
NAMES = ("beep", "whistle")
FREQS_HZ = {"beep": 600.0, "whistle": 2400.0}
FAST = SegmentTrainConfig(
    window_s=4.0,
    window_hop_s=2.0,
    epochs=12,
    batch_size=8,
    lr=1e-2,
    val_fraction=0.25,
    cnn_channels=(8, 16),
    gru_hidden=16,
    dropout=0.1,
    early_stopping_patience=None,
    freq_mask_bins=2,
    decode=DecodeConfig(median_filter_s=0.1, min_duration_s=0.1, min_gap_s=0.1),
)


def soundscape(seed: int, *, duration_s: float = 12.0) -> Recording:
    """Noise with 4-6 tone events of 0.4-1.5 s (two labels, no overlap), known times."""
    rng = np.random.default_rng(seed)
    signal = (0.02 * rng.standard_normal(round(duration_s * RATE))).astype(np.float32)
    events: list[Event] = []
    t_s = rng.uniform(0.3, 1.0)
    while t_s < duration_s - 2.0:
        label = NAMES[int(rng.integers(2))]
        length_s = float(rng.uniform(0.4, 1.5))
        start = round(t_s * RATE)
        tone = sine(FREQS_HZ[label], duration_s=length_s, sample_rate_hz=RATE, seed=seed)
        signal[start : start + tone.size] += tone
        events.append(Event(start / RATE, (start + tone.size) / RATE, label))
        t_s += length_s + rng.uniform(0.5, 2.0)
    return Recording(signal=signal, events=tuple(events))


def test_frame_targets_mark_frames_centred_inside_each_event():
    hop_s = 0.1
    events = [Event(0.25, 0.55, "beep"), Event(0.4, 0.9, "whistle")]

    targets = frame_targets(events, label_names=NAMES, n_frames=12, hop_s=hop_s)

    assert targets.shape == (12, 2)
    assert np.flatnonzero(targets[:, 0]).tolist() == [3, 4, 5]
    assert np.flatnonzero(targets[:, 1]).tolist() == [4, 5, 6, 7, 8]
    shifted = frame_targets(events, label_names=NAMES, n_frames=3, hop_s=hop_s, offset_s=0.3)
    assert shifted[:, 0].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="not in label_names"):
        frame_targets([Event(0, 1, "cat")], label_names=NAMES, n_frames=3, hop_s=hop_s)


def test_event_metrics_apply_onset_and_offset_collars():
    reference = [[Event(1.0, 2.0, "beep"), Event(5.0, 10.0, "whistle")]]

    exact = event_metrics(reference, reference, label_names=NAMES)
    # Onset 150 ms late: inside the 200 ms collar; offset 0.9 s early on a 5 s event:
    # inside max(200 ms, 20 % * 5 s = 1 s).
    near = event_metrics(
        reference,
        [[Event(1.15, 2.1, "beep"), Event(5.1, 9.1, "whistle")]],
        label_names=NAMES,
    )
    # Onset 250 ms late; offset 0.3 s late on a 1 s event (collar 200 ms); wrong label.
    off = event_metrics(
        reference,
        [[Event(1.25, 2.0, "beep"), Event(5.0, 10.0, "beep"), Event(1.0, 2.3, "beep")]],
        label_names=NAMES,
    )

    assert exact.f1 == 1.0
    assert exact.macro_f1 == 1.0
    assert near.f1 == 1.0
    assert off.f1 == 0.0
    assert off.n_detected == 3
    assert off.n_reference == 2
    assert off.per_label_precision == [0.0, 0.0]


def test_event_metrics_match_one_to_one():
    reference = [[Event(1.0, 2.0, "beep")]]
    twice = [[Event(1.0, 2.0, "beep"), Event(1.05, 2.05, "beep")]]

    metrics = event_metrics(reference, twice, label_names=NAMES)

    assert metrics.recall == 1.0
    assert metrics.precision == 0.5
    assert metrics.f1 == pytest.approx(2 / 3)


def test_split_recordings_holds_out_whole_recordings_or_cuts_one_in_a_quiet_place():
    many = [soundscape(seed) for seed in range(4)]
    train, val = split_recordings(many, val_fraction=0.25, seed=0, sample_rate_hz=RATE)
    assert len(train) == 3
    assert len(val) == 1

    one = Recording(
        signal=np.zeros(10 * RATE, dtype=np.float32),
        events=(Event(7.5, 8.5, "beep"), Event(1.0, 2.0, "whistle")),
    )
    train, val = split_recordings([one], val_fraction=0.2, seed=0, sample_rate_hz=RATE)
    # 80 % would cut the 7.5-8.5 s event; the cut moves to its end (within 10 % of 10 s).
    assert train[0].signal.size == round(8.5 * RATE)
    assert train[0].events == (Event(7.5, 8.5, "beep"), Event(1.0, 2.0, "whistle"))
    assert val[0].signal.size == round(1.5 * RATE)
    assert val[0].events == ()


def test_segment_examples_cut_windows_with_aligned_targets():
    recording = soundscape(1)

    examples = segment_examples(
        [recording],
        label_names=NAMES,
        feature_config=SMALL_CONFIG,
        window_s=4.0,
        window_hop_s=2.0,
    )

    frames = SMALL_CONFIG.n_frames(4 * RATE)
    assert examples.features.shape == (5, SMALL_CONFIG.n_mels, frames)
    assert examples.targets.shape == (5, frames, 2)
    assert examples.start_s.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    first = recording.events[0]
    window = int(first.start_s // 2) * 2 - 2 if first.start_s >= 2 else 0
    row = examples.start_s.tolist().index(float(window))
    centre = round(((first.start_s + first.end_s) / 2 - window) / SMALL_CONFIG.hop_s)
    assert examples.targets[row, centre, NAMES.index(first.label)] == 1.0


def test_train_segment_detector_finds_held_out_events_and_checkpoints(tmp_path):
    recordings = [soundscape(seed) for seed in range(6)]
    reports = []

    result = train_segment_detector(
        recordings,
        label_names=NAMES,
        feature_config=SMALL_CONFIG,
        config=FAST,
        progress=reports.append,
    )

    assert result.metrics is not None
    assert result.n_val_recordings == 2  # round(0.25 * 6)
    assert result.metrics.f1 >= 0.8, result.metrics
    assert next(r.phase for r in reports) == "preparing"
    assert reports[-1].phase == "done"
    assert len([r for r in reports if r.phase == "training"]) == result.epochs_run
    path = tmp_path / "detector.pt"
    save_checkpoint(path, result, feature_config=SMALL_CONFIG)
    checkpoint = load_checkpoint(path)
    assert checkpoint.metrics is None
    assert checkpoint.event_metrics == result.metrics
    assert SegmentTrainConfig.from_json(checkpoint.train_config) == FAST
    model = checkpoint.build_model()
    assert isinstance(model, SegmentCRNN)

    # Detection on a new, longer recording with the checkpoint's windows and decoding.
    fresh = soundscape(99, duration_s=30.0)
    found = detect_segments(
        model,
        fresh.signal,
        frontend=checkpoint.build_frontend(),
        window_s=FAST.window_s,
        hop_s=FAST.window_hop_s,
        decode=FAST.decode,
    )
    detected = [Event(s.start_s, s.end_s, NAMES[s.class_index]) for s in found]
    assert event_metrics([list(fresh.events)], [detected], label_names=NAMES).f1 >= 0.8
    assert all(0.5 <= s.score <= 1.0 for s in found)


def test_train_segment_detector_is_deterministic_and_cancellable():
    recordings = [soundscape(seed) for seed in range(3)]
    quick = SegmentTrainConfig(**{**FAST.__dict__, "epochs": 2})

    a = train_segment_detector(
        recordings, label_names=NAMES, feature_config=SMALL_CONFIG, config=quick
    )
    b = train_segment_detector(
        recordings, label_names=NAMES, feature_config=SMALL_CONFIG, config=quick
    )

    assert all(torch.equal(a.model_state[k], b.model_state[k]) for k in a.model_state)
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        train_segment_detector(
            recordings,
            label_names=NAMES,
            feature_config=SMALL_CONFIG,
            config=quick,
            should_stop=lambda: next(calls) >= 3,
        )


def test_frame_probabilities_long_covers_every_frame_and_matches_one_window():
    torch.manual_seed(0)
    model = SegmentCRNN(2, n_mels=SMALL_CONFIG.n_mels, channels=(4,), gru_hidden=4).eval()
    frontend = LogMel(SMALL_CONFIG)
    signal = sine(600.0, duration_s=9.3, sample_rate_hz=RATE, noise=0.1)

    probs = frame_probabilities_long(model, signal, frontend=frontend, window_s=4.0, hop_s=2.0)
    short = signal[: 3 * RATE]
    single = frame_probabilities_long(model, short, frontend=frontend, window_s=4.0, hop_s=2.0)
    with torch.no_grad():
        direct = model.probabilities(model(frontend(torch.from_numpy(short)[None])))[0].numpy()

    assert probs.shape == (SMALL_CONFIG.n_frames(signal.size), 2)
    assert np.isfinite(probs).all()
    assert ((probs >= 0) & (probs <= 1)).all()
    # A signal shorter than a window: one zero-padded window, so frames match up to the
    # padding's effect on the recurrent layer; the first frames are identical in shape.
    assert single.shape == direct.shape
