from __future__ import annotations

from django.db.models import QuerySet

from backend.audio.models import AudioItem
from backend.predictions.models import ModelVersion, Prediction, TrainingRun
from backend.projects.models import Project


def model_version_list(*, project: Project) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project=project)


def training_run_list(*, project: Project) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project=project).select_related("model_version")


def prediction_list_for_item(*, item: AudioItem) -> QuerySet[Prediction]:
    return Prediction.objects.filter(item=item).select_related("model_version")
