"""The ML loop's backend half: starting, dispatching, progress, outcome, cancel, reaper, auto-train.

The ML worker's side runs in-process here (``ml_worker.pipeline.run_training`` on the same
storage folder); the integration test in ``test_ml_loop_integration.py`` runs it in a real
worker process over the real broker.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from django.core.files.storage import default_storage
from django.utils import timezone

from backend.annotations.models import Annotation
from backend.annotations.services import annotation_start, annotation_submit
from backend.audio.models import AudioItem
from backend.predictions import services
from backend.predictions.models import ModelVersion, Prediction, TrainingRun
from backend.predictions.services import (
    training_finish,
    training_progress,
    training_reap,
)
from backend.projects.models import Project
from ml_worker.contracts import TrainingRequest
from ml_worker.pipeline import run_training
from ml_worker.storage import LocalStorage
from tests.factories import AnnotationFactory, AudioItemFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db

RATE = 16000
SCHEMA = {"clip_groups": [{"name": "pitch", "choice": "single", "labels": ["low", "high"]}]}


def write_item_audio(root: Path, item: AudioItem, *, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(round(1.5 * RATE)) / RATE
    freq = 300.0 if kind == "low" else 2500.0
    signal = 0.4 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
    path = root / item.storage_key
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, signal.astype(np.float32), RATE, subtype="PCM_16")


@pytest.fixture
def ml_project(project: Project, media_root: Path) -> Project:
    """8 labelled items (4 low, 4 high tones) and 4 unlabelled ones, audio in storage."""
    project.label_schema = SCHEMA
    project.queue_policy = Project.QueuePolicy.UNCERTAINTY
    project.training_settings = {"epochs": 3, "window_s": 1.0}
    project.save()
    labeller = UserFactory()
    for i in range(12):
        kind = "low" if i % 2 == 0 else "high"
        item = AudioItemFactory(project=project, storage_key=f"projects/{project.pk}/audio/{i}.wav")
        write_item_audio(media_root, item, kind=kind, seed=i)
        if i < 8:
            AnnotationFactory(
                item=item,
                annotator=labeller,
                state=Annotation.State.SUBMITTED,
                clip_labels={"pitch": [kind]},
            )
            AudioItem.objects.filter(pk=item.pk).update(submitted_annotations=1)
    return project


def run_worker_in_process(media_root: Path, sent: list[tuple[int, int, str]]) -> str:
    """What the ML worker's task does, minus the broker: returns the outcome key."""
    run_id, attempt, key = sent[-1]
    storage = LocalStorage(media_root)
    request = TrainingRequest.from_json(json.loads(storage.read_bytes(key)))

    def report(progress: Any) -> None:
        training_progress(run_id=run_id, attempt=attempt, progress=progress.to_json())

    outcome = run_training(request, storage, report=report)
    outcome_key = key.rsplit("/", 1)[0] + "/outcome.json"
    storage.write_bytes(outcome_key, json.dumps(outcome.to_json()).encode())
    return outcome_key


def test_a_requested_run_trains_stores_a_model_predictions_and_the_queue_order(
    client_for, manager, ml_project, media_root, sent, committed
):
    client = client_for(manager)
    # when the manager starts training
    with committed():
        response = client.post(f"/api/projects/{ml_project.pk}/training-runs/")
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    # then the request went to the ML worker by storage key, naming the labelled audio
    assert [(r, a) for r, a, _ in sent] == [(run_id, 1)]
    request = json.loads(default_storage.open(sent[0][2]).read())
    assert request["group"] == "pitch"
    assert len(request["train"]) == 8
    assert len(request["predict"]) == 4
    assert request["ranking"] == "uncertainty"
    # when the worker runs it
    outcome_key = run_worker_in_process(media_root, sent)
    run = TrainingRun.objects.get(pk=run_id)
    assert run.state == TrainingRun.State.RUNNING
    assert run.heartbeat_at is not None
    training_finish(run_id=run_id, attempt=1, outcome_key=outcome_key)
    # then the run succeeded with a model version, predictions and a queue order
    body = client.get(f"/api/training-runs/{run_id}/").json()
    assert body["state"] == "succeeded", body["error"]
    version = ModelVersion.objects.get(pk=body["model_version"])
    assert version.version == 1
    assert version.trained_on["counts"] == {"low": 4, "high": 4}
    assert version.metrics["held_out"]["accuracy"] is not None
    unfinished = AudioItem.objects.filter(project=ml_project, submitted_annotations=0)
    predictions = Prediction.objects.filter(model_version=version)
    assert sorted(p.item_id for p in predictions) == sorted(i.pk for i in unfinished)
    assert sorted(i.queue_rank for i in unfinished) == [1.0, 2.0, 3.0, 4.0]
    first = unfinished.order_by("queue_rank").first()
    assert first is not None
    most_uncertain = max(predictions, key=lambda p: p.uncertainty or 0)
    assert first.pk == most_uncertain.item_id
    listed = client.get(f"/api/projects/{ml_project.pk}/model-versions/").json()["results"]
    assert listed[0]["metrics"]["chosen"] in {"ClipCNN", "MfccLogReg"}


def test_starting_needs_labels_a_manager_and_no_active_run(
    client_for, manager, annotator, ml_project, sent
):
    url = f"/api/projects/{ml_project.pk}/training-runs/"
    assert client_for(annotator).post(url).status_code == 403
    assert client_for(manager).post(url).status_code == 201
    second = client_for(manager).post(url)
    assert second.status_code == 409
    assert "already queued" in second.json()["error"]["message"]
    assert TrainingRun.objects.filter(project=ml_project).count() == 1


def test_too_few_labels_is_a_clear_error_and_no_run(client_for, manager, project, sent):
    project.label_schema = SCHEMA
    project.save()
    response = client_for(manager).post(f"/api/projects/{project.pk}/training-runs/")
    assert response.status_code == 400
    assert "not enough labels" in response.json()["error"]["message"]
    assert not TrainingRun.objects.exists()
    assert sent == []


def test_cancel_ends_the_run_and_leaves_a_marker_for_the_worker(
    client_for, manager, ml_project, media_root, sent, committed
):
    with committed():
        response = client_for(manager).post(f"/api/projects/{ml_project.pk}/training-runs/")
    run_id = response.json()["id"]
    response = client_for(manager).post(f"/api/training-runs/{run_id}/cancel/")
    assert response.json()["state"] == "cancelled"
    request = json.loads(default_storage.open(sent[0][2]).read())
    assert default_storage.exists(request["cancel_key"])
    # the worker sees the marker and gives up; its late reports change nothing
    outcome_key = run_worker_in_process(media_root, sent)
    assert training_finish(run_id=run_id, attempt=1, outcome_key=outcome_key) is None
    assert TrainingRun.objects.get(pk=run_id).state == "cancelled"
    assert not ModelVersion.objects.exists()
    assert client_for(manager).post(f"/api/training-runs/{run_id}/cancel/").status_code == 409


def test_the_reaper_resends_a_silent_run_once_then_fails_it(manager, ml_project, sent, committed):
    with committed():
        run = services.training_start(project=ml_project, user=manager)
    training_progress(run_id=run.pk, attempt=1, progress={"phase": "training", "epoch": 1})
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=services.STALE_AFTER_S + 5)
    )
    with committed():
        assert training_reap() == 1
    run.refresh_from_db()
    assert (run.state, run.attempt) == ("queued", 2)
    assert [a for _, a, _ in sent] == [1, 2]  # dispatched again with the new attempt
    # a late report of the dead first attempt is ignored
    training_progress(run_id=run.pk, attempt=1, progress={"phase": "training", "epoch": 5})
    run.refresh_from_db()
    assert run.state == "queued"
    training_progress(run_id=run.pk, attempt=2, progress={"phase": "training", "epoch": 1})
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=services.STALE_AFTER_S + 5)
    )
    assert training_reap() == 1
    run.refresh_from_db()
    assert run.state == "failed"
    assert "stopped reporting" in run.error
    assert training_reap() == 0


def test_a_live_run_is_left_alone_by_the_reaper(manager, ml_project, sent):
    run = services.training_start(project=ml_project, user=manager)
    training_progress(run_id=run.pk, attempt=1, progress={"phase": "training"})
    assert training_reap() == 0
    run.refresh_from_db()
    assert run.state == "running"


def test_auto_training_starts_after_n_new_submissions_once(ml_project, annotator, sent, committed):
    ml_project.training_settings = {"epochs": 3, "window_s": 1.0, "auto_train_after": 2}
    ml_project.save()
    unlabelled = list(AudioItem.objects.filter(project=ml_project, submitted_annotations=0))

    def submit(item: AudioItem) -> None:
        annotation, _ = annotation_start(
            item=item, annotator=annotator, clip_labels={"pitch": ["low"]}
        )
        with committed():
            annotation_submit(
                annotation_id=annotation.pk, user=annotator, version=annotation.version
            )

    # the 8 existing submissions predate any run: they count, so the first submission starts one
    submit(unlabelled[0])
    runs = TrainingRun.objects.filter(project=ml_project)
    assert [(r.trigger, r.submitted_at_request) for r in runs.all()] == [("auto", 9)]
    # while it is active, more submissions start nothing
    submit(unlabelled[1])
    assert runs.all().count() == 1
    TrainingRun.objects.update(state="succeeded")
    # one new submission since the run began (9 -> 10 -> 11 needs 2)
    submit(unlabelled[2])
    assert runs.all().count() == 2


def test_auto_training_is_off_by_default(ml_project, annotator, sent):
    item = AudioItem.objects.filter(project=ml_project, submitted_annotations=0).first()
    annotation, _ = annotation_start(
        item=item, annotator=annotator, clip_labels={"pitch": ["high"]}
    )
    annotation_submit(annotation_id=annotation.pk, user=annotator, version=annotation.version)
    assert not TrainingRun.objects.exists()


def test_blind_projects_hide_predictions_from_annotators(client_for, annotator, reviewer, project):
    version = ModelVersion.objects.create(project=project, version=1, kind="ClipCNN")
    item = AudioItemFactory(project=project)
    Prediction.objects.create(item=item, model_version=version, clip_scores={"s": {"a": 0.7}})
    project.show_predictions = False
    project.save()
    for url in (f"/api/items/{item.pk}/predictions/", f"/api/projects/{project.pk}/predictions/"):
        assert client_for(annotator).get(url).json()["results"] == []
        assert len(client_for(reviewer).get(url).json()["results"]) == 1


def test_training_settings_are_validated_with_field_paths(client_for, manager, project):
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/",
        {
            "training_settings": {
                "uncertainty": "vibes",
                "epochs": 0,
                "group": "nope",
                "semi_supervised": "yes",
            }
        },
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {
        "training_settings.uncertainty",
        "training_settings.epochs",
        "training_settings.group",
        "training_settings.semi_supervised",
    }
    project.refresh_from_db()
    assert project.training_settings == {}


def test_a_segments_project_sends_a_detector_request_with_each_items_events(
    manager, project, sent, committed
):
    project.label_schema = {
        "segment_labels": [
            {"name": "dog", "color": "#e6194b"},
            {"name": "bird", "color": "#3cb44b"},
        ]
    }
    project.save()
    someone = UserFactory()
    expected = {}
    for n in range(5):
        annotation = AnnotationFactory(
            item=AudioItemFactory(project=project), annotator=someone, state="submitted"
        )
        if n < 3:
            SegmentFactory(annotation=annotation, start_s=n, end_s=n + 0.5, label="dog")
            expected[annotation.item_id] = [[float(n), n + 0.5, "dog"]]
        else:
            expected[annotation.item_id] = []  # labelled as having no events
    with committed():
        services.training_start(project=project, user=manager)
    request = json.loads(default_storage.open(sent[0][2]).read())
    assert request["task"] == "segments"
    assert request["label_names"] == ["dog", "bird"]
    assert {t["audio"]["item_id"]: t["segments"] for t in request["train"]} == expected


def test_a_segments_project_without_segments_cannot_train(client_for, manager, project, sent):
    project.label_schema = {"segment_labels": [{"name": "dog", "color": "#e6194b"}]}
    project.save()
    for _ in range(5):
        AnnotationFactory(item=AudioItemFactory(project=project), state="submitted")
    response = client_for(manager).post(f"/api/projects/{project.pk}/training-runs/")
    assert response.status_code == 400
    assert "train a detector" in response.json()["error"]["message"]


def test_a_manager_uploads_an_embedding_model_and_runs_then_train_a_head_on_it(
    client_for, manager, annotator, ml_project, media_root, sent, committed
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = f"/api/projects/{ml_project.pk}/embedding-model/"
    body = {"file": SimpleUploadedFile("band.onnx", b"onnx bytes"), "sample_rate_hz": 16000}
    denied = client_for(annotator).post(url, {**body, "window_s": 1.0}, format="multipart")
    assert denied.status_code == 403
    response = client_for(manager).post(
        url,
        {
            "file": SimpleUploadedFile("band.onnx", b"onnx bytes"),
            "sample_rate_hz": 16000,
            "window_s": 1.0,
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    key = response.json()["key"]
    assert key.startswith(f"projects/{ml_project.pk}/embedding-models/")
    assert key.endswith(".onnx")
    assert (media_root / key).read_bytes() == b"onnx bytes"
    ml_project.refresh_from_db()
    assert ml_project.training_settings["embedding_model"]["key"] == key
    with committed():
        services.training_start(project=ml_project, user=manager)
    request = json.loads(default_storage.open(sent[0][2]).read())
    assert request["embedding"] == {"key": key, "sample_rate_hz": 16000, "window_s": 1.0}
    # the head learns from the unlabelled items too unless the project turns it off
    assert request["settings"]["semi_supervised"] is True
    ml_project.training_settings = {**ml_project.training_settings, "semi_supervised": False}
    ml_project.save()
    services.training_cancel(run=TrainingRun.objects.get(pk=sent[0][0]))
    with committed():
        services.training_start(project=ml_project, user=manager)
    again = json.loads(default_storage.open(sent[-1][2]).read())
    assert again["settings"]["semi_supervised"] is False
    # and back to the built-in models
    assert client_for(manager).delete(url).status_code == 204
    ml_project.refresh_from_db()
    assert "embedding_model" not in ml_project.training_settings


def test_a_file_that_is_no_model_is_refused_and_nothing_is_stored(
    client_for, manager, project, media_root
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(manager).post(
        f"/api/projects/{project.pk}/embedding-model/",
        {"file": SimpleUploadedFile("notes.txt", b"hello"), "sample_rate_hz": 16000, "window_s": 1},
        format="multipart",
    )
    assert response.status_code == 400
    assert "TorchScript" in response.json()["error"]["message"]
    assert not any(media_root.rglob("*"))
    project.refresh_from_db()
    assert project.training_settings == {}


def test_training_settings_may_only_name_a_model_of_this_project(client_for, manager, project):
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/",
        {
            "training_settings": {
                "embedding_model": {
                    "key": "projects/999/embedding-models/x.pt",
                    "sample_rate_hz": 16000,
                    "window_s": 1.0,
                }
            }
        },
        format="json",
    )
    assert response.status_code == 400
    assert "training_settings.embedding_model.key" in response.json()["error"]["fields"]
