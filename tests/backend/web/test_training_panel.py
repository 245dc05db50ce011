"""The project page's training panel: who sees the buttons, what starting and cancelling do."""

from __future__ import annotations

import pytest
from django.test import Client

from backend.annotations.models import Annotation
from backend.predictions.models import ModelVersion, TrainingRun
from backend.projects.models import Project
from backend.users.models import User
from tests.factories import AnnotationFactory, AudioItemFactory, UserFactory

pytestmark = pytest.mark.django_db

SCHEMA = {"clip_groups": [{"name": "pitch", "choice": "single", "labels": ["low", "high"]}]}


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def labelled(project: Project) -> Project:
    project.label_schema = SCHEMA
    project.save()
    someone = UserFactory()
    for n in range(6):
        AnnotationFactory(
            item=AudioItemFactory(project=project),
            annotator=someone,
            state=Annotation.State.SUBMITTED,
            clip_labels={"pitch": ["low" if n % 2 else "high"]},
        )
    return project


def test_managers_get_the_train_button_and_annotators_do_not(manager, annotator, project):
    url = f"/projects/{project.pk}/"
    assert b'data-testid="train-now"' in _browser(manager).get(url).content
    page = _browser(annotator).get(url).content
    assert b'data-testid="training-panel"' in page
    assert b'data-testid="train-now"' not in page


def test_train_now_queues_a_run_and_shows_it(manager, labelled):
    browser = _browser(manager)
    response = browser.post(f"/projects/{labelled.pk}/training/start/", follow=True)
    run = TrainingRun.objects.get(project=labelled)
    assert run.requested_by == manager
    assert f"Training run {run.pk} is queued." in response.content.decode()
    assert f'data-testid="run-state-{run.pk}">queued' in response.content.decode()
    # a second click while it is queued tells why nothing happened
    again = browser.post(f"/projects/{labelled.pk}/training/start/", follow=True).content.decode()
    assert "already queued" in again
    assert TrainingRun.objects.filter(project=labelled).count() == 1


def test_without_labels_the_page_says_what_is_missing(manager, project):
    response = _browser(manager).post(f"/projects/{project.pk}/training/start/", follow=True)
    assert "not enough labels" in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_cancel_button_cancels(manager, labelled):
    browser = _browser(manager)
    browser.post(f"/projects/{labelled.pk}/training/start/")
    run = TrainingRun.objects.get()
    response = browser.post(f"/projects/{labelled.pk}/training/{run.pk}/cancel/", follow=True)
    run.refresh_from_db()
    assert run.state == "cancelled"
    assert "is cancelled" in response.content.decode()


def test_only_managers_may_start_or_cancel(annotator, reviewer, outsider, labelled):
    assert _browser(annotator).post(f"/projects/{labelled.pk}/training/start/").status_code == 403
    assert _browser(reviewer).post(f"/projects/{labelled.pk}/training/start/").status_code == 403
    assert _browser(outsider).post(f"/projects/{labelled.pk}/training/start/").status_code == 404
    assert not TrainingRun.objects.exists()


def test_the_latest_model_and_its_figures_are_shown(annotator, project):
    ModelVersion.objects.create(
        project=project,
        version=3,
        kind="ClipCNN",
        metrics={"held_out": {"accuracy": 0.875, "macro_f1": 0.86}},
        trained_on={"items": 40},
        training_time_s=12.5,
        device="cpu",
    )
    page = _browser(annotator).get(f"/projects/{project.pk}/").content.decode()
    assert "Model v3 (ClipCNN): held-out accuracy 0.875, macro-F1 0.860" in page
    assert "trained on 40 items in 12.5 s on cpu" in page


def test_a_semi_supervised_head_says_how_many_unlabelled_items_it_learned_from(annotator, project):
    ModelVersion.objects.create(
        project=project,
        version=1,
        kind="EmbeddingHead",
        metrics={"held_out": {"accuracy": 0.805, "macro_f1": 0.8}, "n_pseudo": 1586},
        trained_on={"items": 200},
        training_time_s=3.1,
        device="cpu",
    )
    page = _browser(annotator).get(f"/projects/{project.pk}/").content.decode()
    assert "trained on 200 items and 1586 unlabelled ones with spread labels in 3.1 s" in page
