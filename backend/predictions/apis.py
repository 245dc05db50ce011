from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.audio.selectors import item_access
from backend.common.exceptions import NotFound, ValidationFailed
from backend.predictions.models import ModelVersion, Prediction, TrainingRun
from backend.predictions.selectors import (
    model_version_list,
    prediction_list_for_item,
    prediction_list_for_project,
    training_run_list,
)
from backend.predictions.services import (
    embedding_model_clear,
    embedding_model_set,
    queue_order_start,
    training_cancel,
    training_start,
)
from backend.projects.models import Membership
from backend.projects.selectors import ProjectAccess, project_access
from backend.users.auth import current_user
from backend.users.models import User

Role = Membership.Role


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
            "trigger",
            "purpose",
            "attempt",
            "progress",
            "metrics",
            "error",
            "model_version",
            "heartbeat_at",
            "started_at",
            "finished_at",
            "created_at",
        ]
        read_only_fields = fields


class PredictionSerializer(serializers.ModelSerializer[Prediction]):
    model_version_number = serializers.IntegerField(source="model_version.version", read_only=True)

    class Meta:
        model = Prediction
        fields = [
            "id",
            "item",
            "model_version",
            "model_version_number",
            "clip_scores",
            "segments",
            "uncertainty",
            "created_at",
        ]


class ModelVersionListApi(ListAPIView[ModelVersion]):
    """Model versions of a project, newest first, with their held-out metrics."""

    serializer_class = ModelVersionSerializer

    def get_queryset(self) -> QuerySet[ModelVersion]:
        access = project_access(
            user=current_user(self.request), project_id=self.kwargs["project_id"]
        )
        return model_version_list(project=access.project)


class TrainingRunListApi(ListAPIView[TrainingRun]):
    """List a project's training runs (members); start one (managers)."""

    serializer_class = TrainingRunSerializer

    def get_queryset(self) -> QuerySet[TrainingRun]:
        access = project_access(
            user=current_user(self.request), project_id=self.kwargs["project_id"]
        )
        return training_run_list(project=access.project)

    @extend_schema(request=None, responses={201: TrainingRunSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        user = current_user(request)
        access = project_access(user=user, project_id=project_id, minimum=Role.MANAGER)
        run = training_start(project=access.project, user=user)
        return Response(TrainingRunSerializer(run).data, status=201)


class QueueOrderApi(APIView):
    """Order the project's queue by its embedding model (managers): a cold start before the
    first model. Starts a run of purpose "order"; 400 naming the field when the queue policy
    does not follow ranks, there is no embedding model or the project trains segments; 409
    while any run is active."""

    @extend_schema(request=None, responses={201: TrainingRunSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        user = current_user(request)
        access = project_access(user=user, project_id=project_id, minimum=Role.MANAGER)
        run = queue_order_start(project=access.project, user=user)
        return Response(TrainingRunSerializer(run).data, status=201)


def _run_access(user: User, run_id: int, minimum: str) -> tuple[TrainingRun, ProjectAccess]:
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"training run {run_id} does not exist or is not visible to you")
    try:
        access = project_access(user=user, project_id=run.project_id, minimum=minimum)
    except NotFound as exc:
        raise NotFound(f"training run {run_id} does not exist or is not visible to you") from exc
    return run, access


class TrainingRunDetailApi(APIView):
    @extend_schema(responses=TrainingRunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run, _ = _run_access(current_user(request), run_id, Role.ANNOTATOR)
        return Response(TrainingRunSerializer(run).data)


class TrainingRunCancelApi(APIView):
    @extend_schema(request=None, responses=TrainingRunSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run, _ = _run_access(current_user(request), run_id, Role.MANAGER)
        return Response(TrainingRunSerializer(training_cancel(run=run)).data)


class ItemPredictionListApi(ListAPIView[Prediction]):
    """An item's predictions, newest model first (empty for annotators of a blind project)."""

    serializer_class = PredictionSerializer

    def get_queryset(self) -> QuerySet[Prediction]:
        item, access = item_access(user=current_user(self.request), item_id=self.kwargs["item_id"])
        return prediction_list_for_item(item=item, access=access)


class ProjectPredictionListApi(ListAPIView[Prediction]):
    """A project's predictions; ``?model_version=<id>`` for one version."""

    serializer_class = PredictionSerializer

    def get_queryset(self) -> QuerySet[Prediction]:
        access = project_access(
            user=current_user(self.request), project_id=self.kwargs["project_id"]
        )
        raw = self.request.query_params.get("model_version")
        version: int | None = None
        if raw:
            if not raw.isdigit():
                raise ValidationFailed(
                    "model_version must be a model version id",
                    fields={"model_version": ["must be an integer id"]},
                )
            version = int(raw)
        return prediction_list_for_project(access=access, model_version_id=version)


class EmbeddingModelApi(APIView):
    """Upload the project's own embedding model (managers): multipart ``file`` (.pt, .pth
    TorchScript or .onnx), ``sample_rate_hz`` and ``window_s`` of the windows it takes.
    DELETE goes back to the built-in models."""

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        sample_rate_hz = serializers.IntegerField(min_value=4000, max_value=192_000)
        window_s = serializers.FloatField(min_value=0.05, max_value=60)

    class OutputSerializer(serializers.Serializer):
        key = serializers.CharField()
        sample_rate_hz = serializers.IntegerField()
        window_s = serializers.FloatField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        access = project_access(
            user=current_user(request), project_id=project_id, minimum=Role.MANAGER
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        model = embedding_model_set(
            project=access.project,
            name=upload.name,
            data=upload,
            size=upload.size,
            sample_rate_hz=data.validated_data["sample_rate_hz"],
            window_s=data.validated_data["window_s"],
        )
        return Response(self.OutputSerializer(model).data, status=201)

    def delete(self, request: Request, project_id: int) -> Response:
        access = project_access(
            user=current_user(request), project_id=project_id, minimum=Role.MANAGER
        )
        embedding_model_clear(project=access.project)
        return Response(status=204)
