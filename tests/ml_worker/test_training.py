import dataclasses

import numpy as np
import pytest
import torch

import ml_worker.training.trainer as trainer_module
from ml_worker.training import (
    Cancelled,
    ClassificationMetrics,
    TrainConfig,
    choose_model,
    classification_metrics,
    labelled_set,
    mixup,
    spec_augment,
    split_indices,
    time_shift,
    train_baseline,
    train_clip_classifier,
)

NAMES = ("low", "mid", "high")
# Tiny and quick: 16 mel bins, three conv blocks of 8-32 channels, a dozen epochs.
FAST = TrainConfig(
    epochs=12,
    batch_size=8,
    lr=1e-2,
    val_fraction=0.25,
    cnn_channels=(8, 16, 32),
    early_stopping_patience=None,
    time_mask_frames=5,
    freq_mask_bins=2,
    time_shift_max_frames=3,
)


def test_spec_augment_masks_bands_reproducibly():
    x = torch.arange(2 * 16 * 40, dtype=torch.float32).reshape(2, 16, 40)
    a = spec_augment(x, generator=torch.Generator().manual_seed(3))
    b = spec_augment(x, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert a.shape == x.shape
    changed = a != x
    assert changed.any()
    for row in range(2):
        # Masked cells hold the example's mean; masks are whole rows (freq) or columns (time).
        assert torch.allclose(a[row][changed[row]], x[row].mean())
        masked = changed[row]
        full_rows = masked.all(dim=1)
        full_cols = masked.all(dim=0)
        assert torch.equal(masked, full_rows[:, None] | full_cols[None, :])
        assert full_rows.sum() <= 2 * 8
        assert full_cols.sum() <= 2 * 20


def test_time_shift_rolls_each_example():
    x = torch.arange(3 * 2 * 10, dtype=torch.float32).reshape(3, 2, 10)
    y = time_shift(x, max_frames=4, generator=torch.Generator().manual_seed(0))
    for row in range(3):
        shifts = [k for k in range(-4, 5) if torch.equal(torch.roll(x[row], k, dims=1), y[row])]
        assert len(shifts) == 1
    assert time_shift(x, max_frames=0, generator=torch.Generator()) is x


def test_mixup_is_a_seeded_convex_combination():
    x = torch.eye(4).reshape(4, 1, 4)
    y = torch.eye(4)
    mx, my = mixup(x, y, alpha=0.4, generator=np.random.default_rng(5))
    mx2, my2 = mixup(x, y, alpha=0.4, generator=np.random.default_rng(5))
    torch.testing.assert_close(mx, mx2)
    torch.testing.assert_close(my, my2)
    torch.testing.assert_close(my.sum(dim=1), torch.ones(4))
    assert (my.max(dim=1).values >= 0.5).all()  # every example stays dominant
    torch.testing.assert_close(my.argmax(dim=1), torch.arange(4))
    same = mixup(x, y, alpha=0.0, generator=np.random.default_rng(5))
    assert same[0] is x


def test_split_is_stratified_and_seeded(tones):
    features, labels = tones
    data = labelled_set(features, labels, label_names=NAMES, multi_label=False)
    train, val = split_indices(data, val_fraction=0.25, seed=7)
    assert np.bincount(labels[val]).tolist() == [3, 3, 3]
    assert sorted([*train, *val]) == list(range(36))
    again = split_indices(data, val_fraction=0.25, seed=7)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(split_indices(data, val_fraction=0.25, seed=8)[1], val)
    assert split_indices(data, val_fraction=0.0, seed=7)[1].size == 0


def test_training_separates_three_tones(tones):
    features, labels = tones
    result = train_clip_classifier(features, labels, label_names=NAMES, config=FAST, device="cpu")
    assert result.metrics is not None
    assert result.metrics.accuracy >= 0.9
    assert result.metrics.n_samples == result.n_val == 9
    assert result.n_train == 27
    assert len(result.metrics.confusion_matrix) == 3
    assert result.label_names == NAMES
    assert result.device == "cpu"
    assert result.train_time_s < 5
    assert result.architecture == "ClipCNN"
    model = result.build_model()
    assert not model.training

    baseline = train_baseline(features, labels, label_names=NAMES, config=FAST)
    assert baseline.val_indices == result.val_indices
    assert baseline.metrics is not None
    assert baseline.metrics.accuracy >= 0.9
    # Tones are easy: both are perfect on the held-out clips, and the tie goes to the baseline.
    assert result.metrics.macro_f1 == baseline.metrics.macro_f1 == 1.0
    assert choose_model(result, baseline) is baseline


def test_training_is_deterministic_and_leaves_global_rng_alone(tones):
    features, labels = tones
    config = dataclasses.replace(FAST, epochs=3, mixup_alpha=0.4)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = train_clip_classifier(features, labels, label_names=NAMES, config=config)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(999)  # the global state must not matter
    second = train_clip_classifier(features, labels, label_names=NAMES, config=config)
    assert first.model_state.keys() == second.model_state.keys()
    for name, tensor in first.model_state.items():
        assert torch.equal(tensor, second.model_state[name]), name
    other_seed = train_clip_classifier(
        features, labels, label_names=NAMES, config=dataclasses.replace(config, seed=1)
    )
    assert not torch.equal(first.model_state["head.weight"], other_seed.model_state["head.weight"])


def test_progress_reports_every_epoch_in_order(tones):
    features, labels = tones
    reports = []
    config = dataclasses.replace(FAST, epochs=4)
    train_clip_classifier(
        features, labels, label_names=NAMES, config=config, progress=reports.append
    )
    assert [r.phase for r in reports] == ["preparing"] + ["training"] * 4 + ["done"]
    training = [r for r in reports if r.phase == "training"]
    assert [r.epoch for r in training] == [1, 2, 3, 4]
    assert all(r.epochs == 4 and r.model == "ClipCNN" for r in reports)
    assert all(r.loss is not None and r.loss > 0 for r in training)
    assert all(r.val_metric is not None and 0 <= r.val_metric <= 1 for r in training)
    assert all(r.eta_s is not None and r.eta_s >= 0 for r in training)
    assert training[-1].eta_s == 0
    assert reports[-1].epoch == 4


def test_should_stop_cancels_between_batches(tones):
    features, labels = tones
    polls = []

    def should_stop() -> bool:
        polls.append(1)
        return len(polls) > 5  # 27 clips / batch 8 = 4 batches: stop in epoch 2

    reports = []
    with pytest.raises(Cancelled, match="epoch 2"):
        train_clip_classifier(
            features,
            labels,
            label_names=NAMES,
            config=FAST,
            progress=reports.append,
            should_stop=should_stop,
        )
    assert len(polls) == 6
    assert reports[-1].phase == "training"
    assert reports[-1].epoch == 1
    with pytest.raises(Cancelled):
        train_baseline(features, labels, label_names=NAMES, config=FAST, should_stop=lambda: True)


def test_early_stopping_keeps_the_best_epoch(tones, monkeypatch):
    features, labels = tones
    scores = iter([0.5, 0.8, 0.7, 0.7, 0.6, 0.9])
    real_evaluate = trainer_module.evaluate

    def scripted(*args, **kwargs):
        metrics = real_evaluate(*args, **kwargs)
        return dataclasses.replace(metrics, macro_f1=next(scores), loss=1.0)

    monkeypatch.setattr(trainer_module, "evaluate", scripted)
    config = dataclasses.replace(FAST, epochs=6, early_stopping_patience=3)
    result = train_clip_classifier(features, labels, label_names=NAMES, config=config)
    assert result.epochs_run == 5  # epochs 3, 4, 5 did not beat epoch 2
    assert result.best_epoch == 2
    assert result.metrics.macro_f1 == 0.8
    assert [h.val_metric for h in result.history] == [0.5, 0.8, 0.7, 0.7, 0.6]


def test_multi_label_training_reports_multi_label_metrics(tones):
    features, labels = tones
    # Two overlapping tags: "has the low tone" and "is not the high tone".
    tags = np.stack([labels == 0, labels != 2], axis=1).astype(np.float32)
    config = dataclasses.replace(FAST, epochs=4, mixup_alpha=0.0)
    result = train_clip_classifier(
        features, tags, label_names=("low", "not-high"), config=config, multi_label=True
    )
    assert result.multi_label
    assert result.metrics.multi_label
    assert result.metrics.confusion_matrix is None
    assert 0 <= result.metrics.micro_f1 <= 1
    assert len(result.metrics.per_class_recall) == 2
    baseline = train_baseline(
        features, tags, label_names=("low", "not-high"), config=config, multi_label=True
    )
    assert baseline.metrics.macro_f1 >= 0.9


def test_inputs_are_checked(tones):
    features, labels = tones
    with pytest.raises(ValueError, match="class indices"):
        train_clip_classifier(features, labels + 5, label_names=NAMES, config=FAST)
    with pytest.raises(ValueError, match="multi-label labels"):
        train_clip_classifier(features, labels, label_names=NAMES, config=FAST, multi_label=True)
    with pytest.raises(ValueError, match="val_fraction"):
        TrainConfig(val_fraction=1.0)


def test_single_label_metrics_by_hand():
    probs = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.1, 0.8, 0.1]]
    )
    truth = np.array([0, 1, 1, 2, 2])  # predictions: 0, 1, 0, 2, 1
    m = classification_metrics(probs, truth, multi_label=False)
    assert m.confusion_matrix == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert m.accuracy == pytest.approx(3 / 5)
    assert m.per_class_precision == pytest.approx([1 / 2, 1 / 2, 1.0])
    assert m.per_class_recall == pytest.approx([1.0, 1 / 2, 1 / 2])
    assert m.per_class_f1 == pytest.approx([2 / 3, 1 / 2, 2 / 3])
    assert m.macro_f1 == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    assert m.support == [1, 2, 2]
    assert ClassificationMetrics.from_json(m.to_json()) == m


def test_multi_label_metrics_by_hand():
    probs = np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
    truth = np.array([[1, 0], [0, 1], [0, 1]])  # predictions: [1,0], [1,1], [0,0]
    m = classification_metrics(probs, truth, multi_label=True)
    # class 0: tp 1, fp 1, fn 0; class 1: tp 1, fp 0, fn 1
    assert m.per_class_precision == pytest.approx([0.5, 1.0])
    assert m.per_class_recall == pytest.approx([1.0, 0.5])
    assert m.macro_f1 == pytest.approx(2 / 3)
    assert m.micro_f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m.accuracy == pytest.approx(1 / 3)  # only the first row is exactly right


def _with_f1(result, macro_f1, val_indices=None):
    metrics = dataclasses.replace(result.metrics, macro_f1=macro_f1)
    return dataclasses.replace(
        result, metrics=metrics, val_indices=val_indices or result.val_indices
    )


def test_choose_model_prefers_the_baseline_unless_the_cnn_is_better(tones):
    features, labels = tones
    config = dataclasses.replace(FAST, baseline_max_iter=20)
    base = train_baseline(features, labels, label_names=NAMES, config=config)
    cnn = dataclasses.replace(base, model_description={"architecture": "ClipCNN"})
    assert choose_model(_with_f1(cnn, 0.9), _with_f1(base, 0.8)).architecture == "ClipCNN"
    assert choose_model(_with_f1(cnn, 0.8), _with_f1(base, 0.8)).architecture == "MfccLogReg"
    assert choose_model(_with_f1(cnn, 0.7), _with_f1(base, 0.8)).architecture == "MfccLogReg"
    assert (
        choose_model(_with_f1(cnn, 0.82), _with_f1(base, 0.8), min_gain=0.05).architecture
        == "MfccLogReg"
    )
    unvalidated = dataclasses.replace(cnn, metrics=None)
    assert choose_model(unvalidated, base) is base
    with pytest.raises(ValueError, match="different held-out rows"):
        choose_model(_with_f1(cnn, 0.9, val_indices=(0, 1)), base)
    with pytest.raises(ValueError, match="neither"):
        choose_model(unvalidated, dataclasses.replace(base, metrics=None))


@pytest.mark.parametrize("multi_label", [False, True])
def test_weighted_loss_is_the_weighted_mean_of_the_rows_losses(multi_label):
    rng = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=rng)
    targets = torch.eye(3)[torch.tensor([0, 1, 2, 0, 1, 2])]
    if multi_label:
        targets[0, 1] = 1.0
    plain = trainer_module.loss_fn(logits, targets, multi_label=multi_label, smoothing=0.0)
    ones = trainer_module.loss_fn(
        logits, targets, multi_label=multi_label, smoothing=0.0, weights=torch.ones(6)
    )
    torch.testing.assert_close(ones, plain)
    # a row of weight 0 counts for nothing; weight 2 counts as the row twice
    weights = torch.tensor([0.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    weighted = trainer_module.loss_fn(
        logits, targets, multi_label=multi_label, smoothing=0.0, weights=weights
    )
    rows = torch.tensor([1, 1, 2, 3, 4, 5])
    torch.testing.assert_close(
        weighted,
        trainer_module.loss_fn(logits[rows], targets[rows], multi_label=multi_label, smoothing=0.0),
    )
