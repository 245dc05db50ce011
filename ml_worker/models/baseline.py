"""The baseline: MFCC statistics + logistic regression, as a torch module on log-mel input.

MFCCs are the type-II orthonormal DCT of the log-mel bins (what ``librosa.feature.mfcc(S=...)``
computes from a log-power mel spectrogram), keeping the first ``n_mfcc`` coefficients. Deltas
use the regression formula over ``delta_width`` frames (what ``librosa.feature.delta`` computes
away from the edges; here the edges repeat the first/last frame). Per clip, the mean and the
standard deviation over time of MFCC, delta and delta-delta are standardised with statistics
of the training set and fed to a linear layer: ``6 * n_mfcc`` inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ml_worker.models.base import ClipModel, check_features


def dct_matrix(n_mfcc: int, n_mels: int) -> Tensor:
    """``(n_mfcc, n_mels)`` float32 matrix M with ``M @ S == dct(S, type=2, norm='ortho')``."""
    basis = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    return torch.from_numpy(np.asarray(basis, dtype=np.float32))


def delta(x: Tensor, width: int = 9) -> Tensor:
    """First time derivative of ``(batch, coeffs, frames)`` by linear regression over ``width``
    frames (odd, >= 3), edges padded by repetition; same shape and dtype as ``x``."""
    if width < 3 or width % 2 == 0:
        raise ValueError("width must be odd and >= 3")
    half = width // 2
    taps = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    kernel = (taps / taps.square().sum()).view(1, 1, width)  # cross-correlation
    batch, coeffs, frames = x.shape
    flat = F.pad(x.reshape(batch * coeffs, 1, frames), (half, half), mode="replicate")
    return F.conv1d(flat, kernel).reshape(batch, coeffs, frames)


class MfccLogReg(ClipModel):
    """MFCC-statistics logistic regression: ``(batch, n_mels, frames)`` -> ``(batch, n_classes)``.

    ``statistics`` gives the raw ``(batch, 6 * n_mfcc)`` clip statistics; ``embed`` the
    standardised ones. ``feature_mean``/``feature_std`` are buffers set by training (they are
    saved in the ``state_dict``). Softmax regression when single-label, one sigmoid per class
    when ``multi_label``.
    """

    architecture = "MfccLogReg"
    dct: Tensor
    feature_mean: Tensor
    feature_std: Tensor

    def __init__(
        self,
        n_classes: int,
        *,
        n_mels: int,
        multi_label: bool = False,
        n_mfcc: int = 20,
        delta_width: int = 9,
    ) -> None:
        super().__init__()
        if not 1 <= n_mfcc <= n_mels:
            raise ValueError("need 1 <= n_mfcc <= n_mels")
        self.n_classes = n_classes
        self.n_mels = n_mels
        self.multi_label = multi_label
        self.n_mfcc = n_mfcc
        self.delta_width = delta_width
        dim = 6 * n_mfcc
        self.register_buffer("dct", dct_matrix(n_mfcc, n_mels), persistent=False)
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_std", torch.ones(dim))
        self.head = nn.Linear(dim, n_classes)

    @property
    def embedding_dim(self) -> int:
        return 6 * self.n_mfcc

    def statistics(self, features: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` -> ``(batch, 6 * n_mfcc)``: mean then std over time of
        [MFCC, delta, delta-delta] (population std; 0 for a single frame)."""
        check_features(features, self.n_mels)
        mfcc = torch.matmul(self.dct, features)  # (batch, n_mfcc, frames)
        d1 = delta(mfcc, self.delta_width)
        d2 = delta(d1, self.delta_width)
        stacked = torch.cat([mfcc, d1, d2], dim=1)  # (batch, 3 * n_mfcc, frames)
        mean = stacked.mean(dim=2)
        std = (stacked - mean.unsqueeze(2)).square().mean(dim=2).sqrt()
        return torch.cat([mean, std], dim=1)

    def standardise(self, stats: Tensor) -> Tensor:
        """Raw statistics -> standardised with the training-set mean/std buffers."""
        return (stats - self.feature_mean) / self.feature_std

    def embed(self, features: Tensor) -> Tensor:
        return self.standardise(self.statistics(features))

    def forward(self, features: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` float32 -> logits ``(batch, n_classes)``."""
        out: Tensor = self.head(self.embed(features))
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "n_classes": self.n_classes,
            "n_mels": self.n_mels,
            "multi_label": self.multi_label,
            "n_mfcc": self.n_mfcc,
            "delta_width": self.delta_width,
        }

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> MfccLogReg:
        return cls(
            int(description["n_classes"]),
            n_mels=int(description["n_mels"]),
            multi_label=bool(description["multi_label"]),
            n_mfcc=int(description["n_mfcc"]),
            delta_width=int(description["delta_width"]),
        )
