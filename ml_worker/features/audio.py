"""Decoding audio files into float32 arrays at a chosen sample rate."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import numpy.typing as npt
import soundfile as sf

# Read with libsndfile directly; anything else (MP3, M4A, ...) goes through librosa.load.
SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus"})


def load_audio(
    path: str | Path,
    *,
    sample_rate_hz: int,
    mono: bool = True,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> npt.NDArray[np.float32]:
    """Decode ``path`` (optionally only ``[offset_s, offset_s + duration_s)`` seconds of it).

    Returns float32 samples in [-1, 1] at ``sample_rate_hz``: shape ``(samples,)`` when ``mono``
    (the channels' mean), else ``(channels, samples)``. WAV/FLAC/OGG/Opus are read with
    soundfile (only the requested part is read); other formats with ``librosa.load``. When
    the file's rate differs, the audio is resampled with ``librosa.resample`` (soxr, high
    quality). Raises ``ValueError`` for a negative offset or duration.
    """
    if offset_s < 0 or (duration_s is not None and duration_s < 0):
        raise ValueError("offset_s and duration_s must be >= 0")
    path = Path(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        data, file_rate_hz = _read_soundfile(path, offset_s=offset_s, duration_s=duration_s)
    else:
        loaded, rate = librosa.load(
            path, sr=None, mono=False, offset=offset_s, duration=duration_s, dtype=np.float32
        )
        data = np.atleast_2d(np.asarray(loaded, dtype=np.float32))
        file_rate_hz = int(rate)
    if mono:
        data = data.mean(axis=0, keepdims=True, dtype=np.float32)
    if file_rate_hz != sample_rate_hz and data.shape[-1] > 0:
        data = librosa.resample(data, orig_sr=file_rate_hz, target_sr=sample_rate_hz, axis=-1)
    out = np.ascontiguousarray(data, dtype=np.float32)
    return out[0] if mono else out


def _read_soundfile(
    path: Path, *, offset_s: float, duration_s: float | None
) -> tuple[npt.NDArray[np.float32], int]:
    """(channels, samples) float32 and the file's sample rate in Hz."""
    with sf.SoundFile(path) as handle:
        rate = int(handle.samplerate)
        start = min(round(offset_s * rate), handle.frames)
        frames = -1 if duration_s is None else round(duration_s * rate)
        handle.seek(start)
        data = handle.read(frames=frames, dtype="float32", always_2d=True)
    return np.ascontiguousarray(np.asarray(data, dtype=np.float32).T), rate
