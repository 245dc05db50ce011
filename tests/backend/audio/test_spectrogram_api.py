"""Spectrogram tiles over HTTP: images, caching, validation, permissions, clean-up."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from backend.audio import decoding, spectrogram
from backend.audio.models import AudioItem
from backend.audio.services import item_process
from backend.audio.spectrogram import TILE_HEIGHT_PX, row_to_hz
from tests.audio_gen import write_tone
from tests.backend.audio.conftest import stored_files
from tests.factories import AudioItemFactory

pytestmark = pytest.mark.django_db

RATE_HZ = 16_000
TONE_HZ = 2_500.0


def _upload_and_process(client, project, path: Path, capture) -> AudioItem:
    with path.open("rb") as fh, capture(execute=True):
        response = client.post(
            f"/api/projects/{project.pk}/items/upload/", {"files": [fh]}, format="multipart"
        )
    assert response.status_code == 201, response.json()
    item = AudioItem.objects.get(original_name=path.name)
    assert item.state == AudioItem.State.READY, item.error
    return item


@pytest.fixture
def tone_item(
    client_for, manager, project, media_root, tmp_path, django_capture_on_commit_callbacks
):
    """20 s: 5 s of digital silence, then a 2.5 kHz tone with a little noise."""
    path = write_tone(
        tmp_path / "tone.flac", duration_s=15.0, sample_rate_hz=RATE_HZ, freq_hz=TONE_HZ, fmt="flac"
    )
    samples, _ = sf.read(path, dtype="float32", always_2d=True)
    sf.write(path, np.concatenate([np.zeros((5 * RATE_HZ, 1), np.float32), samples]), RATE_HZ)
    return _upload_and_process(
        client_for(manager), project, path, django_capture_on_commit_callbacks
    )


def _tile(client, item, **query):
    return client.get(f"/api/items/{item.pk}/spectrogram/", {"px_per_s": 8, "index": 0, **query})


def _indices(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_processing_stores_an_overview_per_scale_beside_the_peaks(tone_item, media_root):
    folder = media_root / tone_item.spectrogram_prefix
    assert sorted(p.name for p in folder.iterdir()) == ["overview-linear.npy", "overview-mel.npy"]
    data = np.load(folder / "overview-mel.npy")
    assert data.shape == (160, TILE_HEIGHT_PX)  # 20 s at 8 columns per second
    assert data.dtype == np.uint8


def test_a_tile_is_a_cacheable_png_that_says_where_it_lies(client_for, annotator, tone_item):
    response = _tile(client_for(annotator), tone_item, px_per_s=16, index=0)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=86400"
    assert float(response["X-Tile-Start-S"]) == 0.0
    # 20 s at 16 px/s is 320 columns: the only tile is narrow
    assert float(response["X-Tile-End-S"]) == pytest.approx(20.0)
    assert Image.open(io.BytesIO(response.content)).size == (320, TILE_HEIGHT_PX)
    second = _tile(client_for(annotator), tone_item, px_per_s=128, index=2)
    assert float(second["X-Tile-Start-S"]) == pytest.approx(8.0)
    assert float(second["X-Tile-End-S"]) == pytest.approx(12.0)
    assert Image.open(io.BytesIO(second.content)).size == (512, TILE_HEIGHT_PX)


@pytest.mark.parametrize("scale", ["mel", "linear"])
@pytest.mark.parametrize(("px_per_s", "n_fft"), [(8, 1024), (1, 1024), (32, 512), (128, 2048)])
def test_the_tone_is_brightest_in_its_row_and_silence_is_dark(
    client_for, annotator, tone_item, scale, px_per_s, n_fft
):
    index = int(6 * px_per_s) // 512  # the tile holding 6 s (1 s into the tone)
    response = _tile(
        client_for(annotator), tone_item, px_per_s=px_per_s, index=index, scale=scale, n_fft=n_fft
    )
    assert response.status_code == 200
    indices = _indices(response)
    # the tone starts at 5 s: look at columns after it, before it
    start_px = round((5 - float(response["X-Tile-Start-S"])) * px_per_s)
    width = indices.shape[1]
    tone_cols = indices[:, min(start_px + 2, width - 1) :].astype(float)
    brightest = int(np.argmax(tone_cols.mean(axis=1)))
    nyquist_hz = RATE_HZ / 2
    found_hz = row_to_hz(brightest + 0.5, scale=scale, nyquist_hz=nyquist_hz)
    row_hz = row_to_hz(brightest, scale=scale, nyquist_hz=nyquist_hz) - row_to_hz(
        brightest + 1, scale=scale, nyquist_hz=nyquist_hz
    )
    assert abs(found_hz - TONE_HZ) <= 2 * max(RATE_HZ / n_fft, row_hz)
    # columns whose frames (n_fft / 2 either side of their centre) end before the onset
    reach_px = int(np.ceil(n_fft / 2 / RATE_HZ * px_per_s)) + 1
    silent = indices[:, : max(0, start_px - reach_px)]
    assert silent.size
    assert (silent == 0).all()


def test_a_cached_tile_is_read_back_not_recomputed(
    client_for, annotator, tone_item, media_root, monkeypatch
):
    client = client_for(annotator)
    first = _tile(client, tone_item, px_per_s=64, index=0, cmap="magma")
    key = tone_item.spectrogram_tile_key("v1-mel-1024-m90-m10-magma", "64", 0)
    assert (media_root / key).read_bytes() == first.content

    def fail(*args, **kwargs):
        raise AssertionError("a cached tile was computed again")

    monkeypatch.setattr(spectrogram, "render_tile", fail)
    monkeypatch.setattr(decoding, "iter_window_blocks", fail)
    again = _tile(client, tone_item, px_per_s=64, index=0, cmap="magma")
    assert again.status_code == 200
    assert again.content == first.content


def test_coarse_default_tiles_come_from_the_overview_without_decoding(
    client_for, annotator, tone_item, monkeypatch
):
    def fail(*args, **kwargs):
        raise AssertionError("decoded audio for an overview tile")

    monkeypatch.setattr(decoding, "iter_window_blocks", fail)
    for px_per_s in (8, 2, 1 / 64):
        assert _tile(client_for(annotator), tone_item, px_per_s=px_per_s).status_code == 200


def test_coarse_tiles_of_any_fft_size_come_from_the_overview(
    client_for, annotator, tone_item, monkeypatch
):
    # given that decoding is off limits (a coarse tile would otherwise decode hours of audio)
    def fail(*args, **kwargs):
        raise AssertionError("decoded audio for a coarse tile")

    monkeypatch.setattr(decoding, "iter_window_blocks", fail)
    client = client_for(annotator)
    # then every FFT size answers from the overview, with the same picture
    pictures = {
        n_fft: _tile(client, tone_item, px_per_s=2, n_fft=n_fft).content
        for n_fft in (512, 1024, 2048)
    }
    assert pictures[512] == pictures[1024] == pictures[2048]


def test_items_without_an_overview_still_get_tiles(client_for, annotator, tone_item, media_root):
    for path in (media_root / tone_item.spectrogram_prefix).glob("overview-*.npy"):
        path.unlink()
    response = _tile(client_for(annotator), tone_item, px_per_s=2)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (40, TILE_HEIGHT_PX)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_mp3_tiles_are_computed_from_a_seeked_window(
    client_for,
    manager,
    annotator,
    project,
    media_root,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    path = write_tone(
        tmp_path / "tone.mp3", duration_s=12.0, sample_rate_hz=RATE_HZ, freq_hz=TONE_HZ, fmt="mp3"
    )
    item = _upload_and_process(
        client_for(manager), project, path, django_capture_on_commit_callbacks
    )
    response = _tile(client_for(annotator), item, px_per_s=128, index=1, scale="linear")
    assert response.status_code == 200
    brightest = int(np.argmax(_indices(response).astype(float).mean(axis=1)))
    assert abs(row_to_hz(brightest + 0.5, scale="linear", nyquist_hz=8000) - TONE_HZ) < 70


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"px_per_s": 3}, "px_per_s"),
        ({"px_per_s": "fast"}, "px_per_s"),
        ({"px_per_s": ""}, "px_per_s"),
        ({"index": 1}, "index"),  # 20 s at 8 px/s is one tile
        ({"index": -1}, "index"),
        ({"scale": "bark"}, "scale"),
        ({"n_fft": 1000}, "n_fft"),
        ({"db_min": -10, "db_max": -20}, "db_max"),
        ({"db_min": -30, "db_max": -30}, "db_max"),
        ({"db_min": -500}, "db_min"),
        ({"db_max": "nan"}, "db_max"),
        ({"cmap": "jet"}, "cmap"),
    ],
)
def test_bad_tile_queries_name_the_field(client_for, annotator, tone_item, query, field):
    response = _tile(client_for(annotator), tone_item, **query)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert field in response.json()["error"]["fields"]


def test_db_bounds_are_rounded_to_tenths(client_for, annotator, tone_item, media_root):
    response = _tile(client_for(annotator), tone_item, db_min=-80.04, db_max=-19.96)
    assert response.status_code == 200
    key = tone_item.spectrogram_tile_key("v1-mel-1024-m80-m20-viridis", "8", 0)
    assert (media_root / key).exists()


def test_an_image_accept_header_is_fine(client_for, annotator, tone_item):
    response = client_for(annotator).get(
        f"/api/items/{tone_item.pk}/spectrogram/?px_per_s=8&index=0", HTTP_ACCEPT="image/png"
    )
    assert response.status_code == 200
    bad = client_for(annotator).get(
        f"/api/items/{tone_item.pk}/spectrogram/?px_per_s=7&index=0", HTTP_ACCEPT="image/png"
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"


def test_info_describes_the_tiling(client_for, annotator, tone_item):
    response = client_for(annotator).get(f"/api/items/{tone_item.pk}/spectrogram/info/")
    assert response.status_code == 200
    body = response.json()
    assert body["tile_width_px"] == 512
    assert body["tile_height_px"] == 256
    assert body["px_per_s_levels"][0] == 1 / 64
    assert body["px_per_s_levels"][-1] == 128
    assert body["tiles_per_level"]["128"] == 5  # 2560 columns
    assert body["scales"] == ["mel", "linear"]
    assert body["n_ffts"] == [512, 1024, 2048]
    assert body["cmaps"] == ["viridis", "magma", "gray"]
    assert body["defaults"] == {
        "scale": "mel",
        "n_fft": 1024,
        "db_min": -90.0,
        "db_max": -10.0,
        "cmap": "viridis",
    }
    assert body["nyquist_hz"] == 8000
    assert body["duration_s"] == pytest.approx(20.0)
    assert body["mel_formula"] == "htk"
    assert body["last_tile"] == "narrow"


def test_outsiders_get_404_and_members_200(client_for, outsider, member, tone_item):
    for url in ("spectrogram/?px_per_s=8&index=0", "spectrogram/info/"):
        assert client_for(outsider).get(f"/api/items/{tone_item.pk}/{url}").status_code == 404
        for role in ("annotator", "reviewer"):
            response = client_for(member(role)).get(f"/api/items/{tone_item.pk}/{url}")
            assert response.status_code == 200, (role, url)


@pytest.mark.parametrize("state", [AudioItem.State.PENDING, AudioItem.State.FAILED])
def test_tiles_of_an_unprocessed_item_are_a_conflict(client_for, annotator, project, state):
    item = AudioItemFactory(project=project, state=state)
    for url in ("spectrogram/?px_per_s=3&index=0", "spectrogram/info/"):
        response = client_for(annotator).get(f"/api/items/{item.pk}/{url}")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "item_not_ready"


def test_deleting_an_item_removes_its_tiles(
    client_for, manager, annotator, tone_item, media_root, django_capture_on_commit_callbacks
):
    assert _tile(client_for(annotator), tone_item, px_per_s=128, index=1).status_code == 200
    assert any(p.suffix == ".png" for p in stored_files(media_root))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(manager).delete(f"/api/items/{tone_item.pk}/")
    assert response.status_code == 204
    assert stored_files(media_root) == []


def test_reprocessing_drops_cached_tiles_and_rebuilds_the_overview(
    client_for, annotator, tone_item, media_root
):
    assert _tile(client_for(annotator), tone_item, px_per_s=4).status_code == 200
    folder = media_root / tone_item.spectrogram_prefix
    assert list(folder.rglob("*.png"))
    item_process(item_id=tone_item.pk, force=True)
    assert not list(folder.rglob("*.png"))
    assert sorted(p.name for p in folder.iterdir()) == ["overview-linear.npy", "overview-mel.npy"]
