"""Cutting signals into fixed-length, overlapping windows (the last one zero-padded)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def window_geometry(*, sample_rate_hz: int, window_s: float, hop_s: float) -> tuple[int, int]:
    """``(window_samples, hop_samples)``, each ``round(seconds * sample_rate_hz)`` and >= 1."""
    if window_s <= 0 or hop_s <= 0 or sample_rate_hz <= 0:
        raise ValueError("window_s, hop_s and sample_rate_hz must be positive")
    window_samples = round(window_s * sample_rate_hz)
    hop_samples = round(hop_s * sample_rate_hz)
    if window_samples < 1 or hop_samples < 1:
        raise ValueError("window_s and hop_s must each span at least one sample")
    return window_samples, hop_samples


def count_windows(n_samples: int, *, window_samples: int, hop_samples: int) -> int:
    """Windows that cover ``n_samples``: 0 for an empty signal, else
    ``1 + ceil(max(0, n_samples - window_samples) / hop_samples)``; window ``i`` starts at sample
    ``i * hop_samples`` and the last one may reach past the end (zero padding)."""
    if n_samples <= 0:
        return 0
    return 1 + math.ceil(max(0, n_samples - window_samples) / hop_samples)


def window_batch(
    signal: npt.NDArray[np.float32],
    first: int,
    count: int,
    *,
    window_samples: int,
    hop_samples: int,
) -> npt.NDArray[np.float32]:
    """Windows ``first .. first + count - 1`` of ``signal`` (samples,) as a new
    ``(count, window_samples)`` float32 array, zero-padded past the end of the signal.

    Only those windows' samples are read, so ``signal`` may be a memory map of hours of audio.
    """
    out = np.zeros((count, window_samples), dtype=np.float32)
    n = signal.shape[0]
    for row in range(count):
        start = (first + row) * hop_samples
        stop = min(start + window_samples, n)
        if stop > start:
            out[row, : stop - start] = signal[start:stop]
    return out


def windows(
    signal: npt.NDArray[np.float32],
    *,
    sample_rate_hz: int,
    window_s: float,
    hop_s: float,
) -> npt.NDArray[np.float32]:
    """All windows of a mono ``signal`` (samples,) float32 as ``(n_windows, window_samples)``.

    ``window_samples = round(window_s * sample_rate_hz)``; window ``i`` starts at
    ``i * hop_s`` seconds. Windows are added until one reaches the end of the signal; the last
    is zero-padded. A signal shorter than a window gives one padded window, an empty one gives
    ``(0, window_samples)``. See ``count_windows`` for the count.
    """
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 1:
        raise ValueError(f"expected a mono signal (samples,), got shape {signal.shape}")
    window_samples, hop_samples = window_geometry(
        sample_rate_hz=sample_rate_hz, window_s=window_s, hop_s=hop_s
    )
    n_windows = count_windows(
        signal.shape[0], window_samples=window_samples, hop_samples=hop_samples
    )
    return window_batch(
        signal, 0, n_windows, window_samples=window_samples, hop_samples=hop_samples
    )


def fit_length(signal: npt.NDArray[np.float32], n_samples: int) -> npt.NDArray[np.float32]:
    """``signal`` (samples,) cropped or zero-padded at the end to exactly ``n_samples``."""
    out = np.zeros(n_samples, dtype=np.float32)
    take = min(n_samples, signal.shape[0])
    out[:take] = signal[:take]
    return out
