import pytest

from backend.predictions.models import ModelVersion, Prediction, TrainingRun
from tests.factories import AudioItemFactory

pytestmark = pytest.mark.django_db


def test_members_list_model_versions_runs_and_item_predictions(client_for, annotator, project):
    model = ModelVersion.objects.create(project=project, version=1, kind="baseline")
    TrainingRun.objects.create(project=project, state="succeeded", model_version=model)
    item = AudioItemFactory(project=project)
    Prediction.objects.create(item=item, model_version=model, clip_scores={"scene": {"park": 0.9}})
    client = client_for(annotator)
    assert (
        client.get(f"/api/projects/{project.pk}/model-versions/").json()["results"][0]["kind"]
        == "baseline"
    )
    assert (
        client.get(f"/api/projects/{project.pk}/training-runs/").json()["results"][0]["state"]
        == "succeeded"
    )
    scores = client.get(f"/api/items/{item.pk}/predictions/").json()["results"][0]["clip_scores"]
    assert scores == {"scene": {"park": 0.9}}


def test_outsiders_see_no_models(client_for, outsider, project):
    client = client_for(outsider)
    assert client.get(f"/api/projects/{project.pk}/model-versions/").status_code == 404
    assert client.get(f"/api/projects/{project.pk}/training-runs/").status_code == 404


def test_only_one_active_training_run_per_project(project):
    from django.db import IntegrityError, transaction

    TrainingRun.objects.create(project=project, state="running")
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(project=project, state="queued")
    TrainingRun.objects.create(project=project, state="failed")
