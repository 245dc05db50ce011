"""A cold start through the real broker and real worker processes: a manager asks for an order
run -> the ML worker embeds every unfinished item with the project's own embedding model ->
the queue opens with one item of each kind of sound instead of upload order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from django.conf import settings

from backend.audio.models import AudioItem
from backend.predictions.models import ModelVersion, Prediction
from backend.predictions.services import queue_order_start
from backend.projects.models import Membership, Project
from backend.projects.training import embedding_models_prefix
from tests.backend.predictions.test_ml_loop_integration import (
    SCHEMA,
    _audio,
    _queue_order,
    _wait_for,
)
from tests.factories import AudioItemFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.ml_worker.test_embeddings import BandEnergy

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_order_run_opens_the_queue_with_one_item_of_each_kind(
    default_worker, ml_worker, not_eager
):
    project = ProjectFactory(label_schema=SCHEMA, queue_policy=Project.QueuePolicy.DIVERSE)
    key = f"{embedding_models_prefix(project.pk)}band.pt"
    path = Path(settings.MEDIA_ROOT) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(BandEnergy()).save(str(path))
    project.training_settings = {
        "batch_size_al": 2,
        "embedding_model": {"key": key, "sample_rate_hz": 8000, "window_s": 0.5},
    }
    project.save()
    # uploaded as 5 low tones, then 5 high ones: upload order would start with two low ones
    kinds = ["low"] * 5 + ["high"] * 5
    items = []
    for n, kind in enumerate(kinds):
        item = AudioItemFactory(project=project, storage_key=f"cold/{project.pk}/{n}.wav")
        _audio(item.storage_key, freqs=(300.0,) if kind == "low" else (2500.0,), seed=n)
        items.append(item)
    manager = UserFactory()
    MembershipFactory(project=project, user=manager, role=Membership.Role.MANAGER)

    run = queue_order_start(project=project, user=manager)
    done = _wait_for(
        {"pk": run.pk, "state__in": ["succeeded", "failed"]},
        timeout_s=240,
        workers=[default_worker, ml_worker],
    )
    assert done.state == "succeeded", done.error
    assert done.purpose == "order"
    assert done.metrics["ordered"] == 10
    assert done.metrics["clusters"] == 2
    # no model and no predictions: only the queue changed
    assert done.model_version is None
    assert not ModelVersion.objects.filter(project=project).exists()
    assert not Prediction.objects.filter(item__project=project).exists()
    ranks = dict(AudioItem.objects.filter(project=project).values_list("pk", "queue_rank"))
    assert sorted(ranks.values()) == [float(r) for r in range(1, 11)]
    kind_of = {item.pk: kind for item, kind in zip(items, kinds, strict=True)}
    first_two = _queue_order(project, 2)
    assert sorted(kind_of[pk] for pk in first_two) == ["high", "low"]
    # and the queue follows the ranks from there on
    assert first_two == sorted(ranks, key=lambda pk: ranks[pk])[:2]
