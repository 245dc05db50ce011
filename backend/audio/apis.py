from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, BinaryIO, cast

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.audio import peaks as peaks_format
from backend.audio.filters import ItemFilter
from backend.audio.models import AudioItem
from backend.audio.selectors import item_access, item_list
from backend.audio.services import (
    IngestOutcome,
    IngestSource,
    ItemNotReady,
    archive_sources,
    item_delete,
    items_ingest,
)
from backend.audio.streaming import ranged_file_response
from backend.common.exceptions import NotFound, ValidationFailed
from backend.projects.models import Membership
from backend.projects.selectors import project_access
from backend.users.auth import current_user

Role = Membership.Role


class ItemOutputSerializer(serializers.ModelSerializer[AudioItem]):
    class Meta:
        model = AudioItem
        fields = [
            "id",
            "project",
            "original_name",
            "external_id",
            "state",
            "error",
            "format",
            "content_type",
            "duration_s",
            "sample_rate_hz",
            "channels",
            "size_bytes",
            "sha256",
            "metadata",
            "peaks_levels",
            "created_at",
            "updated_at",
        ]


class ItemListApi(ListAPIView[AudioItem]):
    """Items of a project, newest first, with filters; any member may list."""

    serializer_class = ItemOutputSerializer
    filterset_class = ItemFilter

    def get_queryset(self) -> QuerySet[AudioItem]:
        access = project_access(
            user=current_user(self.request), project_id=self.kwargs["project_id"]
        )
        return item_list(project=access.project)


class ItemUploadApi(APIView):
    """Upload audio files (field ``files``, repeatable) and/or zip archives (``archive``)."""

    parser_classes = [MultiPartParser, FormParser]

    class OutcomeSerializer(serializers.Serializer):
        name = serializers.CharField()
        status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
        error = serializers.CharField()
        item = ItemOutputSerializer(allow_null=True)

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        duplicates = serializers.IntegerField()
        rejected = serializers.IntegerField()
        files = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "archive": {"type": "array", "items": {"type": "string", "format": "binary"}},
                },
            }
        },
        responses={201: OutputSerializer},
    )
    def post(self, request: Request, project_id: int) -> Response:
        access = project_access(
            user=current_user(request), project_id=project_id, minimum=Role.MANAGER
        )
        files: list[UploadedFile] = request.FILES.getlist("files")
        archives: list[UploadedFile] = request.FILES.getlist("archive")
        if not files and not archives:
            raise ValidationFailed(
                "no files uploaded",
                fields={"files": ["send audio as multipart field 'files' or a zip as 'archive'"]},
            )
        outcomes: list[IngestOutcome] = []
        with tempfile.TemporaryDirectory(prefix="earmark-upload-") as tmp:
            sources = [
                IngestSource(name=f.name or "upload", path=_on_disk(f, Path(tmp), i))
                for i, f in enumerate(files)
            ]
            outcomes += items_ingest(
                project=access.project, sources=sources, uploaded_by=current_user(request)
            )
            for i, archive in enumerate(archives):
                zip_path = _on_disk(archive, Path(tmp), len(files) + i)
                with archive_sources(zip_path, archive_name=archive.name or "archive") as inner:
                    outcomes += items_ingest(
                        project=access.project, sources=inner, uploaded_by=current_user(request)
                    )
        return _upload_response(outcomes, request=request)


def _on_disk(upload: UploadedFile, folder: Path, index: int) -> Path:
    """Uploads above the memory threshold are already temporary files; the rest we write."""
    path = folder / f"{index:06d}{Path(upload.name or '').suffix.lower()[:8]}"
    with path.open("wb") as dst:
        for chunk in upload.chunks():
            dst.write(chunk)
    return path


def _upload_response(outcomes: list[IngestOutcome], *, request: Request) -> Response:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("created", "duplicate", "rejected")}
    body: dict[str, Any] = {
        "created": counts["created"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "files": [
            {
                "name": o.name,
                "status": o.status,
                "error": o.error,
                "item": ItemOutputSerializer(o.item).data if o.item else None,
            }
            for o in outcomes
        ],
    }
    if counts["rejected"] and not counts["created"] and not counts["duplicate"]:
        fields = {f"files.{o.name}": [o.error] for o in outcomes}
        first = outcomes[0]
        return Response(
            {
                "error": {
                    "code": "invalid_audio",
                    "message": f"{first.name}: {first.error}",
                    "fields": fields,
                },
                **body,
            },
            status=400,
        )
    return Response(body, status=201 if counts["created"] else 200)


class ItemDetailApi(APIView):
    @extend_schema(responses=ItemOutputSerializer)
    def get(self, request: Request, item_id: int) -> Response:
        item, _ = item_access(user=current_user(request), item_id=item_id)
        return Response(ItemOutputSerializer(item).data)

    def delete(self, request: Request, item_id: int) -> Response:
        item, _ = item_access(user=current_user(request), item_id=item_id, minimum=Role.MANAGER)
        item_delete(item=item)
        return Response(status=204)


class ItemAudioApi(APIView):
    """The original audio bytes, with HTTP Range support (206 Partial Content)."""

    @extend_schema(responses={(200, "audio/*"): OpenApiTypes.BINARY})
    def get(self, request: Request, item_id: int) -> Any:
        item, _ = item_access(user=current_user(request), item_id=item_id)
        try:
            size = default_storage.size(item.storage_key)
            fh = default_storage.open(item.storage_key, "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"the stored audio of item {item.pk} is missing") from exc
        return ranged_file_response(
            fh,
            size=size,
            content_type=item.content_type,
            range_header=request.headers.get("Range"),
            filename=item.original_name,
        )


class PeaksQuerySerializer(serializers.Serializer):
    target_bins = serializers.IntegerField(required=False, min_value=1, max_value=200_000)
    samples_per_bin = serializers.IntegerField(required=False, min_value=1)
    start_s = serializers.FloatField(required=False, min_value=0)
    end_s = serializers.FloatField(required=False, min_value=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "start_s" in attrs and "end_s" in attrs and attrs["end_s"] <= attrs["start_s"]:
            raise serializers.ValidationError({"end_s": "must be greater than start_s"})
        return attrs


class ItemPeaksApi(APIView):
    """Waveform peaks for wavesurfer.js: min/max pairs per bin, per channel, in [-1, 1]."""

    @extend_schema(
        parameters=[
            OpenApiParameter("target_bins", int, description="about this many bins (default 2000)"),
            OpenApiParameter("samples_per_bin", int, description="one of the item's peaks_levels"),
            OpenApiParameter("start_s", float),
            OpenApiParameter("end_s", float),
        ]
    )
    def get(self, request: Request, item_id: int) -> Response:
        item, _ = item_access(user=current_user(request), item_id=item_id)
        if item.state != AudioItem.State.READY:
            raise ItemNotReady(f"item {item.pk} is {item.state}; peaks exist once it is ready")
        q = PeaksQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        start_s: float = q.validated_data.get("start_s", 0.0)
        end_s: float = min(q.validated_data.get("end_s", item.duration_s), item.duration_s)
        if start_s >= item.duration_s:
            raise ValidationFailed(
                "start_s is beyond the end of the recording",
                fields={"start_s": [f"must be below duration_s ({item.duration_s:.3f})"]},
            )
        level = q.validated_data.get("samples_per_bin")
        if level is None:
            level = peaks_format.choose_level(
                item.peaks_levels,
                duration_s=end_s - start_s,
                sample_rate_hz=item.sample_rate_hz,
                target_bins=q.validated_data.get("target_bins", 2000),
            )
        elif level not in item.peaks_levels:
            raise ValidationFailed(
                "no such peaks level",
                fields={"samples_per_bin": [f"must be one of {item.peaks_levels}"]},
            )
        with default_storage.open(item.peaks_key(level), "rb") as fh:
            data = peaks_format.read_dat_range(
                cast(BinaryIO, fh),
                start_s=start_s,
                end_s=end_s if "end_s" in q.validated_data else None,
            )
        return Response(
            {
                "duration_s": item.duration_s,
                "sample_rate_hz": item.sample_rate_hz,
                "channels": item.channels,
                "samples_per_bin": level,
                "start_s": data.start_s,
                # bins are whole, so the window is the bins' true span, not the one asked for
                "end_s": min(
                    item.duration_s, data.start_s + data.bins * level / item.sample_rate_hz
                ),
                "data": peaks_format.to_wavesurfer(data),
            }
        )
