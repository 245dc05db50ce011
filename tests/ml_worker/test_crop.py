"""Random time crops of log-mel batches (training augmentation of the clip CNN)."""

from __future__ import annotations

import torch

from ml_worker.training import TrainConfig, random_crop, train_clip_classifier
from tests.ml_worker.synth import tone_dataset


def test_random_crop_takes_consecutive_frames_per_example_reproducibly():
    x = torch.arange(3 * 2 * 10, dtype=torch.float32).reshape(3, 2, 10)

    a = random_crop(x, frames=4, generator=torch.Generator().manual_seed(1))
    b = random_crop(x, frames=4, generator=torch.Generator().manual_seed(1))

    assert a.shape == (3, 2, 4)
    assert torch.equal(a, b)
    for row in range(3):
        start = int(a[row, 0, 0] - x[row, 0, 0])
        assert torch.equal(a[row], x[row, :, start : start + 4])
    assert random_crop(x, frames=12, generator=torch.Generator()) is x


def test_clip_classifier_trains_on_crops_and_evaluates_whole_clips():
    features, labels = tone_dataset()
    config = TrainConfig(
        epochs=12,
        batch_size=8,
        lr=1e-2,
        val_fraction=0.25,
        cnn_channels=(8, 16, 32),
        crop_frames=20,
        early_stopping_patience=None,
        time_mask_frames=5,
        freq_mask_bins=2,
    )

    result = train_clip_classifier(
        features, labels, label_names=("low", "mid", "high"), config=config
    )

    assert result.metrics is not None
    assert result.metrics.accuracy >= 0.8
    assert TrainConfig.from_json(result.config.to_json()).crop_frames == 20
