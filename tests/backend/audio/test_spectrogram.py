"""Spectrogram tiles, pure part: frequency axis, filterbanks, column power, overview, PNGs."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from backend.audio import spectrogram as sg
from backend.audio.spectrogram import (
    PX_PER_S_LEVELS,
    TILE_HEIGHT_PX,
    TILE_WIDTH_PX,
    OverviewBuilder,
    SpectrogramSettings,
    hz_to_row,
    overview_row_db,
    read_overview,
    render_tile,
    row_db_from_blocks,
    row_filterbank,
    row_to_hz,
    tile_spec,
    write_overview,
)
from tests.audio_gen import tone

RATE_HZ = 16_000


def blocks_of(signal: npt.NDArray[np.float32], size: int = 4096) -> list[npt.NDArray[np.float32]]:
    return [signal[i : i + size] for i in range(0, len(signal), size)]


def tile_db(
    signal: npt.NDArray[np.float32], *, px_per_s: float, index: int = 0, scale="mel", n_fft=1024
) -> npt.NDArray[np.float32]:
    spec = tile_spec(duration_s=len(signal) / RATE_HZ, px_per_s=px_per_s, index=index)
    return row_db_from_blocks(
        blocks_of(signal),
        spec=spec,
        scale=scale,
        n_fft=n_fft,
        sample_rate_hz=RATE_HZ,
        start_frame=0,
    )


def png_indices(png: bytes) -> npt.NDArray[np.uint8]:
    """The colour-map index of every pixel (rows, columns) of a palette or grayscale PNG."""
    image = Image.open(io.BytesIO(png))
    assert image.mode in ("P", "L")
    return np.asarray(image)


def sine(freq_hz: float, duration_s: float, amplitude: float = 0.5) -> npt.NDArray[np.float32]:
    t_s = np.arange(round(duration_s * RATE_HZ)) / RATE_HZ
    return (amplitude * np.sin(2 * np.pi * freq_hz * t_s)).astype(np.float32)[:, np.newaxis]


# --- frequency axis -----------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["mel", "linear"])
def test_rows_run_from_nyquist_at_the_top_to_zero_at_the_bottom(scale):
    assert row_to_hz(0, scale=scale, nyquist_hz=8000) == pytest.approx(8000)
    assert row_to_hz(TILE_HEIGHT_PX, scale=scale, nyquist_hz=8000) == pytest.approx(0, abs=1e-9)
    for hz in (0.0, 100.0, 1000.0, 4321.0, 8000.0):
        row = hz_to_row(hz, scale=scale, nyquist_hz=8000)
        assert row_to_hz(row, scale=scale, nyquist_hz=8000) == pytest.approx(hz, abs=1e-6)


def test_mel_rows_are_even_in_htk_mel():
    def mel(hz: float) -> float:
        return 2595 * math.log10(1 + hz / 700)

    centres = [row_to_hz(r + 0.5, scale="mel", nyquist_hz=22050) for r in range(TILE_HEIGHT_PX)]
    steps = np.diff([mel(hz) for hz in centres])
    assert np.allclose(steps, -mel(22050) / TILE_HEIGHT_PX)
    # linear rows are even in Hz instead
    assert hz_to_row(11025, scale="linear", nyquist_hz=22050) == pytest.approx(128)


@pytest.mark.parametrize("scale", ["mel", "linear"])
@pytest.mark.parametrize("n_fft", [512, 1024, 2048])
def test_filterbank_shape_rows_sum_to_one_and_centres_descend(scale, n_fft):
    weights = row_filterbank(scale=scale, n_fft=n_fft, sample_rate_hz=44_100)
    assert weights.shape == (TILE_HEIGHT_PX, n_fft // 2 + 1)
    assert weights.dtype == np.float32
    assert (weights >= 0).all()
    # every row sees some bins, even mel rows far narrower than a bin
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    bins_hz = np.arange(n_fft // 2 + 1) * 44_100 / n_fft
    centroid_hz = weights @ bins_hz
    assert (np.diff(centroid_hz) < 0).all()
    nyquist_hz = 22_050
    centres = [row_to_hz(r + 0.5, scale=scale, nyquist_hz=nyquist_hz) for r in (40, 128, 200)]
    bin_hz = 44_100 / n_fft
    for row, centre_hz in zip((40, 128, 200), centres, strict=True):
        assert centroid_hz[row] == pytest.approx(centre_hz, abs=bin_hz)


def test_mel_filters_are_triangles_between_neighbouring_rows():
    # at n_fft 2048 and 44.1 kHz the top mel rows span many bins: true triangles
    weights = row_filterbank(scale="mel", n_fft=2048, sample_rate_hz=44_100)
    top = weights[10]
    nonzero = np.flatnonzero(top)
    assert len(nonzero) > 10
    assert (np.diff(nonzero) == 1).all()  # one contiguous band
    peak = int(np.argmax(top))
    assert (np.diff(top[nonzero[0] : peak + 1]) >= 0).all()
    assert (np.diff(top[peak : nonzero[-1] + 1]) <= 0).all()


# --- column power -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["mel", "linear"])
@pytest.mark.parametrize("n_fft", [512, 1024, 2048])
@pytest.mark.parametrize("px_per_s", [0.5, 8.0, 128.0])
def test_a_tone_is_brightest_in_its_row(scale, n_fft, px_per_s):
    signal = sine(3000.0, 4.0)
    png = render_tile(
        tile_db(signal, px_per_s=px_per_s, scale=scale, n_fft=n_fft),
        settings=SpectrogramSettings(scale=scale, n_fft=n_fft),
    )
    brightest = int(np.argmax(png_indices(png).astype(float).mean(axis=1)))
    found_hz = row_to_hz(brightest + 0.5, scale=scale, nyquist_hz=RATE_HZ / 2)
    row_hz = abs(
        row_to_hz(brightest, scale=scale, nyquist_hz=RATE_HZ / 2)
        - row_to_hz(brightest + 1, scale=scale, nyquist_hz=RATE_HZ / 2)
    )
    assert abs(found_hz - 3000.0) <= 2 * max(RATE_HZ / n_fft, row_hz)


def test_a_half_scale_tone_on_a_bin_reads_minus_6_dbfs():
    # 250 Hz is bin 8 at n_fft 512; low mel rows are narrower than a bin, so one of them
    # sits within a few Hz of it and interpolates its power. 0.5 amplitude is -6.02 dBFS.
    db = tile_db(sine(250.0, 4.0), px_per_s=8, scale="mel", n_fft=512)
    assert db.max(axis=1) == pytest.approx(np.full(len(db), -6.02), abs=0.6)
    # rows spanning several bins show the mean power per bin: lower for a tone
    wide = tile_db(sine(250.0, 4.0), px_per_s=8, scale="linear", n_fft=2048)
    assert -20 < wide.max() < -8


def test_silence_is_dark_and_sound_is_not():
    signal = np.concatenate([np.zeros((4 * RATE_HZ, 1), np.float32), sine(2000.0, 4.0)])
    indices = png_indices(render_tile(tile_db(signal, px_per_s=16), settings=SpectrogramSettings()))
    assert indices.shape == (TILE_HEIGHT_PX, 128)
    # columns wholly inside the silent 4 s (64 columns, less the frame reaching into the tone)
    assert (indices[:, :60] == 0).all()
    assert indices[:, 70:].max() == 255


def test_column_power_does_not_depend_on_how_the_stream_is_cut():
    signal = tone(duration_s=6.0, sample_rate_hz=RATE_HZ, channels=2)
    spec = tile_spec(duration_s=6.0, px_per_s=4, index=0)
    results = [
        row_db_from_blocks(
            blocks_of(signal, size),
            spec=spec,
            scale="mel",
            n_fft=1024,
            sample_rate_hz=RATE_HZ,
            start_frame=0,
        )
        for size in (100, 4096, len(signal))
    ]
    assert np.allclose(results[0], results[1], atol=1e-3)
    assert np.allclose(results[0], results[2], atol=1e-3)


def test_a_window_that_starts_mid_file_gives_the_same_columns():
    signal = tone(duration_s=12.0, sample_rate_hz=RATE_HZ)
    spec = tile_spec(duration_s=12.0, px_per_s=128, index=1)  # 4 s .. 8 s
    first, stop = sg.tile_frame_range(spec=spec, n_fft=2048, sample_rate_hz=RATE_HZ)
    assert 0 < first < 4 * RATE_HZ < 8 * RATE_HZ < stop
    from_window = row_db_from_blocks(
        blocks_of(signal[first:stop]),
        spec=spec,
        scale="linear",
        n_fft=2048,
        sample_rate_hz=RATE_HZ,
        start_frame=first,
    )
    from_start = row_db_from_blocks(
        blocks_of(signal),
        spec=spec,
        scale="linear",
        n_fft=2048,
        sample_rate_hz=RATE_HZ,
        start_frame=0,
    )
    assert np.allclose(from_window, from_start, atol=1e-3)


# --- geometry -----------------------------------------------------------------------------


def test_levels_are_powers_of_two_from_1_64_to_128():
    assert PX_PER_S_LEVELS[0] == 1 / 64
    assert PX_PER_S_LEVELS[-1] == 128
    assert all(b == 2 * a for a, b in itertools.pairwise(PX_PER_S_LEVELS))


def test_tiles_cover_the_recording_and_the_last_one_is_narrow():
    # 10 s at 128 px/s is 1280 columns: two full tiles and one of 256
    spans = [tile_spec(duration_s=10.0, px_per_s=128, index=i) for i in range(3)]
    assert [s.columns for s in spans] == [512, 512, 256]
    assert spans[1].start_s == pytest.approx(4.0)
    assert spans[2].end_s == pytest.approx(10.0)
    assert sg.tile_count(duration_s=10.0, px_per_s=128) == 3
    with pytest.raises(ValueError, match="index"):
        tile_spec(duration_s=10.0, px_per_s=128, index=3)
    with pytest.raises(ValueError, match="px_per_s"):
        tile_spec(duration_s=10.0, px_per_s=3, index=0)
    # a partial last column still counts: 10.001 s at 1 px/s is 11 columns
    assert tile_spec(duration_s=10.001, px_per_s=1, index=0).columns == 11
    # and coarse levels shrink to a single pixel
    assert tile_spec(duration_s=10.0, px_per_s=1 / 64, index=0).columns == 1


def test_a_rendered_tile_is_as_wide_as_its_columns_and_256_high():
    signal = tone(duration_s=10.0, sample_rate_hz=RATE_HZ)
    for index, width in ((0, TILE_WIDTH_PX), (2, 256)):
        png = render_tile(
            tile_db(signal, px_per_s=128, index=index), settings=SpectrogramSettings()
        )
        assert Image.open(io.BytesIO(png)).size == (width, TILE_HEIGHT_PX)


# --- settings, colours --------------------------------------------------------------------


def test_settings_keys_are_short_stable_and_distinct():
    default = SpectrogramSettings()
    assert default.key == "v1-mel-1024-m90-m10-viridis"
    variants = [
        SpectrogramSettings(scale="linear"),
        SpectrogramSettings(n_fft=2048),
        SpectrogramSettings(db_min=-90.5),
        SpectrogramSettings(db_max=0),
        SpectrogramSettings(cmap="magma"),
    ]
    assert len({default.key, *(v.key for v in variants)}) == 6
    assert all("/" not in v.key and len(v.key) < 40 for v in variants)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": "bark"},
        {"n_fft": 1000},
        {"cmap": "jet"},
        {"db_min": -10.0, "db_max": -20.0},
        {"db_min": -90.05},
        {"db_min": -500.0},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="must"):
        SpectrogramSettings(**kwargs)


def test_colour_maps_run_from_their_published_ends():
    assert sg.colour_lut("viridis")[0].tolist() == [0x44, 0x01, 0x54]
    assert sg.colour_lut("viridis")[255].tolist() == [0xFD, 0xE7, 0x25]
    assert sg.colour_lut("magma")[0].tolist() == [0x00, 0x00, 0x04]
    assert sg.colour_lut("magma")[255].tolist() == [0xFC, 0xFD, 0xBF]
    assert sg.colour_lut("gray")[:, 0].tolist() == list(range(256))
    # perceptually ordered maps get lighter all the way
    for cmap in ("viridis", "magma"):
        luma = sg.colour_lut(cmap).astype(float) @ [0.299, 0.587, 0.114]
        assert (np.diff(luma) > -0.5).all()


def test_db_range_maps_onto_the_colour_map():
    db = np.tile(np.linspace(-100, 0, 11, dtype=np.float32), (TILE_HEIGHT_PX, 1)).T
    settings = SpectrogramSettings(db_min=-90, db_max=-10, cmap="gray")
    indices = png_indices(render_tile(db, settings=settings))
    assert indices[0].tolist() == [0, 0, 32, 64, 96, 128, 159, 191, 223, 255, 255]
    image = Image.open(io.BytesIO(render_tile(db, settings=SpectrogramSettings())))
    assert image.mode == "P"
    assert image.getpalette()[:3] == [0x44, 0x01, 0x54]


# --- overview -----------------------------------------------------------------------------


def _overview(signal: npt.NDArray[np.float32]) -> dict[str, bytes]:
    builder = OverviewBuilder(sample_rate_hz=RATE_HZ)
    for block in blocks_of(signal, 65536):
        builder.feed(block)
    stored = {}
    for scale, data in builder.finish().items():
        out = io.BytesIO()
        write_overview(data, out)
        stored[scale] = out.getvalue()
    return stored


def test_the_overview_has_one_uint8_column_per_125_ms():
    stored = _overview(tone(duration_s=10.01, sample_rate_hz=RATE_HZ, channels=2))
    assert set(stored) == {"mel", "linear"}
    data = read_overview(io.BytesIO(stored["mel"]))
    assert data.shape == (81, TILE_HEIGHT_PX)
    assert data.dtype == np.uint8
    part = read_overview(io.BytesIO(stored["mel"]), start_column=40, stop_column=45)
    assert np.array_equal(part, data[40:45])


@pytest.mark.parametrize("scale", ["mel", "linear"])
def test_overview_tiles_agree_with_computed_ones_at_the_boundary(scale):
    signal = tone(duration_s=70.0, sample_rate_hz=RATE_HZ, channels=2, freq_hz=1500.0)
    stored = _overview(signal)
    mono = signal.mean(axis=1, keepdims=True)
    for px_per_s in (8.0, 1.0, 1 / 16):
        spec = tile_spec(duration_s=70.0, px_per_s=px_per_s, index=0)
        from_overview = overview_row_db(io.BytesIO(stored[scale]), spec=spec)
        computed = tile_db(mono, px_per_s=px_per_s, scale=scale)
        assert from_overview.shape == computed.shape
        visible = computed > -120  # the overview stores -120 .. 0 dBFS
        # same frames at 8 px/s, so only quantisation (0.47 dB steps) differs; coarser
        # levels average the same power over slightly different frame positions
        tolerance_db = 0.3 if px_per_s == 8 else 1.0
        assert np.abs(from_overview - computed)[visible].mean() < tolerance_db
    # one level finer is computed on demand: two of its columns make one overview column.
    # Their frames differ (at 16 kHz a 16 px/s column is shorter than a frame: one frame
    # centred on it), so noise rows differ column by column but not on average.
    finer = tile_db(mono, px_per_s=16, scale=scale)
    finer_power = 10 ** (finer[: len(finer) // 2 * 2] / 10)
    paired = 10 * np.log10(finer_power.reshape(-1, 2, TILE_HEIGHT_PX).mean(axis=1))
    coarse = overview_row_db(
        io.BytesIO(stored[scale]), spec=tile_spec(duration_s=70.0, px_per_s=8, index=0)
    )[: len(paired)]
    visible = paired > -110
    assert np.abs(paired - coarse)[visible].mean() < 3.0
    spectrum_paired = 10 * np.log10((10 ** (paired / 10)).mean(axis=0))
    spectrum_coarse = 10 * np.log10((10 ** (coarse / 10)).mean(axis=0))
    assert np.abs(spectrum_paired - spectrum_coarse).max() < 1.0
