from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from backend.audio.models import AudioItem
from tests.audio_gen import write_tone
from tests.backend.audio.conftest import stored_files
from tests.factories import AudioItemFactory

pytestmark = pytest.mark.django_db

FORMATS = [
    ("wav", "audio/wav"),
    ("flac", "audio/flac"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
]


def _upload(client, project, *paths: Path, field: str = "files"):
    handles = [p.open("rb") for p in paths]
    try:
        return client.post(
            f"/api/projects/{project.pk}/items/upload/", {field: handles}, format="multipart"
        )
    finally:
        for h in handles:
            h.close()


def _assert_nothing_written(media_root: Path) -> None:
    assert AudioItem.objects.count() == 0
    assert stored_files(media_root) == []


@pytest.mark.parametrize(("fmt", "content_type"), FORMATS)
def test_upload_each_format_becomes_ready_with_peaks(
    client_for, manager, project, media_root, tmp_path, fmt, content_type,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    # given a 3-second stereo recording in this format
    path = write_tone(
        tmp_path / f"tone.{fmt}", duration_s=3.0, sample_rate_hz=48_000, channels=2, fmt=fmt
    )
    # when a manager uploads it (the worker's job runs on commit, eagerly in unit tests)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client_for(manager), project, path)
    # then it is stored, described, processed and has peaks
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 1
    item = AudioItem.objects.get()
    assert item.state == AudioItem.State.READY, item.error
    assert item.format == fmt
    assert item.content_type == content_type
    assert item.channels == 2
    assert item.sample_rate_hz == 48_000
    assert item.duration_s == pytest.approx(3.0, abs=0.1)
    assert len(item.sha256) == 64
    assert item.size_bytes == path.stat().st_size
    assert item.peaks_levels
    peaks = client_for(manager).get(f"/api/items/{item.pk}/peaks/?target_bins=100").json()
    assert len(peaks["data"]) == 2
    assert 0 < len(peaks["data"][0]) <= 2 * 2 * 100
    assert max(peaks["data"][0]) > 0.3
    assert min(peaks["data"][0]) < -0.3


def test_uploading_the_same_bytes_twice_is_a_duplicate(
    client_for, manager, project, media_root, tmp_path
):
    path = write_tone(tmp_path / "a.wav", duration_s=1.0)
    client = client_for(manager)
    assert _upload(client, project, path).status_code == 201
    again = _upload(client, project, path)
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert AudioItem.objects.count() == 1
    assert len([p for p in stored_files(media_root) if "/audio/" in str(p)]) == 1


def test_a_mixed_upload_keeps_the_good_and_reports_the_bad(
    client_for, manager, project, media_root, tmp_path
):
    good = write_tone(tmp_path / "good.wav", duration_s=1.0)
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my notes, not audio")
    response = _upload(client_for(manager), project, good, bad)
    assert response.status_code == 201
    files = {f["name"]: f for f in response.json()["files"]}
    assert files["good.wav"]["status"] == "created"
    assert files["notes.wav"]["status"] == "rejected"
    assert "not an audio file" in files["notes.wav"]["error"]
    assert AudioItem.objects.count() == 1


def _bad_file(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.flac"
    if kind == "text":
        path.write_text("hello\n" * 100)
    elif kind == "random":
        path.write_bytes(os.urandom(50_000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        write_tone(path, duration_s=5.0, fmt="flac")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "truncated_wav":
        write_tone(path, duration_s=5.0, fmt="wav")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "zero_frames":
        write_tone(path, duration_s=0.0, fmt="wav")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "not an audio file"),
        ("random", "not an audio file"),
        ("empty", "empty"),
        ("truncated", "truncated"),
        ("truncated_wav", "truncated"),
        ("zero_frames", "zero"),
    ],
)
def test_bad_audio_is_refused_and_leaves_nothing(
    client_for, manager, project, media_root, tmp_path, kind, message
):
    response = _upload(client_for(manager), project, _bad_file(kind, tmp_path))
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid_audio"
    assert message in error["message"].lower(), error["message"]
    _assert_nothing_written(media_root)


def test_files_over_the_size_limit_are_refused(
    client_for, manager, project, media_root, tmp_path, settings
):
    settings.EARMARK_MAX_UPLOAD_BYTES = 10_000
    path = write_tone(tmp_path / "big.wav", duration_s=2.0)
    response = _upload(client_for(manager), project, path)
    assert response.status_code == 400
    assert "limit is 10000 bytes" in response.json()["error"]["message"]
    _assert_nothing_written(media_root)


def test_recordings_over_the_duration_limit_are_refused(
    client_for, manager, project, media_root, tmp_path, settings
):
    settings.EARMARK_MAX_DURATION_S = 2
    path = write_tone(tmp_path / "long.flac", duration_s=3.0, fmt="flac")
    response = _upload(client_for(manager), project, path)
    assert response.status_code == 400
    assert "limit is 2 s" in response.json()["error"]["message"]
    _assert_nothing_written(media_root)


def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


def test_a_zip_of_recordings_is_ingested(
    client_for, manager, project, media_root, tmp_path, django_capture_on_commit_callbacks
):
    a = write_tone(tmp_path / "a.wav", duration_s=1.0, seed=1).read_bytes()
    b = write_tone(tmp_path / "b.flac", duration_s=1.0, seed=2, fmt="flac").read_bytes()
    archive = _zip(
        tmp_path / "set.zip",
        [("site1/a.wav", a), ("site2/b.flac", b), ("__MACOSX/._a.wav", b"junk")],
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client_for(manager), project, archive, field="archive")
    assert response.status_code == 201, response.json()
    assert sorted(AudioItem.objects.values_list("original_name", flat=True)) == [
        "site1/a.wav",
        "site2/b.flac",
    ]
    assert set(AudioItem.objects.values_list("state", flat=True)) == {"ready"}


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("../../etc/evil.wav", b"x")], "outside the archive"),
        ([("/abs/evil.wav", b"x")], "absolute path"),
        ([("C:/evil.wav", b"x")], "absolute path"),
        ([(_symlink_info("link.wav"), b"/etc/passwd")], "symbolic link"),
        ([(f"f{i}.wav", b"x") for i in range(6)], "too many entries"),
        ([("bomb.wav", b"\0" * 5_000_000)], "expands"),
    ],
)
def test_dangerous_zips_are_refused_and_leave_nothing(
    client_for, manager, project, media_root, tmp_path, settings, entries, message
):
    settings.EARMARK_MAX_ZIP_ENTRIES = 5
    archive = _zip(tmp_path / "bad.zip", entries)
    response = _upload(client_for(manager), project, archive, field="archive")
    assert response.status_code == 400, response.json()
    assert message in response.json()["error"]["message"]
    _assert_nothing_written(media_root)


def test_a_corrupt_zip_is_refused(client_for, manager, project, media_root, tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip")
    response = _upload(client_for(manager), project, archive, field="archive")
    assert response.status_code == 400
    assert "not a readable zip" in response.json()["error"]["message"]
    _assert_nothing_written(media_root)


def test_upload_without_files_names_the_field(client_for, manager, project):
    response = client_for(manager).post(
        f"/api/projects/{project.pk}/items/upload/", {}, format="multipart"
    )
    assert response.status_code == 400
    assert "files" in response.json()["error"]["fields"]


def test_only_managers_upload(client_for, member, outsider, project, tmp_path, media_root):
    path = write_tone(tmp_path / "a.wav", duration_s=1.0)
    assert _upload(client_for(member("annotator")), project, path).status_code == 403
    assert _upload(client_for(member("reviewer")), project, path).status_code == 403
    assert _upload(client_for(outsider), project, path).status_code == 404
    _assert_nothing_written(media_root)


@pytest.fixture
def stored_item(
    client_for, manager, project, media_root, tmp_path, django_capture_on_commit_callbacks
):
    path = write_tone(tmp_path / "s.wav", duration_s=2.0, sample_rate_hz=8000)
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client_for(manager), project, path)
    return AudioItem.objects.get(), path.read_bytes()


def test_audio_streams_with_range_requests(client_for, annotator, stored_item):
    item, data = stored_item
    client = client_for(annotator)
    full = client.get(f"/api/items/{item.pk}/audio/")
    assert full.status_code == 200
    assert full["Content-Type"] == "audio/wav"
    assert full["Accept-Ranges"] == "bytes"
    assert b"".join(full.streaming_content) == data
    part = client.get(f"/api/items/{item.pk}/audio/", HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert part["Content-Length"] == "100"
    assert b"".join(part.streaming_content) == data[100:200]
    tail = client.get(f"/api/items/{item.pk}/audio/", HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == data[-10:]
    beyond = client.get(f"/api/items/{item.pk}/audio/", HTTP_RANGE=f"bytes={len(data)}-")
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{len(data)}"


def test_peaks_for_a_time_window(client_for, annotator, stored_item):
    item, _ = stored_item
    body = (
        client_for(annotator)
        .get(f"/api/items/{item.pk}/peaks/", {"samples_per_bin": 256, "start_s": 0.5, "end_s": 1.5})
        .json()
    )
    assert body["samples_per_bin"] == 256
    # 1 s at 8 kHz is 31.25 bins of 256 samples; min and max per bin
    assert 2 * 31 <= len(body["data"][0]) <= 2 * 33
    assert body["duration_s"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start_s": 1.5, "end_s": 0.5}, "end_s"),
        ({"samples_per_bin": 300}, "samples_per_bin"),
        ({"start_s": 50}, "start_s"),
        ({"target_bins": 0}, "target_bins"),
    ],
)
def test_bad_peaks_queries_name_the_field(client_for, annotator, stored_item, query, field):
    item, _ = stored_item
    response = client_for(annotator).get(f"/api/items/{item.pk}/peaks/", query)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_peaks_of_a_pending_item_are_a_conflict(client_for, annotator, project):
    item = AudioItemFactory(project=project, state=AudioItem.State.PENDING)
    response = client_for(annotator).get(f"/api/items/{item.pk}/peaks/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "item_not_ready"


def test_items_list_with_filters_and_cursor_pages(client_for, annotator, project):
    for i in range(7):
        AudioItemFactory(project=project, original_name=f"site{i % 2}-{i}.wav")
    AudioItemFactory(project=project, state=AudioItem.State.FAILED, error="corrupt")
    client = client_for(annotator)
    first = client.get(f"/api/projects/{project.pk}/items/", {"page_size": 3}).json()
    assert len(first["results"]) == 3
    seen = [r["id"] for r in first["results"]]
    page = first
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [r["id"] for r in page["results"]]
    assert len(seen) == len(set(seen)) == 8
    failed = client.get(f"/api/projects/{project.pk}/items/", {"state": "failed"}).json()
    assert [r["error"] for r in failed["results"]] == ["corrupt"]
    named = client.get(f"/api/projects/{project.pk}/items/", {"name": "site1"}).json()
    assert len(named["results"]) == 3


def test_item_list_query_count_is_constant(
    client_for, annotator, project, django_assert_max_num_queries
):
    for _ in range(25):
        AudioItemFactory(project=project)
    with django_assert_max_num_queries(5):
        client_for(annotator).get(f"/api/projects/{project.pk}/items/")


def test_outsiders_get_404_on_every_item_endpoint(client_for, outsider, project):
    item = AudioItemFactory(project=project)
    client = client_for(outsider)
    for url in ("", "audio/", "peaks/", "predictions/"):
        assert client.get(f"/api/items/{item.pk}/{url}").status_code == 404, url
    assert client.get(f"/api/projects/{project.pk}/items/").status_code == 404
    assert client.delete(f"/api/items/{item.pk}/").status_code == 404


def test_only_managers_delete_items_and_the_bytes_go_too(
    client_for, member, stored_item, media_root, django_capture_on_commit_callbacks
):
    item, _ = stored_item
    assert client_for(member("annotator")).delete(f"/api/items/{item.pk}/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(member("manager")).delete(f"/api/items/{item.pk}/")
    assert response.status_code == 204
    assert not AudioItem.objects.exists()
    assert stored_files(media_root) == []


def test_missing_stored_audio_is_a_clear_404(client_for, annotator, project, media_root):
    item = AudioItemFactory(project=project, storage_key="projects/x/gone.wav")
    response = client_for(annotator).get(f"/api/items/{item.pk}/audio/")
    assert response.status_code == 404
    assert "stored audio" in response.json()["error"]["message"]
