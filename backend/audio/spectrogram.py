"""Spectrogram image tiles, time-aligned with the waveform; pure numpy + Pillow, no Django.

Geometry. A zoom level is `px_per_s`, a power of two from 1/64 to 128 pixels per second
(`PX_PER_S_LEVELS`). Tile `index` at a level holds the pixel columns [index * 512, (index + 1)
* 512), column c spanning [c / px_per_s, (c + 1) / px_per_s) seconds. The recording has
ceil(duration_s * px_per_s) columns; the last tile is *narrow*: it holds only the columns that
start within the recording (`LAST_TILE_SHAPE`), so no pixel is ever transparent or padding,
and its last column may reach up to one column's time past the end.

Frequency axis. 256 rows, row 0 at the top. `hz_to_row` gives a position in pixel units from
the top edge (0 = the Nyquist frequency, 256 = 0 Hz); pixel row r spans [r, r + 1) and its
centre frequency is `row_to_hz(r + 0.5)`. Linear: rows evenly spaced in Hz. Mel: HTK mel,
mel = 2595 * log10(1 + hz / 700), rows evenly spaced in mel from 0 Hz to Nyquist.

Power. Hann-windowed frames of `n_fft` samples of the mono mixdown (the channels' mean). A
column at least a frame long shows the mean power of the frames of a fixed grid
([j * n_fft, (j + 1) * n_fft) from the file's start) centred within it, so every sample of
its span is in exactly one frame; a shorter column (fine zooms) gets one frame centred on it:
no frame is repeated or interpolated. Powers are in dBFS: 0 dB is a full-scale sine centred
on an FFT bin. Each row is a triangular filter over the FFT
bins, centred on the row's frequency and reaching to its neighbours' (never narrower than
one bin each side, so rows narrower than a bin interpolate between bins instead of going
dark); its weights sum to 1, so a row shows the mean power per bin in its band and white
noise is level across rows of any width. A full-scale tone on a bin therefore reads 0 dBFS
in a row centred on that bin, ~2 dB less in rows a bin wide centred between bins, and less
again in rows spanning many bins (the top mel rows; linear rows at n_fft 2048).

Colour. [db_min, db_max] maps linearly onto a 256-entry colour map (viridis, magma from ten
published control points each, or gray); PNGs are 8-bit palette (or grayscale) images.

Overview. The worker computes, in the same decode pass as the peaks, the n_fft 1024 tiles'
columns at 8 px/s for both scales and stores them as uint8 dB over -120..0 dBFS
(`OverviewBuilder`); tiles at 8 px/s and coarser with n_fft 1024 come from it
(`overview_row_db`), averaging power over groups of its columns.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

Scale = Literal["mel", "linear"]
ColourMap = Literal["viridis", "magma", "gray"]

SCALES: tuple[Scale, ...] = ("mel", "linear")
N_FFTS: tuple[int, ...] = (512, 1024, 2048)
CMAPS: tuple[ColourMap, ...] = ("viridis", "magma", "gray")
TILE_WIDTH_PX = 512
TILE_HEIGHT_PX = 256
PX_PER_S_LEVELS: tuple[float, ...] = tuple(2.0**exponent for exponent in range(-6, 8))
MEL_FORMULA = "htk"  # mel = 2595 * log10(1 + hz / 700)
LAST_TILE_SHAPE = "narrow"
DB_LIMITS: tuple[float, float] = (-160.0, 20.0)  # what settings may ask for

OVERVIEW_PX_PER_S = 8.0
OVERVIEW_N_FFT = 1024
OVERVIEW_DB_RANGE: tuple[float, float] = (-120.0, 0.0)

_CACHE_VERSION = "v1"
_POWER_FLOOR = 1e-20  # -200 dBFS: digital silence
_DB_FLOOR = -200.0
# zlib level 1: a 512 x 256 palette tile encodes in ~2.6 ms (level 6: ~3.8 ms) for ~2% more
# bytes; noisy spectrograms hardly compress further.
_PNG_COMPRESS_LEVEL = 1
_OVERVIEW_CHUNK_COLUMNS = 16384  # bounds memory when averaging overview columns
_ROW_BATCH_COLUMNS = 64
_ROW_BLOCK = 32  # rows per block of the banded filterbank product

FloatArray = npt.NDArray[np.float32]

# Ten published control points each (matplotlib's maps sampled at k/9), interpolated
# linearly to 256 entries.
_CONTROL_POINTS: dict[str, tuple[str, ...]] = {
    "viridis": (
        "440154", "482878", "3e4a89", "31688e", "26828e",
        "1f9e89", "35b779", "6dcd59", "b4de2c", "fde725",
    ),
    "magma": (
        "000004", "180f3d", "440f76", "721f81", "9e2f7f",
        "cd4071", "f1605d", "fd9668", "fec98d", "fcfdbf",
    ),
    "gray": ("000000", "ffffff"),
}  # fmt: skip


@dataclass(frozen=True)
class SpectrogramSettings:
    """How a tile is computed (`scale`, `n_fft`) and coloured (`db_min`, `db_max`, `cmap`).

    dB bounds are dBFS in steps of 0.1 dB within `DB_LIMITS`, db_min below db_max.
    """

    scale: Scale = "mel"
    n_fft: int = 1024
    db_min: float = -90.0
    db_max: float = -10.0
    cmap: ColourMap = "viridis"

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")
        if self.n_fft not in N_FFTS:
            raise ValueError(f"n_fft must be one of {N_FFTS}, got {self.n_fft!r}")
        if self.cmap not in CMAPS:
            raise ValueError(f"cmap must be one of {CMAPS}, got {self.cmap!r}")
        for name in ("db_min", "db_max"):
            value = getattr(self, name)
            if not DB_LIMITS[0] <= value <= DB_LIMITS[1] or round(value, 1) != value:
                raise ValueError(f"{name} must be a multiple of 0.1 dB within {DB_LIMITS}")
        if self.db_min >= self.db_max:
            raise ValueError("db_min must be below db_max")

    @property
    def key(self) -> str:
        """A short string naming these settings in cache paths, e.g. v1-mel-1024-m90-m10-viridis.

        It changes whenever the image would: with any field, and with `_CACHE_VERSION` when
        the rendering itself changes.
        """
        return (
            f"{_CACHE_VERSION}-{self.scale}-{self.n_fft}-{_db_token(self.db_min)}-"
            f"{_db_token(self.db_max)}-{self.cmap}"
        )


def _db_token(value: float) -> str:
    return f"{value:g}".replace("-", "m")


# --- geometry -----------------------------------------------------------------------------


def is_level(px_per_s: float) -> bool:
    return px_per_s in PX_PER_S_LEVELS


def level_token(px_per_s: float) -> str:
    """The level as it appears in cache paths and headers: "8", "0.5", "0.015625"."""
    return f"{px_per_s:g}"


def total_columns(*, duration_s: float, px_per_s: float) -> int:
    """Pixel columns that start within the recording (at least one)."""
    # The tolerance keeps float noise in duration_s (frames / rate) from adding a column.
    return max(1, math.ceil(duration_s * px_per_s - 1e-6))


def tile_count(*, duration_s: float, px_per_s: float) -> int:
    return math.ceil(total_columns(duration_s=duration_s, px_per_s=px_per_s) / TILE_WIDTH_PX)


@dataclass(frozen=True)
class TileSpec:
    """Where one tile sits: its columns and the seconds they span (end = its right edge)."""

    px_per_s: float
    index: int
    first_column: int
    columns: int

    @property
    def start_s(self) -> float:
        return self.first_column / self.px_per_s

    @property
    def end_s(self) -> float:
        return (self.first_column + self.columns) / self.px_per_s


def tile_spec(*, duration_s: float, px_per_s: float, index: int) -> TileSpec:
    """The tile `index` at level `px_per_s`; ValueError for a non-level or a missing tile."""
    if not is_level(px_per_s):
        raise ValueError(f"px_per_s must be one of {[level_token(p) for p in PX_PER_S_LEVELS]}")
    count = tile_count(duration_s=duration_s, px_per_s=px_per_s)
    if not 0 <= index < count:
        raise ValueError(f"index must be between 0 and {count - 1} at {level_token(px_per_s)}")
    first = index * TILE_WIDTH_PX
    columns = min(TILE_WIDTH_PX, total_columns(duration_s=duration_s, px_per_s=px_per_s) - first)
    return TileSpec(px_per_s=px_per_s, index=index, first_column=first, columns=columns)


# --- frequency axis -----------------------------------------------------------------------


def hz_to_mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: float) -> float:
    return 700.0 * (math.pow(10.0, mel / 2595.0) - 1.0)


def hz_to_row(
    hz: float, *, scale: Scale, nyquist_hz: float, height_px: int = TILE_HEIGHT_PX
) -> float:
    """Vertical position of `hz` in pixels from the top edge: 0 at Nyquist, height_px at 0 Hz."""
    fraction = hz_to_mel(hz) / hz_to_mel(nyquist_hz) if scale == "mel" else hz / nyquist_hz
    return height_px * (1.0 - fraction)


def row_to_hz(
    row: float, *, scale: Scale, nyquist_hz: float, height_px: int = TILE_HEIGHT_PX
) -> float:
    """The inverse of `hz_to_row`; pixel row r's centre frequency is row_to_hz(r + 0.5)."""
    fraction = 1.0 - row / height_px
    if scale == "mel":
        return mel_to_hz(fraction * hz_to_mel(nyquist_hz))
    return fraction * nyquist_hz


@functools.lru_cache(maxsize=32)
def row_filterbank(
    *, scale: Scale, n_fft: int, sample_rate_hz: int, height_px: int = TILE_HEIGHT_PX
) -> FloatArray:
    """Weights (height_px, n_fft // 2 + 1): row r's power is weights[r] @ bin_power.

    Triangles centred on each row's centre frequency, falling to zero at the neighbouring
    rows' centres or one FFT bin away, whichever is further; each row sums to 1. Read-only
    (cached).
    """
    nyquist_hz = sample_rate_hz / 2
    bins_hz = np.arange(n_fft // 2 + 1) * (sample_rate_hz / n_fft)
    bin_hz = sample_rate_hz / n_fft
    # Centres of rows -1 .. height_px: row r's neighbours are r - 1 (above) and r + 1 (below).
    edges = [
        row_to_hz(r + 0.5, scale=scale, nyquist_hz=nyquist_hz, height_px=height_px)
        for r in range(-1, height_px + 1)
    ]
    centres = np.array(edges[1:-1])
    above = np.maximum(np.array(edges[:-2]) - centres, bin_hz)
    below = np.maximum(centres - np.array(edges[2:]), bin_hz)
    offset = bins_hz[np.newaxis, :] - centres[:, np.newaxis]
    rising = 1.0 + offset / below[:, np.newaxis]
    falling = 1.0 - offset / above[:, np.newaxis]
    weights = np.clip(np.where(offset < 0, rising, falling), 0.0, None)
    sums = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, sums, out=np.zeros_like(weights), where=sums > 0)
    result: FloatArray = weights.astype(np.float32)
    result.setflags(write=False)
    return result


@dataclass(frozen=True, eq=False)
class _BandedRows:
    """A row filterbank cut into blocks of rows with the contiguous bins they use.

    Applying it is ~4x faster than the dense product: each row's triangle covers a few bins.
    """

    rows: int
    blocks: tuple[tuple[int, int, int, int, FloatArray], ...]  # r0, r1, b0, b1, (bins, rows)

    def apply(self, power: FloatArray) -> FloatArray:
        """(columns, bins) bin power -> (columns, rows) row power."""
        out = np.empty((len(power), self.rows), dtype=np.float32)
        for r0, r1, b0, b1, weights in self.blocks:
            out[:, r0:r1] = power[:, b0:b1] @ weights
        return out


@functools.lru_cache(maxsize=32)
def _banded_filterbank(*, scale: Scale, n_fft: int, sample_rate_hz: int) -> _BandedRows:
    dense = row_filterbank(scale=scale, n_fft=n_fft, sample_rate_hz=sample_rate_hz)
    blocks = []
    for r0 in range(0, len(dense), _ROW_BLOCK):
        part = dense[r0 : r0 + _ROW_BLOCK]
        used = np.flatnonzero(part.any(axis=0))
        b0, b1 = int(used[0]), int(used[-1]) + 1
        weights = np.ascontiguousarray(part[:, b0:b1].T)
        blocks.append((r0, r0 + len(part), b0, b1, weights))
    return _BandedRows(rows=len(dense), blocks=tuple(blocks))


@functools.lru_cache(maxsize=8)
def _scaled_window(n_fft: int) -> FloatArray:
    """Periodic Hann, scaled so a full-scale sine on a bin has |X|^2 = 1 (0 dBFS)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    result: FloatArray = (window / (window.sum() / 2)).astype(np.float32)
    result.setflags(write=False)
    return result


# --- column power -------------------------------------------------------------------------


def power_to_db(power: npt.NDArray[np.floating]) -> FloatArray:
    db: FloatArray = (10.0 * np.log10(np.maximum(power, _POWER_FLOOR))).astype(np.float32)
    return db


class ColumnSpectrogram:
    """Per-pixel-column row powers of a stream of audio blocks, for one or more scales.

    Columns are absolute: column c spans samples [c * L, (c + 1) * L), L = rate / px_per_s.
    Where a column is at least a frame long (L >= n_fft), it averages the power of the frames
    of a fixed grid, [j * n_fft, (j + 1) * n_fft) from the file's start, whose centres fall in
    it: every sample counts once, and a batch of columns is one contiguous run of frames. A
    shorter column gets one frame centred on it (zeros before the file's start). A last,
    partial column takes the grid frames centred within what exists of it, or one frame
    centred on that part if there are none.

    It computes columns [first_column, first_column + columns) (to the stream's end when
    `columns` is None). Feed (frames, channels) float blocks starting at absolute frame
    `start_frame`, which must be `frame_range()[0]` or earlier. Each batch of finished
    columns goes through `transform` (float32 row power (columns, rows) -> any array) and is
    kept; `finish()` returns them per scale.
    """

    def __init__(
        self,
        *,
        sample_rate_hz: int,
        n_fft: int,
        px_per_s: float,
        scales: Iterable[Scale],
        first_column: int = 0,
        columns: int | None = None,
        start_frame: int = 0,
        transform: Callable[[FloatArray], npt.NDArray[Any]] = power_to_db,
    ) -> None:
        if sample_rate_hz <= 0 or n_fft <= 0 or n_fft % 2 or px_per_s <= 0:
            raise ValueError("sample_rate_hz, px_per_s and an even n_fft must be positive")
        self.n_fft = n_fft
        self.column_frames = sample_rate_hz / px_per_s
        self._grid = self.column_frames >= n_fft
        self._filterbanks = {
            scale: _banded_filterbank(scale=scale, n_fft=n_fft, sample_rate_hz=sample_rate_hz)
            for scale in scales
        }
        self._window = _scaled_window(n_fft)
        self._transform = transform
        self._next_column = first_column
        self._stop_column = None if columns is None else first_column + columns
        self._half = n_fft // 2
        # Zeros before the stream: silence before the file when start_frame is 0.
        self._buffer = np.zeros(self._half, dtype=np.float32)
        self._buffer_start = start_frame - self._half
        self._chunks: dict[Scale, list[npt.NDArray[Any]]] = {s: [] for s in self._filterbanks}
        self._pending: list[FloatArray] = []
        self._pending_columns = 0

    def frame_range(self) -> tuple[int, int]:
        """Absolute frames [first, stop) that the requested columns read (stop may pass the end)."""
        if self._stop_column is None:
            raise ValueError("frame_range needs a column count")
        # From half a frame before the column's start: what a partial column may need.
        first = max(0, math.floor(self._next_column * self.column_frames) - self._half)
        return first, self._column_end(self._stop_column - 1)

    @property
    def done(self) -> bool:
        return self._stop_column is not None and self._next_column >= self._stop_column

    def feed(self, block: npt.NDArray[np.floating]) -> None:
        """Take one (frames, channels) block (1-D for mono) and compute what it completes."""
        if self.done:
            return
        samples = np.asarray(block, dtype=np.float32)
        kept = len(self._buffer)
        buffer = np.empty(kept + len(samples), dtype=np.float32)
        buffer[:kept] = self._buffer
        mono = buffer[kept:]
        if samples.ndim == 2 and samples.shape[1] > 1:
            # Channel by channel: mean(axis=1) on (n, 2) is ~40x slower, and a BLAS product
            # stalls when BLAS threads compete with an ffmpeg child for the cores.
            np.add(samples[:, 0], samples[:, 1], out=mono)
            for channel in range(2, samples.shape[1]):
                mono += samples[:, channel]
            mono *= np.float32(1.0 / samples.shape[1])
        else:
            mono[:] = samples.reshape(len(samples))
        self._buffer = buffer
        stop = self._ready_stop(self._buffer_start + len(self._buffer))
        if stop > self._next_column:
            self._compute(self._next_column, stop)

    def finish(self) -> dict[Scale, npt.NDArray[Any]]:
        """Compute the columns left (the stream has ended) and return all, per scale.

        Frames running past the end read zeros there. Columns starting at or after the
        stream's end are not produced: callers pad.
        """
        end = self._buffer_start + len(self._buffer)
        wanted_stop = math.ceil(end / self.column_frames - 1e-9)
        if self._stop_column is not None:
            wanted_stop = min(wanted_stop, self._stop_column)
        full_stop = min(wanted_stop, math.floor(end / self.column_frames + 1e-9))
        self._buffer = np.concatenate([self._buffer, np.zeros(self.n_fft, dtype=np.float32)])
        if full_stop > self._next_column:
            self._compute(self._next_column, full_stop)
        if wanted_stop > self._next_column:
            starts = self._partial_column_starts(self._next_column, end)
            self._emit(self._power(starts, np.zeros(1, dtype=np.int64)))
            self._next_column = wanted_stop
        self._flush()
        self._buffer = np.zeros(0, dtype=np.float32)
        empty = np.zeros((0, TILE_HEIGHT_PX), dtype=np.float32)
        return {
            scale: np.concatenate(chunks) if chunks else self._transform(empty)
            for scale, chunks in self._chunks.items()
        }

    def _first_grid_frames(self, columns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Index of the first grid frame centred at or after each column's start."""
        first: npt.NDArray[np.int64] = np.ceil(
            (columns * self.column_frames - self._half) / self.n_fft
        ).astype(np.int64)
        return first

    def _centre(self, column: int) -> int:
        """The centre of a short column's one frame."""
        return round((column + 0.5) * self.column_frames)

    def _column_end(self, column: int) -> int:
        """One past the last sample a full column's frames read (scalar math: it is hot)."""
        if self._grid:
            following = math.ceil(((column + 1) * self.column_frames - self._half) / self.n_fft)
            return following * self.n_fft
        return self._centre(column) + self.n_fft - self._half

    def _ready_stop(self, buffer_end: int) -> int:
        """One past the last column whose frames all lie within the buffer."""
        reach = self.column_frames + self.n_fft  # beyond any column's frames
        stop = max(self._next_column, math.floor((buffer_end - reach) / self.column_frames))
        while self._column_end(stop) <= buffer_end:
            stop += 1
        if self._stop_column is not None:
            stop = min(stop, self._stop_column)
        return stop

    def _compute(self, first: int, stop: int) -> None:
        if self._grid:
            bounds = self._first_grid_frames(np.arange(first, stop + 1, dtype=np.int64))
            starts = np.arange(bounds[0], bounds[-1], dtype=np.int64) * self.n_fft
            self._emit(self._power(starts, bounds[:-1] - bounds[0]))
        else:
            centres = np.rint((np.arange(first, stop) + 0.5) * self.column_frames)
            starts = centres.astype(np.int64) - self._half
            self._emit(self._power(starts, np.arange(stop - first, dtype=np.int64)))
        self._next_column = stop
        # Keep what any frame of the next column can need, even if it turns out partial.
        keep_from = math.floor(stop * self.column_frames) - self._half - self._buffer_start
        if keep_from > 0:
            self._buffer = self._buffer[keep_from:]
            self._buffer_start += keep_from

    def _partial_column_starts(self, column: int, end: int) -> npt.NDArray[np.int64]:
        start = column * self.column_frames
        if self._grid:
            j0, j1 = np.ceil((np.array([start, end]) - self._half) / self.n_fft).astype(np.int64)
            if j1 > j0:
                return np.arange(j0, j1, dtype=np.int64) * self.n_fft
        return np.array([round((start + end) / 2) - self._half], dtype=np.int64)

    def _power(
        self, starts: npt.NDArray[np.int64], column_offsets: npt.NDArray[np.int64]
    ) -> FloatArray:
        """Mean bin power (columns, bins) of the frames at absolute `starts`, where column i
        holds frames [column_offsets[i], column_offsets[i + 1])."""
        relative = starts - self._buffer_start
        if relative[0] < 0 or relative[-1] + self.n_fft > len(self._buffer):
            raise ValueError("the stream must start at or before frame_range()[0]")
        count = len(starts)
        if count > 1 and relative[-1] - relative[0] == (count - 1) * self.n_fft:
            # Back-to-back frames: a reshape of the buffer, no gather.
            span = self._buffer[relative[0] : relative[0] + count * self.n_fft]
            frames = span.reshape(count, self.n_fft) * self._window
        else:
            frames = sliding_window_view(self._buffer, self.n_fft)[relative] * self._window
        spectrum = np.fft.rfft(frames, axis=1).astype(np.complex64, copy=False)
        # Square re and im in place; they are added after averaging, on far fewer rows.
        squares: FloatArray = spectrum.view(np.float32)
        np.square(squares, out=squares)
        columns = len(column_offsets)
        if columns < count:
            squares = _column_means(squares, column_offsets)
        pairs = squares.reshape(columns, -1, 2)
        power: FloatArray = (pairs[:, :, 0] + pairs[:, :, 1]).astype(np.float32, copy=False)
        return power

    def _emit(self, bin_power: FloatArray) -> None:
        """Queue columns' bin power; map them to rows in batches (large products are faster)."""
        self._pending.append(bin_power)
        self._pending_columns += len(bin_power)
        if self._pending_columns >= _ROW_BATCH_COLUMNS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        batch = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._pending_columns = [], 0
        for scale, rows in self._filterbanks.items():
            self._chunks[scale].append(self._transform(rows.apply(batch)))


def _column_means(values: FloatArray, column_offsets: npt.NDArray[np.int64]) -> FloatArray:
    """Mean of each column's consecutive rows of ``values``: column i owns rows
    [column_offsets[i], column_offsets[i + 1]).

    A reduction per column. Not a product with an averaging matrix: a little faster alone,
    but multithreaded BLAS stalls 10-40x when an ffmpeg child or other requests hold the
    cores; not np.add.reduceat along the first axis, ~5x slower.
    """
    bounds = np.append(column_offsets, len(values))
    means = np.empty((len(column_offsets), values.shape[1]), dtype=np.float32)
    for column, (first, stop) in enumerate(itertools.pairwise(bounds.tolist())):
        np.add.reduce(values[first:stop], axis=0, out=means[column])
    means /= np.diff(bounds).astype(np.float32)[:, np.newaxis]
    return means


def row_db_from_blocks(
    blocks: Iterable[npt.NDArray[np.floating]],
    *,
    spec: TileSpec,
    scale: Scale,
    n_fft: int,
    sample_rate_hz: int,
    start_frame: int,
) -> FloatArray:
    """A tile's dB (columns, rows) from blocks starting at absolute frame `start_frame`.

    Columns the stream does not reach are digital silence.
    """
    columns = ColumnSpectrogram(
        sample_rate_hz=sample_rate_hz,
        n_fft=n_fft,
        px_per_s=spec.px_per_s,
        scales=(scale,),
        first_column=spec.first_column,
        columns=spec.columns,
        start_frame=start_frame,
    )
    for block in blocks:
        columns.feed(block)
        if columns.done:
            break
    return _pad_columns(columns.finish()[scale], spec.columns)


def tile_frame_range(*, spec: TileSpec, n_fft: int, sample_rate_hz: int) -> tuple[int, int]:
    """Absolute frames [first, stop) a tile's columns read (stop may pass the end)."""
    return ColumnSpectrogram(
        sample_rate_hz=sample_rate_hz,
        n_fft=n_fft,
        px_per_s=spec.px_per_s,
        scales=(),
        first_column=spec.first_column,
        columns=spec.columns,
    ).frame_range()


def _pad_columns(row_db: FloatArray, columns: int) -> FloatArray:
    if len(row_db) >= columns:
        return row_db[:columns]
    padding = np.full((columns - len(row_db), row_db.shape[1]), _DB_FLOOR, dtype=np.float32)
    return np.concatenate([row_db, padding])


# --- overview -----------------------------------------------------------------------------


def _quantise_overview(power: FloatArray) -> npt.NDArray[np.uint8]:
    low, high = OVERVIEW_DB_RANGE
    scaled = (power_to_db(power) - low) * (255.0 / (high - low))
    quantised: npt.NDArray[np.uint8] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return quantised


def _overview_power_lut() -> FloatArray:
    low, high = OVERVIEW_DB_RANGE
    db = low + np.arange(256) * ((high - low) / 255.0)
    lut: FloatArray = (10.0 ** (db / 10.0)).astype(np.float32)
    return lut


_OVERVIEW_POWER = _overview_power_lut()


class OverviewBuilder:
    """The low-resolution spectrogram the worker stores: feed it the decode pass's blocks.

    `finish()` returns, per scale, uint8 (columns, 256): 8 px/s (125 ms columns), n_fft 1024,
    dB over `OVERVIEW_DB_RANGE` in 255 steps (0.47 dB), values below the range at 0.
    """

    def __init__(self, *, sample_rate_hz: int) -> None:
        self._columns = ColumnSpectrogram(
            sample_rate_hz=sample_rate_hz,
            n_fft=OVERVIEW_N_FFT,
            px_per_s=OVERVIEW_PX_PER_S,
            scales=SCALES,
            transform=_quantise_overview,
        )

    def feed(self, block: npt.NDArray[np.floating]) -> None:
        self._columns.feed(block)

    def finish(self) -> dict[Scale, npt.NDArray[np.uint8]]:
        return {
            scale: data.astype(np.uint8, copy=False)
            for scale, data in self._columns.finish().items()
        }


def write_overview(data: npt.NDArray[np.uint8], fileobj: BinaryIO) -> None:
    """Store an overview as a .npy file (uint8, shape (columns, 256))."""
    np.save(fileobj, np.ascontiguousarray(data, dtype=np.uint8), allow_pickle=False)


def _read_overview_header(fileobj: BinaryIO) -> int:
    """Check an overview .npy header; return its column count, leaving fileobj at the data."""
    version = np.lib.format.read_magic(fileobj)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fileobj)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fileobj)
    if dtype != np.uint8 or fortran or len(shape) != 2 or shape[1] != TILE_HEIGHT_PX:
        raise ValueError(f"not a spectrogram overview: {dtype} {shape}")
    return int(shape[0])


def read_overview(
    fileobj: BinaryIO, *, start_column: int = 0, stop_column: int | None = None
) -> npt.NDArray[np.uint8]:
    """Overview columns [start_column, stop_column), reading only those bytes."""
    total = _read_overview_header(fileobj)
    stop = total if stop_column is None else min(stop_column, total)
    start = min(max(start_column, 0), stop)
    fileobj.seek(start * TILE_HEIGHT_PX, io.SEEK_CUR)
    raw = fileobj.read((stop - start) * TILE_HEIGHT_PX)
    if len(raw) != (stop - start) * TILE_HEIGHT_PX:
        raise ValueError("truncated spectrogram overview")
    return np.frombuffer(raw, dtype=np.uint8).reshape(stop - start, TILE_HEIGHT_PX)


def overview_row_db(fileobj: BinaryIO, *, spec: TileSpec) -> FloatArray:
    """A tile's dB (columns, rows) at a level of 8 px/s or coarser, from a stored overview.

    Each tile column averages the power of its 8 / px_per_s overview columns (fewer in the
    last one); columns beyond the overview are digital silence.
    """
    ratio = round(OVERVIEW_PX_PER_S / spec.px_per_s)
    if ratio < 1 or ratio * spec.px_per_s != OVERVIEW_PX_PER_S:
        raise ValueError(f"the overview has no level {level_token(spec.px_per_s)}")
    start = spec.first_column * ratio
    stop = (spec.first_column + spec.columns) * ratio
    total = _read_overview_header(fileobj)
    stop = min(stop, total)
    start = min(start, stop)
    fileobj.seek(start * TILE_HEIGHT_PX, io.SEEK_CUR)
    chunks: list[FloatArray] = []
    step = max(ratio, _OVERVIEW_CHUNK_COLUMNS // ratio * ratio)
    for chunk_start in range(start, stop, step):
        count = min(step, stop - chunk_start)
        raw = fileobj.read(count * TILE_HEIGHT_PX)
        if len(raw) != count * TILE_HEIGHT_PX:
            raise ValueError("truncated spectrogram overview")
        codes = np.frombuffer(raw, dtype=np.uint8).reshape(count, TILE_HEIGHT_PX)
        if ratio == 1:
            low, high = OVERVIEW_DB_RANGE
            chunks.append((low + codes * ((high - low) / 255.0)).astype(np.float32))
            continue
        power = _OVERVIEW_POWER[codes]
        group_starts = np.arange(0, count, ratio)
        sums = np.add.reduceat(power, group_starts, axis=0)
        sizes = np.diff(np.append(group_starts, count)).astype(np.float32)
        chunks.append(power_to_db(sums / sizes[:, np.newaxis]))
    row_db = np.concatenate(chunks) if chunks else np.zeros((0, TILE_HEIGHT_PX), np.float32)
    return _pad_columns(row_db, spec.columns)


# --- colour and PNG -----------------------------------------------------------------------


@functools.lru_cache(maxsize=len(CMAPS))
def colour_lut(cmap: ColourMap) -> npt.NDArray[np.uint8]:
    """(256, 3) uint8 RGB: entry 0 for db_min and below, 255 for db_max and above."""
    points = np.array(
        [[int(code[i : i + 2], 16) for i in (0, 2, 4)] for code in _CONTROL_POINTS[cmap]],
        dtype=np.float64,
    )
    where = np.linspace(0.0, 1.0, len(points))
    positions = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(positions, where, points[:, c]) for c in range(3)], axis=1)
    result: npt.NDArray[np.uint8] = np.rint(lut).astype(np.uint8)
    result.setflags(write=False)
    return result


def colour_indices(
    row_db: npt.NDArray[np.floating], *, db_min: float, db_max: float
) -> npt.NDArray[np.uint8]:
    scaled = (np.asarray(row_db, dtype=np.float32) - db_min) * (255.0 / (db_max - db_min))
    indices: npt.NDArray[np.uint8] = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    return indices


def render_tile(
    row_db: npt.NDArray[np.floating],
    *,
    settings: SpectrogramSettings,
    compress_level: int = _PNG_COMPRESS_LEVEL,
) -> bytes:
    """PNG of a tile from its dB values (columns, rows): row 0 at the top, one pixel each.

    8-bit palette PNG for colour maps (half the bytes of RGB), 8-bit grayscale for gray.
    Not optimised (optimize=False), zlib level 1 (see `_PNG_COMPRESS_LEVEL`).
    """
    if row_db.ndim != 2 or row_db.shape[1] != TILE_HEIGHT_PX or len(row_db) == 0:
        raise ValueError(f"row_db must be (columns, {TILE_HEIGHT_PX}), got {row_db.shape}")
    indices = colour_indices(row_db, db_min=settings.db_min, db_max=settings.db_max)
    image = Image.fromarray(np.ascontiguousarray(indices.T))
    if settings.cmap != "gray":
        image.putpalette(colour_lut(settings.cmap).tobytes(), rawmode="RGB")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=compress_level)
    return out.getvalue()


def describe(*, sample_rate_hz: int, duration_s: float) -> dict[str, Any]:
    """Everything a client needs to lay tiles out for one recording (the info endpoint)."""
    defaults = SpectrogramSettings()
    return {
        "tile_width_px": TILE_WIDTH_PX,
        "tile_height_px": TILE_HEIGHT_PX,
        "px_per_s_levels": list(PX_PER_S_LEVELS),
        "tiles_per_level": {
            level_token(p): tile_count(duration_s=duration_s, px_per_s=p) for p in PX_PER_S_LEVELS
        },
        "scales": list(SCALES),
        "n_ffts": list(N_FFTS),
        "cmaps": list(CMAPS),
        "db_limits": list(DB_LIMITS),
        "defaults": {
            "scale": defaults.scale,
            "n_fft": defaults.n_fft,
            "db_min": defaults.db_min,
            "db_max": defaults.db_max,
            "cmap": defaults.cmap,
        },
        "db_reference": "dBFS: 0 dB is a full-scale sine centred on an FFT bin",
        "sample_rate_hz": sample_rate_hz,
        "nyquist_hz": sample_rate_hz / 2,
        "duration_s": duration_s,
        "frequency_axis": "row 0 is the top (nyquist_hz); the bottom edge is 0 Hz",
        "mel_formula": MEL_FORMULA,
        "mel_formula_text": "mel = 2595 * log10(1 + hz / 700); rows evenly spaced in mel",
        "last_tile": LAST_TILE_SHAPE,
        "last_tile_text": (
            "the last tile holds only the columns that start within the recording: "
            "ceil(duration_s * px_per_s) - index * tile_width_px pixels wide"
        ),
        "overview": {"px_per_s_max": OVERVIEW_PX_PER_S, "n_fft": OVERVIEW_N_FFT},
    }
