"""REST for imports and exports: create a job (202), read it, download an export."""

from __future__ import annotations

import json
from typing import IO, Any, cast

from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.exceptions import Conflict, NotFound, ValidationFailed
from backend.dataio.exports import ExportSpec, export_job_create
from backend.dataio.models import ExportJob, ImportJob, JobState
from backend.dataio.selectors import export_job_list, import_job_list
from backend.dataio.services import import_job_create
from backend.predictions.models import ModelVersion
from backend.projects.models import Membership
from backend.projects.selectors import project_access
from backend.users.auth import current_user

Role = Membership.Role


class ImportJobOutputSerializer(serializers.ModelSerializer[ImportJob]):
    class Meta:
        model = ImportJob
        fields = [
            "id", "project", "format", "options", "source_name", "state", "progress", "report",
            "error", "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class ExportJobOutputSerializer(serializers.ModelSerializer[ExportJob]):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id", "project", "format", "source", "model_version", "filters", "options", "state",
            "progress", "result_name", "content_type", "size_bytes", "error", "download_url",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.state != JobState.SUCCEEDED:
            return None
        return f"/api/exports/{job.pk}/download/"


def _options(raw: Any) -> dict[str, Any]:
    """Options come as a JSON object, or as a JSON string in a multipart form."""
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationFailed("options: invalid JSON", fields={"options": [exc.msg]}) from exc
    if not isinstance(raw, dict):
        raise ValidationFailed(
            "options must be an object", fields={"options": ["must be an object"]}
        )
    return raw


class ImportOptionsSerializer(serializers.Serializer):
    annotator = serializers.ChoiceField(choices=["file", "me"], required=False)
    connection_id = serializers.IntegerField(required=False, allow_null=True)
    check_files = serializers.BooleanField(required=False)
    batch_size = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
    model_name = serializers.CharField(required=False, max_length=50)
    target = serializers.CharField(required=False, max_length=500, allow_blank=True)
    label_column = serializers.CharField(required=False, max_length=100, allow_blank=True)


class ProjectImportsApi(ListAPIView[ImportJob]):
    """GET: the project's imports, newest first. POST: upload a file to import (multipart
    ``file`` + ``format`` + optional ``options`` JSON); the worker imports it. Managers only."""

    parser_classes = [MultiPartParser, FormParser]
    serializer_class = ImportJobOutputSerializer

    def get_queryset(self) -> QuerySet[ImportJob]:
        access = project_access(
            user=current_user(self.request),
            project_id=self.kwargs["project_id"],
            minimum=Role.MANAGER,
        )
        return import_job_list(project=access.project)

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=ImportJob.Format.choices)
        file = serializers.FileField()

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "format": {"type": "string", "enum": list(ImportJob.Format.values)},
                    "options": {"type": "string", "description": "a JSON object"},
                },
                "required": ["file", "format"],
            }
        },
        responses={202: ImportJobOutputSerializer},
    )
    def post(self, request: Request, project_id: int) -> Response:
        user = current_user(request)
        access = project_access(user=user, project_id=project_id, minimum=Role.MANAGER)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        options = ImportOptionsSerializer(data=_options(cast(Any, request.data).get("options")))
        options.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        job = import_job_create(
            project=access.project,
            user=user,
            fmt=data.validated_data["format"],
            options=dict(options.validated_data),
            upload=cast(IO[bytes], upload),
            name=upload.name or "upload",
        )
        job.refresh_from_db()
        return Response(ImportJobOutputSerializer(job).data, status=202)


class ImportDetailApi(APIView):
    @extend_schema(responses=ImportJobOutputSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = _import_job(request, job_id)
        return Response(ImportJobOutputSerializer(job).data)


def _import_job(request: Request, job_id: int) -> ImportJob:
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"import {job_id} does not exist or is not visible to you")
    try:
        project_access(user=current_user(request), project_id=job.project_id, minimum=Role.MANAGER)
    except NotFound as exc:
        raise NotFound(f"import {job_id} does not exist or is not visible to you") from exc
    return job


class ProjectExportsApi(ListAPIView[ExportJob]):
    """GET: the project's exports, newest first. POST: queue an export; the worker writes
    the file. Managers only."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]
    serializer_class = ExportJobOutputSerializer

    def get_queryset(self) -> QuerySet[ExportJob]:
        access = project_access(
            user=current_user(self.request),
            project_id=self.kwargs["project_id"],
            minimum=Role.MANAGER,
        )
        return export_job_list(project=access.project)

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=ExportJob.Format.choices)
        source = serializers.ChoiceField(  # type: ignore[assignment]
            choices=ExportJob.Source.choices, default=ExportJob.Source.ALL
        )
        model_version = serializers.IntegerField(required=False, allow_null=True)
        filters = serializers.DictField(required=False, default=dict)
        options = serializers.DictField(required=False, default=dict)

    @extend_schema(request=InputSerializer, responses={202: ExportJobOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        user = current_user(request)
        access = project_access(user=user, project_id=project_id, minimum=Role.MANAGER)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version_id = data.validated_data.get("model_version")
        model_version = None
        if version_id is not None:
            model_version = ModelVersion.objects.filter(
                pk=version_id, project=access.project
            ).first()
            if model_version is None:
                raise ValidationFailed(
                    "no such model version in this project",
                    fields={"model_version": ["not a model version of this project"]},
                )
        job = export_job_create(
            project=access.project,
            user=user,
            spec=ExportSpec(
                fmt=data.validated_data["format"],
                source=data.validated_data["source"],
                model_version=model_version,
                filters=data.validated_data["filters"],
                options=data.validated_data["options"],
            ),
        )
        job.refresh_from_db()
        return Response(ExportJobOutputSerializer(job).data, status=202)


def _export_job(request: Request, job_id: int) -> ExportJob:
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"export {job_id} does not exist or is not visible to you")
    try:
        project_access(user=current_user(request), project_id=job.project_id, minimum=Role.MANAGER)
    except NotFound as exc:
        raise NotFound(f"export {job_id} does not exist or is not visible to you") from exc
    return job


class ExportDetailApi(APIView):
    @extend_schema(responses=ExportJobOutputSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(ExportJobOutputSerializer(_export_job(request, job_id)).data)


class ExportDownloadApi(APIView):
    """The exported file, streamed from storage."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, job_id: int) -> FileResponse:
        job = _export_job(request, job_id)
        if job.state != JobState.SUCCEEDED:
            raise Conflict(f"export {job.pk} is {job.state}; the file exists once it has succeeded")
        try:
            fh = default_storage.open(job.result_key, "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"the file of export {job.pk} is gone") from exc
        return FileResponse(
            fh, as_attachment=True, filename=job.result_name, content_type=job.content_type
        )
