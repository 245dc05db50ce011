import librosa
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml_worker.models import ClipCNN, MfccLogReg, SegmentCRNN, build_model
from ml_worker.models.baseline import dct_matrix, delta


def test_clip_cnn_output_shape_and_size():
    torch.manual_seed(0)
    model = ClipCNN(5, n_mels=64).eval()
    x = torch.randn(2, 64, 51)
    assert model(x).shape == (2, 5)
    assert model.embed(x).shape == (2, model.embedding_dim) == (2, 512)
    assert model.n_parameters < 1_000_000
    # Very short inputs still pool down to at least one cell.
    assert model(torch.randn(3, 64, 1)).shape == (3, 5)
    with pytest.raises(ValueError, match="batch, 64, frames"):
        model(torch.randn(2, 32, 51))


def test_segment_crnn_gives_one_row_per_input_frame():
    torch.manual_seed(0)
    model = SegmentCRNN(4, n_mels=64).eval()
    assert model(torch.randn(2, 64, 37)).shape == (2, 37, 4)
    assert model(torch.randn(1, 64, 5)).shape == (1, 5, 4)
    assert model.multi_label
    assert model.n_parameters < 1_000_000


@pytest.mark.parametrize(
    "model",
    [
        ClipCNN(3, n_mels=16, channels=(4, 8), dropout=0.1, multi_label=True),
        SegmentCRNN(2, n_mels=16, channels=(4, 8), gru_hidden=8, gru_layers=2),
        MfccLogReg(3, n_mels=16, n_mfcc=10),
    ],
    ids=lambda m: m.architecture,
)
def test_describe_rebuilds_the_same_model(model):
    description = model.describe()
    assert description["architecture"] == model.architecture
    twin = build_model(description)
    assert twin.describe() == description
    twin.load_state_dict(model.state_dict())
    x = torch.randn(2, 16, 20)
    torch.testing.assert_close(twin.eval()(x), model.eval()(x))


def test_build_model_rejects_an_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model({"architecture": "Transformer9000"})


def test_baseline_statistics_are_librosa_mfcc_and_deltas():
    rng = np.random.default_rng(0)
    logmel = rng.standard_normal((16, 40)).astype(np.float32)
    mfcc = (dct_matrix(8, 16) @ torch.from_numpy(logmel)).numpy()
    np.testing.assert_allclose(mfcc, librosa.feature.mfcc(S=logmel, n_mfcc=8), atol=1e-5)
    ours = delta(torch.from_numpy(mfcc)[None], 9)[0].numpy()
    theirs = librosa.feature.delta(mfcc, width=9)
    np.testing.assert_allclose(ours[:, 4:-4], theirs[:, 4:-4], atol=1e-5)  # away from edges
    stats = MfccLogReg(2, n_mels=16, n_mfcc=8).statistics(torch.from_numpy(logmel)[None])
    assert stats.shape == (1, 48)
    np.testing.assert_allclose(stats[0, :8].numpy(), mfcc.mean(axis=1), atol=1e-5)
    np.testing.assert_allclose(stats[0, 24:32].numpy(), mfcc.std(axis=1), atol=1e-5)


def test_clip_cnn_overfits_one_small_batch():
    torch.manual_seed(0)
    model = ClipCNN(4, n_mels=16, channels=(8, 16), dropout=0.0)
    x = torch.randn(8, 16, 20)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = F.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert first > 1.0
    assert loss.item() < 0.05


def test_segment_crnn_overfits_frame_labels():
    torch.manual_seed(0)
    model = SegmentCRNN(2, n_mels=16, channels=(8, 16), gru_hidden=16, dropout=0.0)
    x = torch.randn(4, 16, 30)
    y = torch.zeros(4, 30, 2)
    y[:, 5:15, 0] = 1.0
    y[:2, 10:25, 1] = 1.0
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
