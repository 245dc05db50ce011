"""Reading a window of audio by seeking, checked against a full decode of the same range."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from backend.audio.decoding import iter_blocks, iter_window_blocks, probe, read_window, tee_blocks
from tests.audio_gen import ToneFormat, write_tone

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
RATE_HZ = 48_000  # opus only takes 8/12/16/24/48 kHz


def _param(fmt: ToneFormat) -> object:
    return pytest.param(fmt, marks=[needs_ffmpeg] if fmt in ("mp3", "m4a") else [], id=fmt)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("windows")
    out = {}
    for fmt in ("wav", "flac", "ogg", "opus", "mp3", "m4a"):
        if fmt in ("mp3", "m4a") and shutil.which("ffmpeg") is None:
            continue
        out[fmt] = write_tone(
            folder / f"w.{fmt}", duration_s=8.0, sample_rate_hz=RATE_HZ, channels=2, fmt=fmt
        )
    return out


@pytest.mark.parametrize("fmt", [_param(f) for f in ("wav", "flac", "ogg", "opus", "mp3", "m4a")])
@pytest.mark.parametrize(("start_s", "duration_s"), [(0.0, 1.5), (3.217, 2.0), (7.0, 5.0)])
def test_read_window_matches_the_full_decode(recordings, fmt, start_s, duration_s):
    # Given a file and its full decode
    path = recordings[fmt]
    info = probe(path)
    full = np.concatenate(list(iter_blocks(path, info=info)))

    # When a window is read by seeking (the last one runs past the end)
    window = read_window(path, info, start_s=start_s, duration_s=duration_s)

    # Then it is the same frames
    first = round(start_s * RATE_HZ)
    expected = full[first : first + round(duration_s * RATE_HZ)]
    assert window.dtype == np.float32
    assert window.shape == expected.shape
    if fmt == "m4a":
        # AAC's noise substitution is random after a seek: the tone matches, the noise
        # (a tenth of it) does not, sample for sample.
        error = np.sqrt(np.mean((window - expected) ** 2) / np.mean(expected**2))
        assert error < 0.15
    else:
        assert np.allclose(window, expected, atol=1e-4)


def test_a_window_after_the_end_is_empty(recordings):
    path = recordings["flac"]
    info = probe(path)
    assert read_window(path, info, start_s=9.0, duration_s=1.0).shape == (0, 2)
    assert read_window(path, info, start_s=1.0, duration_s=0.0).shape == (0, 2)


def test_window_blocks_are_bounded_and_negative_windows_refused(recordings):
    path = recordings["wav"]
    info = probe(path)
    blocks = list(iter_window_blocks(path, info, start_s=1.0, duration_s=1.0, block_frames=10000))
    assert max(len(b) for b in blocks) <= 10000
    assert sum(len(b) for b in blocks) == RATE_HZ
    with pytest.raises(ValueError, match="start_s"):
        list(iter_window_blocks(path, info, start_s=-1.0, duration_s=1.0))


def test_tee_blocks_feeds_every_sink_once(recordings):
    path = recordings["flac"]
    seen: list[int] = []
    total = sum(len(b) for b in tee_blocks(iter_blocks(path), lambda b: seen.append(len(b))))
    assert sum(seen) == total == 8 * RATE_HZ
