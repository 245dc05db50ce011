"""Waveform peaks: streaming min/max against a brute-force reference, .dat I/O, slicing."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from backend.audio.decoding import iter_blocks
from backend.audio.peaks import (
    PEAK_LEVELS,
    PeaksLevel,
    choose_level,
    compute_peaks,
    read_dat,
    read_dat_range,
    slice_level,
    to_wavesurfer,
    write_dat,
)
from tests.audio_gen import write_tone

SAMPLE_RATE_HZ = 8000


def brute_force_peaks(
    signal: npt.NDArray[np.float32], samples_per_bin: int
) -> npt.NDArray[np.int8]:
    """One bin at a time, straight from the definition: floor(min*127), ceil(max*127)."""
    bins = []
    for start in range(0, len(signal), samples_per_bin):
        chunk = signal[start : start + samples_per_bin].astype(np.float64)
        low = np.clip(np.floor(chunk.min(axis=0) * 127), -127, 127)
        high = np.clip(np.ceil(chunk.max(axis=0) * 127), -127, 127)
        bins.append(np.stack([low, high], axis=-1))
    return np.array(bins, dtype=np.int8).reshape(-1, signal.shape[1], 2)


def random_signal(frames: int, channels: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """Uniform noise in about [-1.1, 1.1], so clipping is exercised too."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.1, 1.1, size=(frames, channels)).astype(np.float32)


def in_blocks(
    signal: npt.NDArray[np.float32], block_frames: int
) -> Iterator[npt.NDArray[np.float32]]:
    for start in range(0, len(signal), block_frames):
        yield signal[start : start + block_frames]


@pytest.mark.parametrize("block_frames", [1, 100, 255, 257, 1000, 4093])
def test_finest_level_matches_brute_force_across_block_boundaries(block_frames: int) -> None:
    # Given a stereo random signal with a partial last bin, fed in blocks whose size is not
    # a multiple of 256 (so bins straddle blocks), after an empty and a tiny block
    signal = random_signal(256 * 37 + 101, channels=2)
    blocks = [signal[:0], signal[:3], *in_blocks(signal[3:], block_frames)]

    # When peaks are computed
    pyramid = compute_peaks(blocks, sample_rate_hz=SAMPLE_RATE_HZ, channels=2)

    # Then the finest level equals the one-bin-at-a-time reference
    assert pyramid.frames == len(signal)
    assert pyramid.levels[256].dtype == np.int8
    np.testing.assert_array_equal(pyramid.levels[256], brute_force_peaks(signal, 256))


@pytest.mark.parametrize("samples_per_bin", PEAK_LEVELS)
def test_every_level_matches_brute_force(samples_per_bin: int) -> None:
    # Given a mono signal long enough for several coarsest bins, in 4093-frame blocks
    signal = random_signal(65536 * 3 + 12345, channels=1, seed=3)

    # When peaks are computed
    pyramid = compute_peaks(in_blocks(signal, 4093), sample_rate_hz=SAMPLE_RATE_HZ, channels=1)

    # Then each level, though reduced from the finer one, equals brute force at its size
    expected = brute_force_peaks(signal, samples_per_bin)
    assert pyramid.levels[samples_per_bin].shape == (-(-len(signal) // samples_per_bin), 1, 2)
    np.testing.assert_array_equal(pyramid.levels[samples_per_bin], expected)


def test_quantisation_keeps_quiet_audio_visible_and_silence_flat() -> None:
    # Given one bin of digital silence, one of faint hiss, one of clipping, one with NaN
    faint = np.full(256, 0.001, dtype=np.float32)
    loud = np.full(256, 3.0, dtype=np.float32)
    with_nan = np.zeros(256, dtype=np.float32)
    with_nan[10] = np.nan
    signal = np.concatenate([np.zeros(256, np.float32), faint, -loud, with_nan])[:, None]

    # When peaks are computed
    peaks = compute_peaks([signal], sample_rate_hz=SAMPLE_RATE_HZ, channels=1).levels[256]

    # Then silence is 0, hiss still spans a step, clipping saturates, NaN reads as 0
    assert peaks[:, 0, :].tolist() == [[0, 0], [0, 1], [-127, -127], [0, 0]]


def test_compute_peaks_of_nothing_has_empty_levels() -> None:
    # Given no blocks at all
    # When peaks are computed
    pyramid = compute_peaks([], sample_rate_hz=SAMPLE_RATE_HZ, channels=2)

    # Then every level exists and is empty
    assert pyramid.frames == 0
    assert all(level.shape == (0, 2, 2) for level in pyramid.levels.values())


def test_levels_must_be_multiples_of_each_other() -> None:
    # Given levels where 1000 is not a multiple of 256
    # When peaks are computed, then it is refused up front
    with pytest.raises(ValueError, match="not a multiple"):
        compute_peaks([], sample_rate_hz=SAMPLE_RATE_HZ, channels=1, levels=(256, 1000))


def test_blocks_with_the_wrong_channel_count_are_refused() -> None:
    # Given a stereo block for a mono pyramid
    # When it is fed, then the mismatch is reported
    with pytest.raises(ValueError, match=r"shape \(frames, 1\)"):
        compute_peaks([np.zeros((10, 2), np.float32)], sample_rate_hz=8000, channels=1)


def test_peaks_of_a_decoded_file_match_brute_force(tmp_path: Path) -> None:
    # Given a stereo WAV streamed by the decoder in blocks that don't divide 256
    path = write_tone(tmp_path / "tone.wav", duration_s=2.0, channels=2)
    samples, _ = sf.read(path, dtype="float32", always_2d=True)

    # When peaks are computed from the stream
    pyramid = compute_peaks(iter_blocks(path, block_frames=3000), sample_rate_hz=16000, channels=2)

    # Then they equal the reference computed from the whole file
    assert (pyramid.sample_rate_hz, pyramid.channels, pyramid.frames) == (16000, 2, 32000)
    np.testing.assert_array_equal(pyramid.levels[1024], brute_force_peaks(samples, 1024))


def test_dat_round_trip_uses_the_audiowaveform_v2_layout() -> None:
    # Given a stereo pyramid
    signal = random_signal(1024 * 5 + 7, channels=2)
    pyramid = compute_peaks([signal], sample_rate_hz=44100, channels=2)

    # When one level is written as .dat and read back
    buffer = io.BytesIO()
    written = write_dat(pyramid, 1024, buffer)
    raw = buffer.getvalue()
    level = read_dat(io.BytesIO(raw))

    # Then the header is v2 8-bit, the body is min,max per channel per bin, and nothing is lost
    assert written == len(raw) == 24 + 6 * 2 * 2
    assert struct.unpack("<iIiiIi", raw[:24]) == (2, 1, 44100, 1024, 6, 2)
    first_bin = pyramid.levels[1024][0]
    assert struct.unpack("<4b", raw[24:28]) == (*first_bin[0], *first_bin[1])
    assert (level.sample_rate_hz, level.samples_per_bin, level.channels) == (44100, 1024, 2)
    np.testing.assert_array_equal(level.data, pyramid.levels[1024])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda raw: raw[:10], "header is truncated"),
        (lambda raw: raw[:-1], "truncated .dat"),
        (lambda raw: struct.pack("<i", 1) + raw[4:], "unsupported .dat"),
    ],
    ids=["short-header", "short-body", "version-1"],
)
def test_read_dat_rejects_damaged_files(mangle: object, message: str) -> None:
    # Given a valid .dat file, damaged
    pyramid = compute_peaks([random_signal(2048, 1)], sample_rate_hz=8000, channels=1)
    buffer = io.BytesIO()
    write_dat(pyramid, 256, buffer)
    damaged = mangle(buffer.getvalue())  # type: ignore[operator]

    # When it is read, then the damage is reported
    with pytest.raises(ValueError, match=message):
        read_dat(io.BytesIO(damaged))


def _level(bins: int, samples_per_bin: int = 100, sample_rate_hz: int = 1000) -> PeaksLevel:
    data = np.arange(bins * 2, dtype=np.int8).reshape(bins, 1, 2)
    return PeaksLevel(sample_rate_hz, samples_per_bin, 1, data)


def test_slice_level_keeps_bins_overlapping_the_span() -> None:
    # Given 50 bins of 0.1 s each
    level = _level(50)

    # When [1.25 s, 2.01 s) is sliced
    sliced = slice_level(level, start_s=1.25, end_s=2.01)

    # Then bins 12..20 are kept and the slice knows it starts at 1.2 s
    assert sliced.start_bin == 12
    assert sliced.start_s == pytest.approx(1.2)
    np.testing.assert_array_equal(sliced.data, level.data[12:21])


def test_slice_level_handles_open_ends_clamping_and_nesting() -> None:
    # Given 50 bins of 0.1 s each
    level = _level(50)

    # When sliced with open ends, out-of-range times, reversed times, and a slice of a slice
    whole = slice_level(level, start_s=None, end_s=None)
    clamped = slice_level(level, start_s=-3.0, end_s=99.0)
    reversed_span = slice_level(level, start_s=3.0, end_s=1.0)
    nested = slice_level(slice_level(level, start_s=1.0, end_s=4.0), start_s=2.0, end_s=2.5)

    # Then times are absolute, clamped, and never produce a negative span
    assert whole.bins == clamped.bins == 50
    assert reversed_span.bins == 0
    assert (nested.start_bin, nested.bins) == (20, 5)
    np.testing.assert_array_equal(nested.data, level.data[20:25])


def test_read_dat_range_equals_slicing_the_whole_file() -> None:
    # Given a .dat file of a 3 s stereo signal at 256 samples per bin
    signal = random_signal(3 * 8000, channels=2)
    pyramid = compute_peaks([signal], sample_rate_hz=8000, channels=2)
    buffer = io.BytesIO()
    write_dat(pyramid, 256, buffer)

    # When a span is read directly from the file
    buffer.seek(0)
    ranged = read_dat_range(buffer, start_s=0.7, end_s=1.9)

    # Then it equals slicing the fully read level
    expected = slice_level(read_dat(io.BytesIO(buffer.getvalue())), start_s=0.7, end_s=1.9)
    assert ranged.start_bin == expected.start_bin == 21
    np.testing.assert_array_equal(ranged.data, expected.data)


@pytest.mark.parametrize(
    ("duration_s", "target_bins", "expected"),
    [
        (10.0, 2000, 256),  # 1723 bins at 256: fits
        (60.0, 2000, 4096),  # 10336 at 256, 2584 at 1024, 646 at 4096
        (3 * 3600.0, 1000, 65536),  # nothing fits: coarsest
        (0.0, 1, 256),
    ],
)
def test_choose_level_picks_the_finest_that_fits(
    duration_s: float, target_bins: int, expected: int
) -> None:
    # Given 44.1 kHz audio and the default levels, listed out of order
    levels = list(reversed(PEAK_LEVELS))

    # When a level is chosen for the span
    chosen = choose_level(
        levels, duration_s=duration_s, sample_rate_hz=44100, target_bins=target_bins
    )

    # Then it is the finest whose bin count does not exceed the target
    assert chosen == expected


def test_to_wavesurfer_interleaves_min_max_per_channel() -> None:
    # Given two bins of stereo peaks
    data = np.array([[[-127, 127], [-1, 2]], [[0, 64], [-50, -3]]], dtype=np.int8)
    level = PeaksLevel(8000, 256, 2, data)

    # When converted for wavesurfer.js
    channels = to_wavesurfer(level)

    # Then each channel is [min0, max0, min1, max1] in [-1, 1], rounded to 3 decimals
    assert channels == [
        [-1.0, 1.0, 0.0, 0.504],
        [-0.008, 0.016, -0.394, -0.024],
    ]
