import dataclasses

import numpy as np
import pytest
import torch

from ml_worker.features import LogMelConfig
from ml_worker.training import (
    FORMAT_VERSION,
    CheckpointError,
    CheckpointVersionError,
    TrainConfig,
    dataset_fingerprint,
    load_checkpoint,
    needs_training,
    save_checkpoint,
    train_baseline,
    train_clip_classifier,
)
from tests.ml_worker.synth import SMALL_CONFIG

NAMES = ("low", "mid", "high")
QUICK = TrainConfig(
    epochs=2, batch_size=8, cnn_channels=(4, 8), val_fraction=0.25, baseline_max_iter=20
)


@pytest.fixture(scope="module")
def trained(tones):
    features, labels = tones
    torch.set_num_threads(1)
    return train_clip_classifier(features, labels, label_names=NAMES, config=QUICK)


def test_checkpoint_round_trip(tmp_path, tones, trained):
    path = tmp_path / "models" / "v1.pt"
    save_checkpoint(path, trained, feature_config=SMALL_CONFIG, data_fingerprint="abc")
    loaded = load_checkpoint(path)
    assert loaded.format_version == FORMAT_VERSION
    assert loaded.architecture == "ClipCNN"
    assert loaded.label_names == NAMES
    assert loaded.feature_config == SMALL_CONFIG
    assert loaded.metrics == trained.metrics
    assert loaded.train_config == QUICK.to_json()
    assert TrainConfig.from_json(loaded.train_config) == QUICK
    assert loaded.data_fingerprint == "abc"
    assert loaded.trained_on == "cpu"
    features, _ = tones
    x = torch.from_numpy(features[:4])
    with torch.no_grad():
        torch.testing.assert_close(loaded.build_model()(x), trained.build_model()(x))
    assert loaded.build_frontend().config == SMALL_CONFIG
    assert [p.name for p in path.parent.iterdir()] == ["v1.pt"]


def test_baseline_checkpoint_keeps_its_standardisation(tmp_path, tones):
    features, labels = tones
    result = train_baseline(features, labels, label_names=NAMES, config=QUICK)
    path = tmp_path / "baseline.pt"
    save_checkpoint(path, result, feature_config=SMALL_CONFIG)
    model = load_checkpoint(path).build_model()
    torch.testing.assert_close(model.feature_std, result.model_state["feature_std"])
    x = torch.from_numpy(features[:4])
    with torch.no_grad():
        torch.testing.assert_close(model(x), result.build_model()(x))


def test_other_format_version_is_refused_clearly(tmp_path, trained):
    path = tmp_path / "future.pt"
    save_checkpoint(path, trained, feature_config=SMALL_CONFIG, format_version=FORMAT_VERSION + 1)
    with pytest.raises(CheckpointVersionError, match="version 2, this worker reads version 1"):
        load_checkpoint(path)


def test_foreign_or_damaged_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not an Earmark model checkpoint"):
        load_checkpoint(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(garbage)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_must_match_its_feature_config(tmp_path, trained):
    with pytest.raises(ValueError, match="n_mels"):
        save_checkpoint(tmp_path / "x.pt", trained, feature_config=LogMelConfig())


def test_a_crash_while_saving_leaves_no_half_file(tmp_path, trained, monkeypatch):
    path = tmp_path / "model.pt"

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, trained, feature_config=SMALL_CONFIG)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file
    monkeypatch.undo()

    save_checkpoint(path, trained, feature_config=SMALL_CONFIG, data_fingerprint="old")
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, trained, feature_config=SMALL_CONFIG, data_fingerprint="new")
    monkeypatch.undo()
    assert path.read_bytes() == before  # the previous model survives intact
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert load_checkpoint(path).data_fingerprint == "old"


def test_needs_training_only_when_something_changed(tmp_path, trained):
    labels = np.array([0, 1, 2, 1])
    fingerprint = dataset_fingerprint(["a:1", "b:1", "c:1", "d:2"], labels, NAMES, config=QUICK)
    path = tmp_path / "m.pt"
    assert needs_training(path, data_fingerprint=fingerprint, feature_config=SMALL_CONFIG)
    save_checkpoint(path, trained, feature_config=SMALL_CONFIG, data_fingerprint=fingerprint)
    assert not needs_training(path, data_fingerprint=fingerprint, feature_config=SMALL_CONFIG)

    relabelled = dataset_fingerprint(
        ["a:1", "b:1", "c:1", "d:2"], np.array([0, 1, 2, 2]), NAMES, config=QUICK
    )
    new_version = dataset_fingerprint(["a:1", "b:1", "c:1", "d:3"], labels, NAMES, config=QUICK)
    retuned = dataset_fingerprint(
        ["a:1", "b:1", "c:1", "d:2"], labels, NAMES, config=dataclasses.replace(QUICK, lr=1e-4)
    )
    assert len({fingerprint, relabelled, new_version, retuned}) == 4
    assert needs_training(path, data_fingerprint=relabelled, feature_config=SMALL_CONFIG)
    other_features = dataclasses.replace(SMALL_CONFIG, hop_length=80)
    assert needs_training(path, data_fingerprint=fingerprint, feature_config=other_features)
    path.write_bytes(b"damaged")
    assert needs_training(path, data_fingerprint=fingerprint, feature_config=SMALL_CONFIG)
