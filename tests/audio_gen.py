"""Deterministic test audio, generated on the fly (the repository holds no audio files).

Lossless and Ogg formats are written with soundfile; MP3 and M4A are encoded by the ffmpeg
CLI from a temporary WAV, because libsndfile cannot write AAC and its MP3 encoder is not
what real uploads are made with.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import soundfile as sf

ToneFormat = Literal["wav", "flac", "ogg", "opus", "mp3", "m4a"]

_SOUNDFILE_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
}
_FFMPEG_ARGS: dict[str, list[str]] = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "96k", "-f", "mp3"],
    "m4a": ["-c:a", "aac", "-b:a", "96k", "-f", "mp4"],
}


def tone(
    *,
    duration_s: float,
    sample_rate_hz: int = 16000,
    channels: int = 1,
    freq_hz: float = 440.0,
    seed: int = 0,
) -> npt.NDArray[np.float32]:
    """A sine (each channel an octave-ish apart) plus a little seeded noise.

    Returns float32 of shape (frames, channels), peak amplitude about 0.55.
    """
    frames = round(duration_s * sample_rate_hz)
    # Seeded noise keeps lossy encodes (and so their decoded lengths) identical across runs.
    t_s = np.arange(frames, dtype=np.float64) / sample_rate_hz
    rng = np.random.default_rng(seed)
    columns = [
        0.5 * np.sin(2 * np.pi * freq_hz * (1 + 0.5 * ch) * t_s)
        + 0.05 * rng.standard_normal(frames)
        for ch in range(channels)
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def write_tone(
    path: str | Path,
    *,
    duration_s: float,
    sample_rate_hz: int = 16000,
    channels: int = 1,
    freq_hz: float = 440.0,
    fmt: ToneFormat = "wav",
    seed: int = 0,
) -> Path:
    """Write `tone(...)` to `path` in container/codec `fmt`, whatever the path's extension.

    Opus only accepts 8/12/16/24/48 kHz. Returns `path` as a Path.
    """
    path = Path(path)
    samples = tone(
        duration_s=duration_s,
        sample_rate_hz=sample_rate_hz,
        channels=channels,
        freq_hz=freq_hz,
        seed=seed,
    )
    if fmt in _SOUNDFILE_FORMATS:
        container, subtype = _SOUNDFILE_FORMATS[fmt]
        sf.write(path, samples, sample_rate_hz, format=container, subtype=subtype)
        return path
    if fmt not in _FFMPEG_ARGS:
        raise ValueError(f"unknown test audio format {fmt!r}")
    with tempfile.TemporaryDirectory() as tmp_dir:
        wav_path = Path(tmp_dir) / "source.wav"
        sf.write(wav_path, samples, sample_rate_hz, subtype="PCM_16")
        command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav_path)]
        subprocess.run([*command, *_FFMPEG_ARGS[fmt], str(path)], check=True)
    return path
