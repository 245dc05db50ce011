"""Ordering a project's queue by its embedding model (a cold start before the first model).

The backend half only: starting (and refusing), the "representative" request dispatch writes,
applying the ranks of a hand-written outcome, the API and the project page's button. The ML
worker's half is tested in tests/ml_worker; the two together in the integration tests.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from backend.audio.models import AudioItem
from backend.common.exceptions import Conflict, ValidationFailed
from backend.predictions import services
from backend.predictions.models import ModelVersion, Prediction, TrainingRun
from backend.predictions.services import (
    queue_order_start,
    training_finish,
    training_progress,
    training_reap,
    training_start,
)
from backend.projects.models import Project
from backend.users.models import User
from ml_worker.contracts import QUEUE_ORDER_KIND, TrainingOutcome
from tests.factories import AnnotationFactory, AudioItemFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

SCHEMA = {"clip_groups": [{"name": "pitch", "choice": "single", "labels": ["low", "high"]}]}


def embedding_model(project: Project) -> dict[str, Any]:
    return {
        "key": f"projects/{project.pk}/embedding-models/0123456789abcdef0123.onnx",
        "sample_rate_hz": 16000,
        "window_s": 1.0,
    }


@pytest.fixture
def order_project(project: Project, media_root: Path) -> Project:
    """A ranked queue, an embedding model, no labels to speak of: 5 unfinished ready items,
    2 finished ones (labelled once, as the project asks) and one still being processed."""
    project.label_schema = SCHEMA
    project.queue_policy = Project.QueuePolicy.DIVERSE
    project.annotations_per_item = 1
    project.training_settings = {
        "batch_size_al": 4,
        "auto_train_after": 6,
        "seed": 3,
        "embedding_model": embedding_model(project),
    }
    project.save()
    for _ in range(5):
        AudioItemFactory(project=project)
    labeller = UserFactory()
    for _ in range(2):
        item = AudioItemFactory(project=project)
        AnnotationFactory(
            item=item, annotator=labeller, state="submitted", clip_labels={"pitch": ["low"]}
        )
        AudioItem.objects.filter(pk=item.pk).update(submitted_annotations=1)
    AudioItemFactory(project=project, state=AudioItem.State.PENDING)
    return project


def unfinished(project: Project) -> list[int]:
    return list(
        AudioItem.objects.filter(
            project=project, state=AudioItem.State.READY, submitted_annotations=0
        )
        .order_by("id")
        .values_list("pk", flat=True)
    )


def submit_labels(project: Project, labels: list[str]) -> None:
    """One submitted annotation with each pitch label, on the first unfinished items."""
    labeller = UserFactory()
    for item_id, label in zip(unfinished(project), labels, strict=False):
        AnnotationFactory(
            item_id=item_id, annotator=labeller, state="submitted", clip_labels={"pitch": [label]}
        )


def request_of(sent: list[tuple[int, int, str]]) -> dict[str, Any]:
    return json.loads(default_storage.open(sent[-1][2]).read())


def write_outcome(
    run: TrainingRun, rows: list[dict[str, Any]], *, state: str = "succeeded", **fields: Any
) -> str:
    """What the worker leaves in storage: the outcome and its JSON Lines of ranks."""
    prefix = services.run_prefix(run)
    predictions_key = f"{prefix}predictions.jsonl"
    default_storage.save(predictions_key, _file("".join(json.dumps(r) + "\n" for r in rows)))
    outcome = TrainingOutcome(
        run_id=run.pk,
        attempt=run.attempt,
        state=state,
        **{
            "kind": QUEUE_ORDER_KIND if state == "succeeded" else "",
            "metrics": {"embedding_model": {"dim": 8}, "clusters": 6},
            "predictions_key": predictions_key if state == "succeeded" else "",
            "predicted": len(rows),
            **fields,
        },
    )
    outcome_key = f"{prefix}outcome.json"
    default_storage.save(outcome_key, _file(json.dumps(outcome.to_json())))
    return outcome_key


def _file(text: str) -> Any:
    from django.core.files.base import ContentFile

    return ContentFile(text.encode())


def _fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return set(exc.value.fields)


# --- starting -----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["sequential", "random"])
def test_a_queue_that_does_not_follow_ranks_is_refused_naming_queue_policy(
    order_project, manager, sent, policy
):
    order_project.queue_policy = policy
    order_project.save()
    with pytest.raises(ValidationFailed) as exc:
        queue_order_start(project=order_project, user=manager)
    assert _fields(exc) == {"queue_policy"}
    assert f"'{policy}' queue does not follow ranks" in exc.value.message
    assert not TrainingRun.objects.exists()


def test_a_project_without_an_embedding_model_is_refused_naming_it(order_project, manager, sent):
    order_project.training_settings = {"batch_size_al": 4}
    order_project.save()
    with pytest.raises(ValidationFailed) as exc:
        queue_order_start(project=order_project, user=manager)
    assert _fields(exc) == {"training_settings.embedding_model"}
    assert "upload one first" in exc.value.message
    assert not TrainingRun.objects.exists()


def test_a_segments_project_is_refused_naming_the_task(order_project, manager, sent):
    order_project.training_settings = {
        **order_project.training_settings,
        "task": "segments",
    }
    order_project.save()
    with pytest.raises(ValidationFailed) as exc:
        queue_order_start(project=order_project, user=manager)
    assert _fields(exc) == {"training_settings.task"}
    assert not TrainingRun.objects.exists()


def test_an_order_run_waits_for_an_active_training_run_and_the_other_way_round(
    order_project, manager, sent
):
    # enough labels to train
    submit_labels(order_project, ["high", "low", "high", "low"])
    training = training_start(project=order_project, user=manager)
    with pytest.raises(Conflict) as exc:
        queue_order_start(project=order_project, user=manager)
    assert f"training run {training.pk} is already queued" in exc.value.message
    TrainingRun.objects.filter(pk=training.pk).update(state=TrainingRun.State.RUNNING)
    with pytest.raises(Conflict):
        queue_order_start(project=order_project, user=manager)
    TrainingRun.objects.filter(pk=training.pk).update(state=TrainingRun.State.SUCCEEDED)

    order = queue_order_start(project=order_project, user=manager)
    assert (order.purpose, order.state, order.requested_by) == ("order", "queued", manager)
    with pytest.raises(Conflict) as exc:
        training_start(project=order_project, user=manager)
    assert f"queue order run {order.pk} is already queued" in exc.value.message
    with pytest.raises(Conflict):
        queue_order_start(project=order_project, user=manager)
    assert TrainingRun.objects.filter(project=order_project).count() == 2


# --- dispatch -----------------------------------------------------------------------------


def test_dispatch_writes_a_representative_request_of_the_unfinished_items(
    order_project, manager, sent, committed
):
    with committed():
        run = queue_order_start(project=order_project, user=manager)
    assert [(r, a) for r, a, _ in sent] == [(run.pk, 1)]
    assert sent[0][2] == f"projects/{order_project.pk}/training/run-{run.pk}/attempt-1/request.json"
    request = request_of(sent)
    assert request["ranking"] == "representative"
    assert request["task"] == "clip"
    assert request["train"] == []
    assert (request["group"], request["label_names"], request["multi_label"]) == ("", [], False)
    assert [p["item_id"] for p in request["predict"]] == unfinished(order_project)
    assert len(request["predict"]) == 5
    # clusters: the labels before the first automatic training (6) beat the batch (4)
    assert request["settings"] == {"seed": 3, "batch_size_al": 4, "clusters": 6}
    assert request["embedding"] == embedding_model(order_project)
    assert request["cancel_key"] == f"{services.run_prefix(run)}cancel"
    run.refresh_from_db()
    assert run.progress == {"phase": "waiting for the ML worker"}


def test_clusters_are_the_batch_size_when_auto_training_is_off(
    order_project, manager, sent, committed
):
    order_project.training_settings = {
        "batch_size_al": 7,
        "embedding_model": embedding_model(order_project),
    }
    order_project.save()
    with committed():
        queue_order_start(project=order_project, user=manager)
    assert request_of(sent)["settings"]["clusters"] == 7


def test_with_nothing_left_to_label_the_run_fails_without_asking_the_worker(
    order_project, manager, sent, committed
):
    AudioItem.objects.filter(project=order_project).update(submitted_annotations=1)
    with committed():
        run = queue_order_start(project=order_project, user=manager)
    run.refresh_from_db()
    assert (run.state, run.error) == ("failed", "no unfinished items to order")
    assert sent == []


def test_a_resent_order_run_is_dispatched_again_as_an_order(
    order_project, manager, sent, committed
):
    with committed():
        run = queue_order_start(project=order_project, user=manager)
    training_progress(run_id=run.pk, attempt=1, progress={"phase": "features", "total": 5})
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=services.STALE_AFTER_S + 5)
    )
    with committed():
        assert training_reap() == 1
    assert [a for _, a, _ in sent] == [1, 2]
    request = request_of(sent)
    assert request["attempt"] == 2
    assert request["ranking"] == "representative"
    assert request["train"] == []
    assert "attempt-2/" in sent[-1][2]
    # the second attempt's outcome is applied as an order
    run.refresh_from_db()
    ids = unfinished(order_project)
    key = write_outcome(run, [{"item_id": i, "rank": n} for n, i in enumerate(ids, 1)])
    training_finish(run_id=run.pk, attempt=2, outcome_key=key)
    run.refresh_from_db()
    assert (run.state, run.metrics["ordered"]) == ("succeeded", 5)
    assert not ModelVersion.objects.exists()


# --- finish -------------------------------------------------------------------------------


def test_a_succeeded_order_applies_the_ranks_and_makes_no_model_or_predictions(
    order_project, manager, sent, committed
):
    with committed():
        run = queue_order_start(project=order_project, user=manager)
    ids = unfinished(order_project)
    finished = AudioItem.objects.filter(project=order_project, submitted_annotations=1).first()
    assert finished is not None
    AudioItem.objects.filter(pk=finished.pk).update(queue_rank=42.0)
    elsewhere = AudioItemFactory(project=ProjectFactory())
    # the worker ranks them in reverse; a row naming another project's item is ignored
    rows = [{"item_id": i, "rank": n} for n, i in enumerate(reversed(ids), 1)]
    rows.append({"item_id": elsewhere.pk, "rank": 1})
    training_progress(run_id=run.pk, attempt=1, progress={"phase": "ranking"})
    finished_run = training_finish(run_id=run.pk, attempt=1, outcome_key=write_outcome(run, rows))
    assert finished_run is not None
    run.refresh_from_db()
    assert run.state == "succeeded", run.error
    assert run.model_version is None
    assert run.metrics == {"embedding_model": {"dim": 8}, "clusters": 6, "ordered": 5}
    ranks = dict(AudioItem.objects.filter(pk__in=ids).values_list("pk", "queue_rank"))
    assert ranks == {i: float(n) for n, i in enumerate(reversed(ids), 1)}
    assert AudioItem.objects.get(pk=finished.pk).queue_rank == 42.0
    assert AudioItem.objects.get(pk=elsewhere.pk).queue_rank == 0.0
    assert not ModelVersion.objects.exists()
    assert not Prediction.objects.exists()


def test_the_ranks_are_written_in_batches(order_project, manager, sent, committed, monkeypatch):
    monkeypatch.setattr(services, "PREDICTION_BATCH", 2)
    with committed():
        run = queue_order_start(project=order_project, user=manager)
    ids = unfinished(order_project)
    rows = [{"item_id": i, "rank": 10 * n} for n, i in enumerate(ids, 1)]
    training_finish(run_id=run.pk, attempt=1, outcome_key=write_outcome(run, rows))
    ranks = list(
        AudioItem.objects.filter(pk__in=ids).order_by("id").values_list("queue_rank", flat=True)
    )
    assert ranks == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(("state", "ended"), [("failed", "failed"), ("cancelled", "cancelled")])
def test_a_failed_or_cancelled_order_ends_so_and_leaves_the_queue(
    order_project, manager, sent, committed, state, ended
):
    with committed():
        run = queue_order_start(project=order_project, user=manager)
    key = write_outcome(run, [], state=state, error="the embedding model could not be loaded")
    training_finish(run_id=run.pk, attempt=1, outcome_key=key)
    run.refresh_from_db()
    assert (run.state, run.error) == (ended, "the embedding model could not be loaded")
    assert run.finished_at is not None
    assert set(AudioItem.objects.values_list("queue_rank", flat=True)) == {0.0}
    # the slot is free again
    assert queue_order_start(project=order_project, user=manager).state == "queued"


def test_an_order_run_answered_with_a_model_fails(order_project, manager, sent, committed):
    with committed():
        run = queue_order_start(project=order_project, user=manager)
    ids = unfinished(order_project)
    key = write_outcome(run, [{"item_id": ids[0], "rank": 1}], kind="ClipCNN")
    training_finish(run_id=run.pk, attempt=1, outcome_key=key)
    run.refresh_from_db()
    assert run.state == "failed"
    assert "'ClipCNN'" in run.error
    assert not ModelVersion.objects.exists()
    assert AudioItem.objects.get(pk=ids[0]).queue_rank == 0.0


def test_auto_training_counts_from_the_last_training_run_not_the_order_run(
    order_project, manager, sent
):
    # 4 submissions, none learnt from by a model: an order run taken after them does not
    # restart the count (it learns from no labels)
    order_project.training_settings = {
        **order_project.training_settings,
        "auto_train_after": 2,
    }
    order_project.save()
    TrainingRun.objects.create(
        project=order_project,
        purpose=TrainingRun.Purpose.ORDER,
        state=TrainingRun.State.SUCCEEDED,
        submitted_at_request=4,
    )
    submit_labels(order_project, ["low", "high"])
    run = services.training_maybe_start(project_id=order_project.pk)
    assert run is not None
    assert (run.purpose, run.trigger) == ("train", "auto")


# --- API ----------------------------------------------------------------------------------


def test_the_api_starts_an_order_run_for_managers_only(
    client_for, manager, annotator, reviewer, outsider, order_project, sent, committed
):
    url = f"/api/projects/{order_project.pk}/queue-order/"
    assert client_for(annotator).post(url).status_code == 403
    assert client_for(reviewer).post(url).status_code == 403
    assert client_for(outsider).post(url).status_code == 404
    assert client_for(manager).post("/api/projects/999999/queue-order/").status_code == 404
    assert not TrainingRun.objects.exists()
    with committed():
        response = client_for(manager).post(url)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["purpose"], body["state"], body["project"]) == (
        "order",
        "queued",
        order_project.pk,
    )
    assert len(sent) == 1
    # it is listed with the training runs, with its purpose
    listed = client_for(annotator).get(f"/api/projects/{order_project.pk}/training-runs/").json()
    assert [(r["id"], r["purpose"]) for r in listed["results"]] == [(body["id"], "order")]
    again = client_for(manager).post(url)
    assert again.status_code == 409
    assert "already" in again.json()["error"]["message"]


def test_the_api_names_the_field_it_refuses(client_for, manager, order_project, sent):
    order_project.queue_policy = Project.QueuePolicy.SEQUENTIAL
    order_project.save()
    response = client_for(manager).post(f"/api/projects/{order_project.pk}/queue-order/")
    assert response.status_code == 400
    assert "queue_policy" in response.json()["error"]["fields"]


def test_training_runs_say_they_train(client_for, manager, project):
    TrainingRun.objects.create(project=project, state=TrainingRun.State.FAILED)
    listed = client_for(manager).get(f"/api/projects/{project.pk}/training-runs/").json()
    assert [r["purpose"] for r in listed["results"]] == ["train"]


# --- the project page ---------------------------------------------------------------------


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_managers_see_the_order_button_when_the_project_can_use_it(
    manager, annotator, order_project
):
    url = f"/projects/{order_project.pk}/"
    page = _browser(manager).get(url).content.decode()
    assert 'data-testid="order-queue"' in page
    assert "Order queue by embeddings" in page
    assert 'data-testid="order-queue"' not in _browser(annotator).get(url).content.decode()
    order_project.queue_policy = Project.QueuePolicy.SEQUENTIAL
    order_project.save()
    assert 'data-testid="order-queue"' not in _browser(manager).get(url).content.decode()
    order_project.queue_policy = Project.QueuePolicy.UNCERTAINTY
    order_project.training_settings = {}
    order_project.save()
    assert 'data-testid="order-queue"' not in _browser(manager).get(url).content.decode()


def test_the_order_button_queues_a_run_and_lists_it_with_its_purpose(manager, order_project, sent):
    browser = _browser(manager)
    response = browser.post(f"/projects/{order_project.pk}/queue-order/", follow=True)
    run = TrainingRun.objects.get(project=order_project)
    page = response.content.decode()
    assert run.purpose == "order"
    assert f"Queue order run {run.pk} is queued." in page
    assert f'data-testid="run-purpose-{run.pk}">Order the queue' in page
    assert f'data-testid="run-state-{run.pk}">queued' in page


def test_the_order_button_shows_why_a_project_cannot_be_ordered(manager, order_project, sent):
    order_project.queue_policy = Project.QueuePolicy.RANDOM
    order_project.save()
    response = _browser(manager).post(f"/projects/{order_project.pk}/queue-order/", follow=True)
    assert response.status_code == 200
    assert "queue does not follow ranks" in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_only_managers_may_order_from_the_page(annotator, reviewer, outsider, order_project):
    url = f"/projects/{order_project.pk}/queue-order/"
    assert _browser(annotator).post(url).status_code == 403
    assert _browser(reviewer).post(url).status_code == 403
    assert _browser(outsider).post(url).status_code == 404
    assert _browser(annotator).get(url).status_code == 405
    assert not TrainingRun.objects.exists()
