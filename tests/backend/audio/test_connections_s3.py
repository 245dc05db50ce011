"""S3 connections against a real S3-compatible server on loopback (moto's server mode).

The server checks credentials (INITIAL_NO_AUTH_ACTION_COUNT): its first requests create an
IAM user and key with an S3 policy; every request after that must be signed by that key.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from backend.audio.models import AudioItem, StorageConnection
from backend.audio.services import RegisteredRef, items_register
from tests.audio_gen import write_tone

pytestmark = pytest.mark.django_db

BUCKET = "field-recordings"
PREFIX = "site-a/2024"
# IAM calls the fixture makes before the server starts checking signatures.
_UNSIGNED_SETUP_CALLS = 3


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str

    def client(self, **overrides: Any) -> Any:
        args = {
            "endpoint_url": self.endpoint_url,
            "region_name": "us-east-1",
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            **overrides,
        }
        return boto3.session.Session().client("s3", **args)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _moto_server(log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """A moto S3 server on a free loopback port, up until the block ends: its endpoint URL."""
    port = _free_port()
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_UNSIGNED_SETUP_CALLS)}
    with _moto_server(tmp_path_factory.mktemp("moto") / "moto.log", env) as endpoint:
        iam = boto3.session.Session().client(
            "iam", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="setup", aws_secret_access_key="setup",
        )  # fmt: skip
        iam.create_user(UserName="earmark")
        key = iam.create_access_key(UserName="earmark")["AccessKey"]
        allow_s3 = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
        policy = {"Version": "2012-10-17", "Statement": [allow_s3]}
        iam.put_user_policy(UserName="earmark", PolicyName="s3", PolicyDocument=json.dumps(policy))
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A bucket with a WAV and a FLAC under PREFIX, a text file, and audio outside PREFIX."""
    folder = tmp_path_factory.mktemp("s3-audio")
    s3 = s3_server.client()
    s3.create_bucket(Bucket=BUCKET)
    objects = {
        f"{PREFIX}/dawn.wav": write_tone(folder / "dawn.wav", duration_s=2.0, seed=1),
        f"{PREFIX}/night/owl.flac": write_tone(
            folder / "owl.flac", duration_s=3.0, fmt="flac", seed=2, channels=2
        ),
        f"{PREFIX}/readme.txt": _text(folder / "readme.txt"),
        "elsewhere/other.wav": write_tone(folder / "other.wav", duration_s=1.0, seed=3),
    }
    contents = {}
    for key, path in objects.items():
        s3.upload_file(str(path), BUCKET, key)
        contents[key] = path.read_bytes()
    return contents


@pytest.fixture(autouse=True)
def private_var_dir(settings, tmp_path: Path) -> None:
    """Downloads cached for spectrogram tiles land in the test's folder, not the repo's var/."""
    settings.EARMARK_VAR_DIR = tmp_path / "var"


def _text(path: Path) -> Path:
    path.write_text("not audio")
    return path


def _create(client, project, s3_server: S3Server, **overrides: str):
    body = {
        "name": "bucket",
        "kind": "s3",
        "bucket": BUCKET,
        "root": PREFIX,
        "endpoint_url": s3_server.endpoint_url,
        "region": "us-east-1",
        "access_key_id": s3_server.access_key_id,
        "secret_access_key": s3_server.secret_access_key,
        **overrides,
    }
    return client.post(f"/api/projects/{project.pk}/connections/", body)


def test_s3_prefix_syncs_processes_and_streams(
    client_for, manager, annotator, project, s3_server, bucket, media_root,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    client = client_for(manager)
    # given a connection to the bucket prefix
    created = _create(client, project, s3_server)
    assert created.status_code == 201, created.json()
    body = created.json()
    # the secret is never returned, not even the access key id
    assert s3_server.secret_access_key not in json.dumps(body)
    assert s3_server.access_key_id not in json.dumps(body)
    assert body["has_credentials"] is True
    assert body["root"] == PREFIX
    # when it is synced (processing runs eagerly on commit in unit tests)
    with django_capture_on_commit_callbacks(execute=True):
        synced = client.post(f"/api/connections/{body['id']}/sync/")
    # then the two recordings under the prefix are registered, read from S3 and processed
    assert synced.status_code == 200, synced.json()
    assert synced.json() == {"found": 2, "created": 2, "existing": 0}
    items = {i.external_id: i for i in AudioItem.objects.all()}
    assert set(items) == {"dawn.wav", "night/owl.flac"}
    owl = items["night/owl.flac"]
    assert owl.state == AudioItem.State.READY, owl.error
    assert (owl.format, owl.channels, owl.sample_rate_hz) == ("flac", 2, 16_000)
    assert owl.duration_s == pytest.approx(3.0, abs=0.01)
    assert owl.size_bytes == len(bucket[f"{PREFIX}/night/owl.flac"])
    assert owl.peaks_levels
    # and an annotator streams a byte range, fetched from S3 with the same Range
    data = bucket[f"{PREFIX}/dawn.wav"]
    dawn = items["dawn.wav"]
    part = client_for(annotator).get(f"/api/items/{dawn.pk}/audio/", HTTP_RANGE="bytes=44-1043")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 44-1043/{len(data)}"
    assert b"".join(part.streaming_content) == data[44:1044]
    tail = client_for(annotator).get(f"/api/items/{dawn.pk}/audio/", HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == data[-10:]
    whole = client_for(annotator).get(f"/api/items/{dawn.pk}/audio/")
    assert b"".join(whole.streaming_content) == data
    tile = client_for(annotator).get(
        f"/api/items/{dawn.pk}/spectrogram/", {"px_per_s": 128, "index": 0}
    )
    assert tile.status_code == 200
    # when synced again, nothing new is registered
    again = client.post(f"/api/connections/{body['id']}/sync/")
    assert again.json() == {"found": 2, "created": 0, "existing": 2}
    # deleting an item leaves the object in the bucket
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/items/{dawn.pk}/").status_code == 204
    obj = s3_server.client().get_object(Bucket=BUCKET, Key=f"{PREFIX}/dawn.wav")
    assert obj["Body"].read() == data


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"secret_access_key": "wrong-secret"}, "access_key_id", "check the access key"),
        ({"access_key_id": "AKIANOSUCHKEY"}, "access_key_id", "check the access key"),
        ({"bucket": "no-such-bucket"}, "bucket", "does not exist"),
    ],
)
def test_bad_s3_settings_are_clear_errors(
    client_for, manager, project, s3_server, bucket, overrides, field, message
):
    response = _create(client_for(manager), project, s3_server, **overrides)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "connection_failed"
    assert message in error["message"]
    assert field in error["fields"]
    assert not StorageConnection.objects.exists()


def test_an_unreachable_endpoint_is_a_clear_error(client_for, manager, project, s3_server):
    dead = f"http://127.0.0.1:{_free_port()}"
    response = _create(client_for(manager), project, s3_server, endpoint_url=dead)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {"endpoint_url": [error["message"]]}
    assert "cannot reach" in error["message"]


def test_a_missing_object_fails_the_item_and_answers_404(
    client_for, manager, project, s3_server, bucket, django_capture_on_commit_callbacks
):
    client = client_for(manager)
    connection_id = _create(client, project, s3_server).json()["id"]
    connection = StorageConnection.objects.get(pk=connection_id)
    with django_capture_on_commit_callbacks(execute=True):
        result = items_register(
            project=project, connection=connection, refs=[RegisteredRef(path="gone.wav")],
            user=None,
        )  # fmt: skip
    item = AudioItem.objects.get(pk=result.item_ids["gone.wav"])
    assert item.state == AudioItem.State.FAILED
    assert "gone.wav is missing from the bucket" in item.error
    response = client.get(f"/api/items/{item.pk}/audio/")
    assert response.status_code == 404
    assert "cannot be read" in response.json()["error"]["message"]


def test_sync_after_the_credentials_were_revoked_is_a_clear_error(
    client_for, manager, project, s3_server, bucket
):
    client = client_for(manager)
    connection_id = _create(client, project, s3_server).json()["id"]
    StorageConnection.objects.filter(pk=connection_id).update(secret_access_key="rotated")
    response = client.post(f"/api/connections/{connection_id}/sync/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "connection_failed"
    assert not AudioItem.objects.exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_processes_a_synced_bucket(
    default_worker, not_eager, client_for, manager, project, s3_server, bucket
):
    # given a synced S3 connection, its processing sent through the real broker
    client = client_for(manager)
    connection_id = _create(client, project, s3_server).json()["id"]
    assert client.post(f"/api/connections/{connection_id}/sync/").json()["created"] == 2
    # then the worker process reads both objects from S3 and makes the items ready
    deadline = time.monotonic() + 120
    while AudioItem.objects.filter(project=project, state="pending").exists():
        assert time.monotonic() < deadline, default_worker.log()[-3000:]
        time.sleep(0.2)
    items = AudioItem.objects.filter(project=project)
    assert {i.state for i in items} == {"ready"}, [i.error for i in items]
    assert sorted(i.duration_s for i in items) == pytest.approx([2.0, 3.0], abs=0.01)
    assert "earmark.audio.items_process_batch[" in default_worker.log()


def test_fine_tiles_of_s3_items_download_the_recording_once(
    client_for, manager, project, s3_server, bucket, settings, django_capture_on_commit_callbacks
):
    cache = settings.EARMARK_VAR_DIR / "cache" / "connections"
    client = client_for(manager)
    connection_id = _create(client, project, s3_server).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/connections/{connection_id}/sync/")
    item = AudioItem.objects.get(external_id="dawn.wav")
    # two fine tiles of the same recording: one download kept in the cache
    for n_fft in (512, 2048):
        tile = client.get(
            f"/api/items/{item.pk}/spectrogram/", {"px_per_s": 128, "index": 0, "n_fft": n_fft}
        )
        assert tile.status_code == 200
    cached = [p for p in cache.iterdir() if p.is_file()]
    assert len(cached) == 1
    assert cached[0].read_bytes() == bucket[f"{PREFIX}/dawn.wav"]
    # a replaced object is a new cache entry (named by ETag and size), never stale bytes
    s3 = s3_server.client()
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/dawn.wav", Body=bucket[f"{PREFIX}/dawn.wav"][:-2])
    try:
        assert client.get(
            f"/api/items/{item.pk}/spectrogram/", {"px_per_s": 128, "index": 0, "n_fft": 1024}
        ).status_code == 200  # fmt: skip
        assert len([p for p in cache.iterdir() if p.is_file()]) == 2
    finally:
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/dawn.wav", Body=bucket[f"{PREFIX}/dawn.wav"])


def test_the_download_cache_evicts_the_least_recently_used(tmp_path):
    from backend.audio.connections import evict_cache

    for age, name in enumerate(["old", "middle", "new"]):
        path = tmp_path / name
        path.write_bytes(b"x" * 100)
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    assert evict_cache(tmp_path, max_bytes=200, keep=tmp_path / "new") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["middle", "new"]


def test_the_ml_worker_gets_a_presigned_url_for_items_in_a_bucket(project, tmp_path):
    """Items read in place from a bucket reach the ML worker as expiring SigV4 URLs: the
    worker never holds the connection's secrets. (moto's IAM checks do not accept pre-signed
    URLs, so this uses a second moto server without them.)"""
    import urllib.parse
    import urllib.request

    from backend.audio.models import StorageConnection
    from backend.predictions.selectors import items_to_predict

    with _moto_server(tmp_path / "moto.log") as endpoint:
        server = S3Server(endpoint, "AKIAEXAMPLEKEY", "example-secret")
        data = write_tone(tmp_path / "dawn.wav", duration_s=0.5).read_bytes()
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/dawn.wav", Body=data)
        connection = StorageConnection.objects.create(
            project=project,
            name="bucket",
            kind="s3",
            bucket=BUCKET,
            root=PREFIX,
            endpoint_url=server.endpoint_url,
            region="us-east-1",
            access_key_id=server.access_key_id,
            secret_access_key=server.secret_access_key,
        )
        item = AudioItem.objects.create(
            project=project,
            connection=connection,
            storage_key="dawn.wav",
            original_name="dawn.wav",
            external_id="dawn.wav",
            state=AudioItem.State.READY,
        )
        (ref,) = list(items_to_predict(project=project))
        assert ref.item_id == item.pk
        assert (ref.key, ref.path) == ("", "")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(ref.url).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == ["86400"]
        assert server.secret_access_key not in ref.url
        with urllib.request.urlopen(ref.url, timeout=30) as response:  # noqa: S310 - test server
            assert response.read() == data
