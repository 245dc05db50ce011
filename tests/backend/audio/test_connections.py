"""Storage connections to a server folder, and registering items in place (items_register)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from backend.audio.models import AudioItem, StorageConnection
from backend.audio.services import (
    PROCESS_BATCH_SIZE,
    RegisteredRef,
    item_process,
    items_register,
)
from backend.common.exceptions import ValidationFailed
from backend.projects.services import project_delete
from tests.audio_gen import write_tone
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def allowed(settings, tmp_path: Path) -> Path:
    """The one folder the administrator allows (EARMARK_FOLDER_ROOTS), holding recordings."""
    root = (tmp_path / "allowed").resolve()
    (root / "site-a" / "night").mkdir(parents=True)
    settings.EARMARK_FOLDER_ROOTS = (root,)
    return root


@pytest.fixture
def recordings(allowed: Path) -> Path:
    folder = allowed / "site-a"
    write_tone(folder / "dawn.wav", duration_s=2.0, seed=1)
    write_tone(folder / "night" / "owl.FLAC", duration_s=3.0, fmt="flac", seed=2)
    (folder / "notes.txt").write_text("not audio")
    return folder


def _create(client, project, **body):
    return client.post(
        f"/api/projects/{project.pk}/connections/", {"name": "field", "kind": "folder", **body}
    )


def _sync(client, connection_id: int, capture):
    with capture(execute=True):  # the worker's jobs run on commit, eagerly in unit tests
        return client.post(f"/api/connections/{connection_id}/sync/")


def test_sync_registers_the_folder_in_place_and_processes_it(
    client_for, manager, project, recordings, media_root, django_capture_on_commit_callbacks
):
    # given a folder connection to an allowed folder with two recordings and a text file
    client = client_for(manager)
    created = _create(client, project, root=str(recordings))
    assert created.status_code == 201, created.json()
    connection_id = created.json()["id"]
    # when the manager syncs it
    response = _sync(client, connection_id, django_capture_on_commit_callbacks)
    # then both recordings are registered by relative path, read in place and processed
    assert response.status_code == 200, response.json()
    assert response.json() == {"found": 2, "created": 2, "existing": 0}
    items = {i.external_id: i for i in AudioItem.objects.all()}
    assert set(items) == {"dawn.wav", "night/owl.FLAC"}
    owl = items["night/owl.FLAC"]
    assert owl.state == AudioItem.State.READY, owl.error
    assert owl.connection_id == connection_id
    assert owl.original_name == "owl.FLAC"
    assert owl.format == "flac"
    assert owl.duration_s == pytest.approx(3.0, abs=0.01)
    assert owl.sample_rate_hz == 16_000
    assert owl.channels == 1
    assert owl.size_bytes == (recordings / "night" / "owl.FLAC").stat().st_size
    assert len(owl.sha256 or "") == 64
    assert owl.peaks_levels
    # nothing was copied into our storage: only peaks and spectrogram overviews
    assert not [p for p in media_root.rglob("*") if p.suffix in (".wav", ".flac", ".FLAC")]
    assert client.get(f"/api/connections/{connection_id}/").json()["item_count"] == 2


def test_resync_adds_only_new_files(
    client_for, manager, project, recordings, django_capture_on_commit_callbacks
):
    client = client_for(manager)
    connection_id = _create(client, project, root=str(recordings)).json()["id"]
    _sync(client, connection_id, django_capture_on_commit_callbacks)
    # when nothing changed, a second sync registers nothing
    again = _sync(client, connection_id, django_capture_on_commit_callbacks)
    assert again.json() == {"found": 2, "created": 0, "existing": 2}
    # when a file appears, only it is registered
    write_tone(recordings / "dusk.wav", duration_s=1.0, seed=3)
    third = _sync(client, connection_id, django_capture_on_commit_callbacks)
    assert third.json() == {"found": 3, "created": 1, "existing": 2}
    assert AudioItem.objects.count() == 3
    assert AudioItem.objects.get(external_id="dusk.wav").state == AudioItem.State.READY


def test_registered_audio_streams_with_range_requests(
    client_for, annotator, manager, project, recordings, django_capture_on_commit_callbacks
):
    client = client_for(manager)
    connection_id = _create(client, project, root=str(recordings)).json()["id"]
    _sync(client, connection_id, django_capture_on_commit_callbacks)
    item = AudioItem.objects.get(external_id="dawn.wav")
    data = (recordings / "dawn.wav").read_bytes()
    # an annotator streams a range of the file the item points at
    part = client_for(annotator).get(f"/api/items/{item.pk}/audio/", HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert b"".join(part.streaming_content) == data[100:200]
    full = client_for(annotator).get(f"/api/items/{item.pk}/audio/")
    assert b"".join(full.streaming_content) == data
    # and fine spectrogram tiles decode the window from the folder
    tile = client_for(annotator).get(
        f"/api/items/{item.pk}/spectrogram/", {"px_per_s": 128, "index": 0}
    )
    assert tile.status_code == 200, tile.content[:300]
    assert tile["Content-Type"] == "image/png"


def test_deleting_registered_items_keeps_the_source_files(
    client_for, manager, project, recordings, django_capture_on_commit_callbacks
):
    client = client_for(manager)
    connection_id = _create(client, project, root=str(recordings)).json()["id"]
    _sync(client, connection_id, django_capture_on_commit_callbacks)
    # the connection cannot go while items read from it
    refused = client.delete(f"/api/connections/{connection_id}/")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "connection_in_use"
    for item in AudioItem.objects.all():
        with django_capture_on_commit_callbacks(execute=True):
            assert client.delete(f"/api/items/{item.pk}/").status_code == 204
    assert (recordings / "dawn.wav").exists()
    assert (recordings / "night" / "owl.FLAC").exists()
    assert client.delete(f"/api/connections/{connection_id}/").status_code == 204
    assert (recordings / "dawn.wav").exists()


def test_deleting_the_project_removes_its_connections_and_items(project, recordings):
    connection = StorageConnection.objects.create(
        project=project, name="c", kind="folder", root=str(recordings)
    )
    items_register(
        project=project, connection=connection, refs=[RegisteredRef(path="dawn.wav")], user=None
    )
    project_delete(project=project)
    assert not StorageConnection.objects.exists()
    assert not AudioItem.objects.exists()
    assert (recordings / "dawn.wav").exists()


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("/etc", "outside the allowed folders"),
        ("relative/path", "absolute path"),
        ("{allowed}/missing", "does not exist"),
        ("{allowed}/escape", "outside the allowed folders"),  # a symlink pointing out
        ("{allowed}/site-a/dawn.wav", "is not a folder"),
        ("{allowed}/site-a/../..", "outside the allowed folders"),
    ],
)
def test_folders_outside_the_allowed_roots_are_refused(
    client_for, manager, project, recordings, allowed, tmp_path, root, message
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (allowed / "escape").symlink_to(outside)
    response = _create(client_for(manager), project, root=root.format(allowed=allowed))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "connection_failed"
    assert message in error["message"]
    assert message in error["fields"]["root"][0]
    assert not StorageConnection.objects.exists()


def test_folders_are_off_until_the_administrator_allows_some(
    client_for, manager, project, settings, tmp_path
):
    settings.EARMARK_FOLDER_ROOTS = ()
    response = _create(client_for(manager), project, root=str(tmp_path))
    assert response.status_code == 400
    assert "EARMARK_FOLDER_ROOTS" in response.json()["error"]["message"]


def test_unreadable_folders_are_refused(client_for, manager, project, allowed):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    locked = allowed / "locked"
    locked.mkdir(mode=0)
    response = _create(client_for(manager), project, root=str(locked))
    assert response.status_code == 400
    assert "not readable" in response.json()["error"]["message"]


def test_sync_skips_symlinks_that_leave_the_folder(
    client_for, manager, project, recordings, tmp_path, django_capture_on_commit_callbacks
):
    # given a symlinked file and a symlinked folder that both point outside the connection
    outside = tmp_path / "outside"
    outside.mkdir()
    write_tone(outside / "secret.wav", duration_s=1.0, seed=9)
    (recordings / "link.wav").symlink_to(outside / "secret.wav")
    (recordings / "linked-dir").symlink_to(outside)
    # and one that stays inside it
    (recordings / "alias.wav").symlink_to(recordings / "dawn.wav")
    client = client_for(manager)
    connection_id = _create(client, project, root=str(recordings)).json()["id"]
    response = _sync(client, connection_id, django_capture_on_commit_callbacks)
    names = set(AudioItem.objects.values_list("external_id", flat=True))
    assert names == {"dawn.wav", "night/owl.FLAC", "alias.wav"}
    assert response.json()["created"] == 3
    # the alias has the same bytes as dawn.wav: one of the two fails as a duplicate
    states = sorted(AudioItem.objects.filter(external_id__in=["dawn.wav", "alias.wav"])
                    .values_list("state", flat=True))  # fmt: skip
    assert states == ["failed", "ready"]
    failed = AudioItem.objects.get(state="failed")
    assert "the same audio as item" in failed.error


def test_a_stored_path_cannot_leave_the_connection(project, recordings, tmp_path):
    # given a registered item whose path is later replaced by a symlink pointing outside
    outside = tmp_path / "outside"
    outside.mkdir()
    write_tone(outside / "x.wav", duration_s=1.0)
    connection = StorageConnection.objects.create(
        project=project, name="c", kind="folder", root=str(recordings)
    )
    (recordings / "swapped.wav").symlink_to(outside / "x.wav")
    result = items_register(
        project=project, connection=connection, refs=[RegisteredRef(path="swapped.wav")], user=None
    )
    # when the worker processes it, it refuses to read outside the folder
    item = item_process(item_id=result.item_ids["swapped.wav"])
    assert item is not None
    assert item.state == AudioItem.State.FAILED
    assert "leads outside the connection" in item.error


def test_registered_files_that_are_not_audio_fail_with_the_reason(
    project, recordings, django_capture_on_commit_callbacks
):
    (recordings / "broken.wav").write_bytes(b"RIFF0000WAVEjunk" * 10)
    connection = StorageConnection.objects.create(
        project=project, name="c", kind="folder", root=str(recordings)
    )
    with django_capture_on_commit_callbacks(execute=True):
        items_register(
            project=project,
            connection=connection,
            refs=[RegisteredRef(path="broken.wav"), RegisteredRef(path="gone.wav")],
            user=None,
        )
    broken = AudioItem.objects.get(external_id="broken.wav")
    assert broken.state == AudioItem.State.FAILED
    assert broken.error
    gone = AudioItem.objects.get(external_id="gone.wav")
    assert gone.state == AudioItem.State.FAILED
    assert "gone.wav is missing" in gone.error


def test_items_register_is_bulk_and_idempotent(project, django_capture_on_commit_callbacks):
    # given 10,000 references (the size of one import batch)
    connection = StorageConnection.objects.create(
        project=project, name="c", kind="folder", root="/nowhere"
    )
    refs = [
        RegisteredRef(path=f"d{i % 10}/rec{i}.wav", metadata={"site": i % 7}) for i in range(10_000)
    ]
    # when they are registered: a few queries besides the batched inserts, processing
    # enqueued on commit in batches of ids
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        CaptureQueriesContext(db_connection) as queries,
    ):
        result = items_register(project=project, connection=connection, refs=refs, user=None)
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    # Postgres inserts 2,000 rows a statement; SQLite as many as its 999 parameters allow
    assert len(inserts) <= (5 if db_connection.vendor == "postgresql" else 10_000 // 40)
    assert len(queries) - len(inserts) <= 6
    assert (result.created, result.existing) == (10_000, 0)
    assert len(result.item_ids) == 10_000
    assert len(callbacks) == 10_000 // PROCESS_BATCH_SIZE
    item = AudioItem.objects.get(pk=result.item_ids["d3/rec13.wav"])
    assert item.state == AudioItem.State.PENDING
    assert item.sha256 is None
    assert item.storage_key == "d3/rec13.wav"
    assert item.original_name == "rec13.wav"
    assert item.metadata == {"site": 6}
    # when the same refs come again with one new one, only the new one is created
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = items_register(
            project=project,
            connection=connection,
            refs=[*refs[:100], RegisteredRef(path="new.wav", external_id="N-1")],
            user=None,
        )
    assert (again.created, again.existing) == (1, 100)
    assert again.item_ids["d0/rec0.wav"] == result.item_ids["d0/rec0.wav"]
    assert len(callbacks) == 1
    assert AudioItem.objects.filter(project=project).count() == 10_001


def test_items_register_rejects_the_batch_on_a_bad_ref(project):
    refs = [RegisteredRef(path="ok.wav"), RegisteredRef(path="../etc/passwd")]
    with pytest.raises(ValidationFailed) as caught:
        items_register(project=project, connection=None, refs=refs, user=None)
    assert "refs.1.path" in caught.value.fields
    assert not AudioItem.objects.exists()


def test_items_register_refuses_another_projects_connection(project):
    other = StorageConnection.objects.create(
        project=ProjectFactory(), name="c", kind="folder", root="/x"
    )
    with pytest.raises(ValidationFailed):
        items_register(
            project=project, connection=other, refs=[RegisteredRef(path="a.wav")], user=None
        )


def test_only_managers_see_and_change_connections(
    client_for, member, outsider, project, recordings
):
    connection = StorageConnection.objects.create(
        project=project, name="c", kind="folder", root=str(recordings)
    )
    for role in ("annotator", "reviewer"):
        client = client_for(member(role))
        assert client.get(f"/api/projects/{project.pk}/connections/").status_code == 403
        assert client.get(f"/api/connections/{connection.pk}/").status_code == 403
        assert client.post(f"/api/connections/{connection.pk}/sync/").status_code == 403
        assert _create(client, project, root=str(recordings)).status_code == 403
    client = client_for(outsider)
    assert client.get(f"/api/projects/{project.pk}/connections/").status_code == 404
    assert client.get(f"/api/connections/{connection.pk}/").status_code == 404
    assert client.delete(f"/api/connections/{connection.pk}/").status_code == 404


def test_connection_list_and_names(client_for, manager, project, recordings):
    client = client_for(manager)
    assert _create(client, project, root=str(recordings)).status_code == 201
    duplicate = _create(client, project, root=str(recordings))
    assert duplicate.status_code == 400
    assert "name" in duplicate.json()["error"]["fields"]
    listed = client.get(f"/api/projects/{project.pk}/connections/").json()["results"]
    assert [c["name"] for c in listed] == ["field"]
    assert listed[0]["root"] == str(recordings)
    assert listed[0]["has_credentials"] is False


@pytest.mark.parametrize(
    ("endpoint_url", "valid"),
    [("http://minio:9000", True), ("https://s3.example.org/", True), ("", True),
     ("ftp://minio:21", False), ("minio:9000", False)],
)  # fmt: skip
def test_endpoint_urls_may_name_single_label_hosts(endpoint_url, valid):
    from backend.audio.apis import ConnectionListCreateApi

    data = {"name": "b", "kind": "s3", "bucket": "x", "endpoint_url": endpoint_url}
    serializer = ConnectionListCreateApi.InputSerializer(data=data)
    assert serializer.is_valid() is valid, serializer.errors


def test_a_missing_key_in_our_storage_fails_without_naming_server_paths(
    project, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = items_register(
            project=project, connection=None, refs=[RegisteredRef(path="imports/a.wav")],
            user=None,
        )  # fmt: skip
    item = AudioItem.objects.get(pk=result.item_ids["imports/a.wav"])
    assert item.state == AudioItem.State.FAILED
    assert item.error == "imports/a.wav is missing from storage"
