from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from backend.audio.selectors import item_access
from backend.predictions.models import ModelVersion, Prediction, TrainingRun
from backend.predictions.selectors import (
    model_version_list,
    prediction_list_for_item,
    training_run_list,
)
from backend.projects.selectors import project_access
from backend.users.auth import current_user


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "project",
            "version",
            "kind",
            "trained_on",
            "metrics",
            "training_time_s",
            "device",
            "is_external",
            "created_at",
        ]


class TrainingRunSerializer(serializers.ModelSerializer[TrainingRun]):
    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "project",
            "state",
            "progress",
            "metrics",
            "error",
            "model_version",
            "started_at",
            "finished_at",
            "created_at",
        ]


class PredictionSerializer(serializers.ModelSerializer[Prediction]):
    class Meta:
        model = Prediction
        fields = ["id", "item", "model_version", "clip_scores", "segments", "uncertainty"]


class ModelVersionListApi(ListAPIView[ModelVersion]):
    serializer_class = ModelVersionSerializer

    def get_queryset(self) -> QuerySet[ModelVersion]:
        access = project_access(
            user=current_user(self.request), project_id=self.kwargs["project_id"]
        )
        return model_version_list(project=access.project)


class TrainingRunListApi(ListAPIView[TrainingRun]):
    serializer_class = TrainingRunSerializer

    def get_queryset(self) -> QuerySet[TrainingRun]:
        access = project_access(
            user=current_user(self.request), project_id=self.kwargs["project_id"]
        )
        return training_run_list(project=access.project)


class ItemPredictionListApi(ListAPIView[Prediction]):
    serializer_class = PredictionSerializer

    def get_queryset(self) -> QuerySet[Prediction]:
        item, _ = item_access(user=current_user(self.request), item_id=self.kwargs["item_id"])
        return prediction_list_for_item(item=item)
