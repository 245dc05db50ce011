"""Log-mel spectrograms as a torch module (runs on the device its buffers are on)."""

from __future__ import annotations

import librosa
import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from ml_worker.features.config import LogMelConfig


class LogMel(nn.Module):
    """Batched log-mel front-end: ``(batch, samples)`` float32 -> ``(batch, n_mels, frames)``.

    ``frames = 1 + samples // config.hop_length``. The Hann window and the mel filterbank
    (``librosa.filters.mel``, Slaney, shape ``(n_mels, n_fft // 2 + 1)``) are computed once and
    registered as (non-persistent) buffers, so ``.to(device)`` moves the whole computation.
    Values are ``log(mel power + log_offset)``; input samples are expected in [-1, 1].
    """

    window: Tensor
    mel_basis: Tensor

    def __init__(self, config: LogMelConfig) -> None:
        super().__init__()
        self.config = config
        basis = librosa.filters.mel(
            sr=config.sample_rate_hz,
            n_fft=config.n_fft,
            n_mels=config.n_mels,
            fmin=config.fmin_hz,
            fmax=config.fmax_hz_resolved,
        )
        self.register_buffer(
            "window", torch.hann_window(config.n_fft, dtype=torch.float32), persistent=False
        )
        self.register_buffer(
            "mel_basis", torch.from_numpy(np.asarray(basis, dtype=np.float32)), persistent=False
        )

    def forward(self, signals: Tensor) -> Tensor:
        """``signals`` (batch, samples) float32 -> log-mel (batch, n_mels, frames) float32."""
        if signals.ndim != 2:
            raise ValueError(f"expected (batch, samples), got shape {tuple(signals.shape)}")
        spec = torch.stft(
            signals.to(dtype=torch.float32, device=self.window.device),
            n_fft=self.config.n_fft,
            hop_length=self.config.hop_length,
            win_length=self.config.n_fft,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (batch, freq, frames)
        mel = torch.matmul(self.mel_basis, power)  # (batch, n_mels, frames)
        return torch.log(mel + self.config.log_offset)


@torch.no_grad()
def extract_logmel(
    signals: npt.NDArray[np.float32],
    *,
    config: LogMelConfig,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> npt.NDArray[np.float32]:
    """Numpy convenience: ``(n, samples)`` float32 -> ``(n, n_mels, frames)`` float32 (CPU).

    Computes ``batch_size`` signals at a time on ``device``; equal to ``LogMel`` applied to
    each signal on its own (up to float rounding).
    """
    signals = np.asarray(signals, dtype=np.float32)
    if signals.ndim != 2:
        raise ValueError(f"expected (n, samples), got shape {signals.shape}")
    frontend = LogMel(config).to(device)
    n, samples = signals.shape
    out = np.empty((n, config.n_mels, config.n_frames(samples)), dtype=np.float32)
    for start in range(0, n, batch_size):
        batch = torch.from_numpy(signals[start : start + batch_size]).to(device)
        out[start : start + batch_size] = frontend(batch).cpu().numpy()
    return out
