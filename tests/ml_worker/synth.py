"""Small deterministic signals for the ML tests (sine tones as classes, noise bursts as events)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ml_worker.features import LogMelConfig, extract_logmel

# Tiny features keep every training test well under a second on one core.
SMALL_CONFIG = LogMelConfig(sample_rate_hz=8000, n_fft=256, hop_length=160, n_mels=16)
TONE_CLASSES_HZ = (300.0, 900.0, 2000.0)


def sine(
    freq_hz: float,
    *,
    duration_s: float,
    sample_rate_hz: int,
    amplitude: float = 0.3,
    noise: float = 0.0,
    seed: int = 0,
) -> npt.NDArray[np.float32]:
    """A sine of ``freq_hz`` with a seeded random phase plus white noise: (samples,) float32."""
    rng = np.random.default_rng(seed)
    t_s = np.arange(round(duration_s * sample_rate_hz)) / sample_rate_hz
    wave = amplitude * np.sin(2 * np.pi * freq_hz * t_s + rng.uniform(0, 2 * np.pi))
    return (wave + noise * rng.standard_normal(t_s.size)).astype(np.float32)


def tone_dataset(
    *, clips_per_class: int = 12, duration_s: float = 1.0, seed: int = 0
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """3 classes of 1 s tones (300/900/2000 Hz, +-5 % jitter, noise): log-mel (n, 16, 51)
    float32 with SMALL_CONFIG, and the (n,) class indices, classes interleaved."""
    rng = np.random.default_rng(seed)
    signals, labels = [], []
    for i in range(clips_per_class):
        for cls, freq in enumerate(TONE_CLASSES_HZ):
            signals.append(
                sine(
                    freq * (1 + 0.05 * rng.standard_normal()),
                    duration_s=duration_s,
                    sample_rate_hz=SMALL_CONFIG.sample_rate_hz,
                    noise=0.05,
                    seed=seed * 1000 + i * 10 + cls,
                )
            )
            labels.append(cls)
    features = extract_logmel(np.stack(signals), config=SMALL_CONFIG)
    return features, np.asarray(labels, dtype=np.int64)
