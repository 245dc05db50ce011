"""Multi-resolution waveform peaks (min/max per bin), stored like BBC audiowaveform's .dat.

Pure numpy. Peaks are int8 in [-127, 127] (audiowaveform's 8-bit mode): a 3-hour 44.1 kHz
stereo file costs 7.4 MB at 256 samples per bin instead of 15 MB as int16, and one step
(~0.8% of full scale) is below what a waveform a few hundred pixels tall can show.
Quantisation floors minima and ceils maxima, so a drawn bin always spans its true samples
and quiet-but-not-silent audio never renders as a flat line.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

PEAK_LEVELS: tuple[int, ...] = (256, 1024, 4096, 16384, 65536)
PEAK_SCALE = 127
DAT_VERSION = 2
_DAT_HEADER = struct.Struct("<iIiiIi")  # version, flags, rate, samples/bin, bins, channels
_DAT_FLAG_8BIT = 0x1
_DAT_MAX_CHANNELS = 24

Peaks = npt.NDArray[np.int8]


@dataclass(frozen=True, eq=False)
class PeaksLevel:
    """One resolution of peaks, possibly a slice of a longer file.

    `data` is int8 of shape (bins, channels, 2): [..., 0] is the bin minimum, [..., 1] the
    maximum, both in [-127, 127] for [-1, 1]. Bin i covers frames
    [(start_bin + i) * samples_per_bin, (start_bin + i + 1) * samples_per_bin).
    """

    sample_rate_hz: int
    samples_per_bin: int
    channels: int
    data: Peaks
    start_bin: int = 0

    @property
    def bins(self) -> int:
        """Number of bins held."""
        return int(self.data.shape[0])

    @property
    def start_s(self) -> float:
        """Time in seconds where the first bin held begins."""
        return self.start_bin * self.samples_per_bin / self.sample_rate_hz


@dataclass(frozen=True, eq=False)
class PeaksPyramid:
    """All resolutions for one file: `levels[samples_per_bin]` is int8 (bins, channels, 2).

    `frames` is the number of frames per channel summarised; each level has
    ceil(frames / samples_per_bin) bins, the last one possibly partial.
    """

    sample_rate_hz: int
    channels: int
    frames: int
    levels: dict[int, Peaks]

    def level(self, samples_per_bin: int) -> PeaksLevel:
        """The level with `samples_per_bin` as a PeaksLevel; KeyError if not computed."""
        return PeaksLevel(
            sample_rate_hz=self.sample_rate_hz,
            samples_per_bin=samples_per_bin,
            channels=self.channels,
            data=self.levels[samples_per_bin],
        )


def compute_peaks(
    blocks: Iterable[npt.NDArray[np.floating]],
    *,
    sample_rate_hz: int,
    channels: int,
    levels: Sequence[int] = PEAK_LEVELS,
) -> PeaksPyramid:
    """Summarise a stream of float blocks of shape (frames, channels), values ~[-1, 1].

    Blocks may have any length; a bin straddling two blocks is carried over. Memory is
    O(largest block) plus the output. Each level must be a multiple of the next finer one:
    only the finest is computed from samples, the others are reduced from it.
    """
    ordered = _validated_levels(levels)
    if sample_rate_hz <= 0 or channels <= 0:
        raise ValueError("sample_rate_hz and channels must be positive")
    # Only the finest level touches samples; int8 bins are 1/256 of the input, so keeping
    # them all in memory is cheap even for hours of audio.
    binner = _FinestBinner(ordered[0], channels)
    for block in blocks:
        binner.feed(block)
    pyramid = {ordered[0]: binner.finish()}
    for finer, coarser in pairwise(ordered):
        pyramid[coarser] = _coarsen(pyramid[finer], coarser // finer)
    return PeaksPyramid(sample_rate_hz, channels, binner.frames, pyramid)


class _FinestBinner:
    """Streaming min/max at one bin size, quantised to int8 as each block arrives."""

    def __init__(self, samples_per_bin: int, channels: int) -> None:
        self.samples_per_bin = samples_per_bin
        self.channels = channels
        self.frames = 0
        self._carry = np.empty((samples_per_bin, channels), dtype=np.float32)
        self._carry_frames = 0
        self._chunks: list[Peaks] = []

    def feed(self, block: npt.NDArray[np.floating]) -> None:
        """Bin one (frames, channels) block (1-D accepted for mono)."""
        samples = np.asarray(block, dtype=np.float32)
        if samples.ndim == 1 and self.channels == 1:
            samples = samples[:, np.newaxis]
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            raise ValueError(
                f"expected blocks of shape (frames, {self.channels}), got {block.shape}"
            )
        self.frames += len(samples)
        if self._carry_frames:
            samples = self._top_up_carry(samples)
            if self._carry_frames:  # the block was too short to complete the bin
                return
        whole_frames = len(samples) - len(samples) % self.samples_per_bin
        if whole_frames:
            self._emit(samples[:whole_frames], self.samples_per_bin)
        remainder = len(samples) - whole_frames
        self._carry[:remainder] = samples[whole_frames:]
        self._carry_frames = remainder

    def finish(self) -> Peaks:
        """All bins so far plus the partial last bin, int8 (bins, channels, 2)."""
        if self._carry_frames:
            self._emit(self._carry[: self._carry_frames], self._carry_frames)
            self._carry_frames = 0
        if not self._chunks:
            return np.zeros((0, self.channels, 2), dtype=np.int8)
        return np.concatenate(self._chunks)

    def _top_up_carry(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Complete the bin left over from the last block; return the unused samples."""
        taken = min(self.samples_per_bin - self._carry_frames, len(samples))
        self._carry[self._carry_frames : self._carry_frames + taken] = samples[:taken]
        self._carry_frames += taken
        if self._carry_frames == self.samples_per_bin:
            self._emit(self._carry, self.samples_per_bin)
            self._carry_frames = 0
        return samples[taken:]

    def _emit(self, samples: npt.NDArray[np.float32], bin_frames: int) -> None:
        """Append min/max of consecutive `bin_frames`-frame bins of `samples`."""
        bins = len(samples) // bin_frames
        # Planar copy first: reducing a contiguous last axis is SIMD-fast, while reducing the
        # middle axis of (bins, bin_frames, channels) is ~25x slower.
        planar = np.ascontiguousarray(samples.T).reshape(self.channels, bins, bin_frames)
        lows = _quantise(planar.min(axis=2).T, np.floor)
        highs = _quantise(planar.max(axis=2).T, np.ceil)
        self._chunks.append(np.stack([lows, highs], axis=-1))


def _quantise(values: npt.NDArray[np.floating], rounding: np.ufunc) -> Peaks:
    """Float amplitudes to int8 in [-127, 127]; NaN reads as 0, overshoot is clipped."""
    scaled: npt.NDArray[np.float64] = rounding(
        np.nan_to_num(values.astype(np.float64)) * PEAK_SCALE
    )
    quantised: Peaks = np.clip(scaled, -PEAK_SCALE, PEAK_SCALE).astype(np.int8)
    return quantised


def _coarsen(finer: Peaks, ratio: int) -> Peaks:
    """Merge every `ratio` consecutive bins (the last group may be short)."""
    # Exact, not an approximation: floor and ceil are monotonic, so the min of quantised
    # minima is the quantised min of the samples (likewise for maxima).
    if len(finer) == 0:
        return finer.copy()
    starts = np.arange(0, len(finer), ratio)
    lows = np.minimum.reduceat(finer[:, :, 0], starts, axis=0)
    highs = np.maximum.reduceat(finer[:, :, 1], starts, axis=0)
    return np.stack([lows, highs], axis=-1)


def _validated_levels(levels: Sequence[int]) -> list[int]:
    """Sorted levels, each a positive multiple of the previous, or ValueError."""
    ordered = sorted(set(levels))
    if not ordered or ordered[0] <= 0:
        raise ValueError(f"levels must be positive samples-per-bin counts, got {levels}")
    for finer, coarser in pairwise(ordered):
        if coarser % finer:
            raise ValueError(f"level {coarser} is not a multiple of level {finer}")
    return ordered


def write_dat(pyramid: PeaksPyramid, level: int, fileobj: BinaryIO) -> int:
    """Write one level as an audiowaveform version 2, 8-bit .dat file; returns bytes written.

    Layout (little-endian): int32 version=2, uint32 flags=1 (8-bit), int32 sample rate,
    int32 samples per pixel, uint32 bins, int32 channels, then per bin per channel min, max.
    """
    peaks = pyramid.levels[level]
    header = _DAT_HEADER.pack(
        DAT_VERSION, _DAT_FLAG_8BIT, pyramid.sample_rate_hz, level, len(peaks), pyramid.channels
    )
    body = np.ascontiguousarray(peaks, dtype=np.int8).tobytes()
    fileobj.write(header)
    fileobj.write(body)
    return len(header) + len(body)


def read_dat(fileobj: BinaryIO) -> PeaksLevel:
    """Read an audiowaveform version 2, 8-bit .dat file; ValueError if it is anything else."""
    header = _read_dat_header(fileobj)
    return _read_dat_bins(fileobj, header, 0, header.bins)


def read_dat_range(
    fileobj: BinaryIO, *, start_s: float | None = None, end_s: float | None = None
) -> PeaksLevel:
    """Like `slice_level(read_dat(fileobj), ...)` but reads only the bins needed.

    `fileobj` must be seekable and positioned at the start of the .dat file.
    """
    header = _read_dat_header(fileobj)
    first, stop = _bin_range(header, start_s, end_s)
    # Fixed-size bins: a zoomed-in view of a 3-hour file reads kilobytes, not megabytes.
    fileobj.seek(first * header.channels * 2, io.SEEK_CUR)
    return _read_dat_bins(fileobj, header, first, stop)


def slice_level(
    level: PeaksLevel, *, start_s: float | None = None, end_s: float | None = None
) -> PeaksLevel:
    """The bins overlapping [start_s, end_s) in seconds from the start of the file.

    None means open-ended; times are clamped to what `level` holds. The result's
    `start_bin`/`start_s` tell where its first bin really starts (at or before start_s).
    `data` is a view, not a copy.
    """
    first, stop = _bin_range(level, start_s, end_s)
    return replace(level, data=level.data[first:stop], start_bin=level.start_bin + first)


@dataclass(frozen=True)
class _DatHeader:
    """The fields of a .dat header that locate bins in time: what `_bin_range` needs."""

    sample_rate_hz: int
    samples_per_bin: int
    channels: int
    bins: int
    start_bin: int = 0


def _read_dat_header(fileobj: BinaryIO) -> _DatHeader:
    """Parse and sanity-check a v2 8-bit header; leaves `fileobj` at the first bin."""
    raw = fileobj.read(_DAT_HEADER.size)
    if len(raw) < _DAT_HEADER.size:
        raise ValueError("not a peaks .dat file: header is truncated")
    version, flags, sample_rate_hz, samples_per_bin, bins, channels = _DAT_HEADER.unpack(raw)
    if version != DAT_VERSION or not flags & _DAT_FLAG_8BIT:
        raise ValueError(f"unsupported .dat: version {version}, flags {flags:#x} (need v2 8-bit)")
    if sample_rate_hz <= 0 or samples_per_bin <= 0 or not 0 < channels <= _DAT_MAX_CHANNELS:
        raise ValueError("not a peaks .dat file: implausible header values")
    return _DatHeader(sample_rate_hz, samples_per_bin, channels, bins)


def _read_dat_bins(fileobj: BinaryIO, header: _DatHeader, first: int, stop: int) -> PeaksLevel:
    """Read bins [first, stop) from the current position, which must be bin `first`."""
    wanted_bytes = (stop - first) * header.channels * 2
    body = fileobj.read(wanted_bytes)
    if len(body) != wanted_bytes:
        raise ValueError(f"truncated .dat: {header.bins} bins promised, data ends early")
    data = np.frombuffer(body, dtype=np.int8).reshape(stop - first, header.channels, 2)
    return PeaksLevel(
        header.sample_rate_hz, header.samples_per_bin, header.channels, data.copy(), first
    )


def _bin_range(
    level: PeaksLevel | _DatHeader, start_s: float | None, end_s: float | None
) -> tuple[int, int]:
    """Indices [first, stop) into the bins `level` holds that overlap [start_s, end_s)."""
    first = 0 if start_s is None else _bin_index(level, start_s, round_up=False)
    stop = level.bins if end_s is None else _bin_index(level, end_s, round_up=True)
    return first, max(first, stop)


def _bin_index(level: PeaksLevel | _DatHeader, time_s: float, *, round_up: bool) -> int:
    """Index of the bin boundary at `time_s`, relative to `level.start_bin`, in [0, bins]."""
    if math.isnan(time_s):
        raise ValueError("time must be a number, got NaN")
    # Callers floor the start and ceil the end so partially covered edge bins are kept.
    relative_bins = time_s * level.sample_rate_hz / level.samples_per_bin - level.start_bin
    relative_bins = min(max(relative_bins, 0.0), float(level.bins))
    return math.ceil(relative_bins) if round_up else math.floor(relative_bins)


def choose_level(
    levels: Sequence[int], *, duration_s: float, sample_rate_hz: int, target_bins: int
) -> int:
    """The finest level showing `duration_s` in at most `target_bins` bins, else the coarsest."""
    if not levels or target_bins <= 0:
        raise ValueError("need at least one level and a positive target_bins")
    span_frames = max(duration_s, 0.0) * sample_rate_hz
    for samples_per_bin in sorted(levels):
        if math.ceil(span_frames / samples_per_bin) <= target_bins:
            return samples_per_bin
    return max(levels)


def to_wavesurfer(level: PeaksLevel) -> list[list[float]]:
    """wavesurfer.js `peaks`: one list per channel of [min0, max0, min1, max1, ...] in [-1, 1].

    Values are rounded to 3 decimals to keep the JSON small.
    """
    # Clip because a .dat from elsewhere may hold -128, one step beyond our range.
    scaled = np.clip(level.data.astype(np.float64) / PEAK_SCALE, -1.0, 1.0).round(3)
    return [scaled[:, channel, :].reshape(-1).tolist() for channel in range(level.channels)]
