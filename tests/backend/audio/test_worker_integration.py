"""Ingest through the real broker and a real worker process (not eager mode)."""

from __future__ import annotations

import os
import time

import pytest
from celery import current_app

from backend.audio.models import AudioItem
from ml_worker.contracts import TASK_PING
from tests.audio_gen import write_tone

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait_until_processed(item_id: int, timeout_s: float = 90) -> AudioItem:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        item = AudioItem.objects.get(pk=item_id)
        if item.state != AudioItem.State.PENDING:
            return item
        time.sleep(0.2)
    raise AssertionError(f"item {item_id} still pending after {timeout_s} s")


def _upload(client, project_id, path):
    with path.open("rb") as fh:
        response = client.post(
            f"/api/projects/{project_id}/items/upload/", {"files": [fh]}, format="multipart"
        )
    assert response.status_code == 201, response.json()
    return response.json()["files"][0]["item"]["id"]


def test_an_upload_is_processed_by_the_worker(
    default_worker, not_eager, client_for, manager, project, tmp_path
):
    # given a recording uploaded through the API
    path = write_tone(tmp_path / "walk.flac", duration_s=20.0, channels=2, fmt="flac")
    item_id = _upload(client_for(manager), project.pk, path)
    # then the worker process picks it up from the broker and makes it ready
    item = _wait_until_processed(item_id)
    assert item.state == AudioItem.State.READY, item.error
    assert item.duration_s == pytest.approx(20.0)
    peaks = client_for(manager).get(f"/api/items/{item_id}/peaks/?target_bins=500").json()
    assert len(peaks["data"]) == 2
    assert "earmark.audio.item_process[" in default_worker.log()


def test_a_recording_corrupt_in_the_middle_fails_with_the_reason(
    default_worker, not_eager, client_for, manager, project, tmp_path
):
    # given a FLAC whose header and ending are fine but whose middle is garbage
    path = write_tone(tmp_path / "broken.flac", duration_s=20.0, fmt="flac")
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 20_000] = os.urandom(20_000)
    path.write_bytes(bytes(data))
    # when it is uploaded (the cheap checks at upload time pass)
    item_id = _upload(client_for(manager), project.pk, path)
    # then the worker's full decode marks it failed, saying where and why
    item = _wait_until_processed(item_id)
    assert item.state == AudioItem.State.FAILED
    assert "corrupt or truncated" in item.error
    assert item.peaks_levels == []


def test_the_ml_worker_consumes_its_queue(ml_worker, not_eager):
    # routing by task name sends it to queue "ml", which only the ML worker consumes
    current_app.send_task(TASK_PING)
    ml_worker.wait_for_log("ml worker alive on", timeout_s=60)
