from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, BinaryIO, cast

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.audio import peaks as peaks_format
from backend.audio import spectrogram
from backend.audio.filters import ItemFilter
from backend.audio.models import AudioItem, StorageConnection
from backend.audio.selectors import connection_access, connection_list, item_access, item_list
from backend.audio.services import (
    IngestOutcome,
    IngestSource,
    ItemNotReady,
    archive_sources,
    connection_create,
    connection_delete,
    connection_sync,
    item_audio_open,
    item_delete,
    item_require_ready,
    items_ingest,
    spectrogram_tile,
    spectrogram_tile_spec,
)
from backend.audio.streaming import ranged_file_response
from backend.common.exceptions import ValidationFailed
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
        return _upload_response(outcomes)


def _on_disk(upload: UploadedFile, folder: Path, index: int) -> Path:
    """Uploads above the memory threshold are already temporary files; the rest we write."""
    path = folder / f"{index:06d}{Path(upload.name or '').suffix.lower()[:8]}"
    with path.open("wb") as dst:
        for chunk in upload.chunks():
            dst.write(chunk)
    return path


def _upload_response(outcomes: list[IngestOutcome]) -> Response:
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
        range_header = request.headers.get("Range")
        fh, size = item_audio_open(item=item, range_header=range_header)
        return ranged_file_response(
            fh,
            size=size,
            content_type=item.content_type,
            range_header=range_header,
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


_DEFAULT_SPECTROGRAM = spectrogram.SpectrogramSettings()
_TILE_CACHE_CONTROL = "private, max-age=86400"


class SpectrogramQuerySerializer(serializers.Serializer):
    px_per_s = serializers.FloatField()
    index = serializers.IntegerField(min_value=0)
    scale = serializers.ChoiceField(choices=spectrogram.SCALES, default=_DEFAULT_SPECTROGRAM.scale)
    n_fft = serializers.ChoiceField(choices=spectrogram.N_FFTS, default=_DEFAULT_SPECTROGRAM.n_fft)
    db_min = serializers.FloatField(
        default=_DEFAULT_SPECTROGRAM.db_min,
        min_value=spectrogram.DB_LIMITS[0],
        max_value=spectrogram.DB_LIMITS[1],
    )
    db_max = serializers.FloatField(
        default=_DEFAULT_SPECTROGRAM.db_max,
        min_value=spectrogram.DB_LIMITS[0],
        max_value=spectrogram.DB_LIMITS[1],
    )
    cmap = serializers.ChoiceField(choices=spectrogram.CMAPS, default=_DEFAULT_SPECTROGRAM.cmap)

    def validate_px_per_s(self, value: float) -> float:
        if not spectrogram.is_level(value):
            levels = ", ".join(spectrogram.level_token(p) for p in spectrogram.PX_PER_S_LEVELS)
            raise serializers.ValidationError(f"must be one of {levels}")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Tenths of a dB: finer steps would only multiply cached tiles.
        attrs["db_min"] = round(attrs["db_min"], 1)
        attrs["db_max"] = round(attrs["db_max"], 1)
        if attrs["db_max"] <= attrs["db_min"]:
            raise serializers.ValidationError({"db_max": "must be greater than db_min"})
        return attrs

    def settings(self) -> spectrogram.SpectrogramSettings:
        data = self.validated_data
        return spectrogram.SpectrogramSettings(
            scale=data["scale"],
            n_fft=data["n_fft"],
            db_min=data["db_min"],
            db_max=data["db_max"],
            cmap=data["cmap"],
        )


class _IgnoreAccept(BaseContentNegotiation):
    """The first renderer (JSON) whatever Accept says: an <img> asks for image/*, which no
    renderer offers, and a tile's errors are JSON anyway; the PNG itself bypasses renderers."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


class ItemSpectrogramApi(APIView):
    """One spectrogram tile as a PNG; tiles are cached, so repeated requests are cheap."""

    content_negotiation_class = _IgnoreAccept

    @extend_schema(
        parameters=[SpectrogramQuerySerializer],
        responses={(200, "image/png"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, item_id: int) -> HttpResponse:
        item, _ = item_access(user=current_user(request), item_id=item_id)
        item_require_ready(item=item, what="spectrograms")
        q = SpectrogramQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        spec = spectrogram_tile_spec(
            item=item, px_per_s=q.validated_data["px_per_s"], index=q.validated_data["index"]
        )
        png = spectrogram_tile(
            item=item, px_per_s=spec.px_per_s, index=spec.index, settings=q.settings()
        )
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = _TILE_CACHE_CONTROL
        response["X-Tile-Start-S"] = repr(spec.start_s)
        response["X-Tile-End-S"] = repr(spec.end_s)
        response["X-Tile-Width-Px"] = str(spec.columns)
        return response


class SpectrogramSettingsSerializer(serializers.Serializer):
    scale = serializers.ChoiceField(choices=spectrogram.SCALES)
    n_fft = serializers.ChoiceField(choices=spectrogram.N_FFTS)
    db_min = serializers.FloatField()
    db_max = serializers.FloatField()
    cmap = serializers.ChoiceField(choices=spectrogram.CMAPS)


class SpectrogramOverviewSerializer(serializers.Serializer):
    px_per_s_max = serializers.FloatField()
    n_fft = serializers.IntegerField()


class SpectrogramInfoSerializer(serializers.Serializer):
    tile_width_px = serializers.IntegerField()
    tile_height_px = serializers.IntegerField()
    px_per_s_levels = serializers.ListField(child=serializers.FloatField())
    tiles_per_level = serializers.DictField(child=serializers.IntegerField())
    scales = serializers.ListField(child=serializers.CharField())
    n_ffts = serializers.ListField(child=serializers.IntegerField())
    cmaps = serializers.ListField(child=serializers.CharField())
    db_limits = serializers.ListField(child=serializers.FloatField())
    defaults = SpectrogramSettingsSerializer()
    db_reference = serializers.CharField()
    sample_rate_hz = serializers.IntegerField()
    nyquist_hz = serializers.FloatField()
    duration_s = serializers.FloatField()
    frequency_axis = serializers.CharField()
    mel_formula = serializers.CharField()
    mel_formula_text = serializers.CharField()
    last_tile = serializers.ChoiceField(choices=[spectrogram.LAST_TILE_SHAPE])
    last_tile_text = serializers.CharField()
    overview = SpectrogramOverviewSerializer()


class ItemSpectrogramInfoApi(APIView):
    """How a recording's spectrogram is tiled: geometry, levels, settings, frequency axis."""

    @extend_schema(responses=SpectrogramInfoSerializer)
    def get(self, request: Request, item_id: int) -> Response:
        item, _ = item_access(user=current_user(request), item_id=item_id)
        item_require_ready(item=item, what="spectrograms")
        return Response(
            spectrogram.describe(sample_rate_hz=item.sample_rate_hz, duration_s=item.duration_s)
        )


class ConnectionOutputSerializer(serializers.ModelSerializer[StorageConnection]):
    """Never the secret key, nor the access key id: only whether credentials are set."""

    has_credentials = serializers.SerializerMethodField()
    item_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = StorageConnection
        fields = [
            "id",
            "project",
            "name",
            "kind",
            "root",
            "bucket",
            "endpoint_url",
            "region",
            "has_credentials",
            "item_count",
            "created_at",
            "updated_at",
        ]

    def get_has_credentials(self, obj: StorageConnection) -> bool:
        return bool(obj.access_key_id or obj.secret_access_key)


class ConnectionListCreateApi(ListAPIView[StorageConnection]):
    """Storage connections of a project (managers): server folders and S3 bucket prefixes."""

    serializer_class = ConnectionOutputSerializer

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        kind = serializers.ChoiceField(choices=StorageConnection.Kind.choices)
        # The metaclass moves declared fields off the class, so Field.root stays intact.
        root = serializers.CharField(  # type: ignore[assignment]
            max_length=1000, required=False, allow_blank=True
        )
        bucket = serializers.CharField(max_length=255, required=False, allow_blank=True)
        # Not URLField: its validator refuses single-label hosts such as http://minio:9000.
        endpoint_url = serializers.RegexField(
            r"^https?://[^\s/?#]+(/[^\s]*)?$",
            max_length=500,
            required=False,
            allow_blank=True,
            error_messages={"invalid": "must be an http:// or https:// address"},
        )
        region = serializers.CharField(max_length=100, required=False, allow_blank=True)
        access_key_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
        secret_access_key = serializers.CharField(
            max_length=200, required=False, allow_blank=True, write_only=True
        )

    def get_queryset(self) -> QuerySet[StorageConnection]:
        access = project_access(
            user=current_user(self.request),
            project_id=self.kwargs["project_id"],
            minimum=Role.MANAGER,
        )
        return connection_list(project=access.project)

    @extend_schema(request=InputSerializer, responses={201: ConnectionOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        access = project_access(
            user=current_user(request), project_id=project_id, minimum=Role.MANAGER
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = connection_create(
            project=access.project, created_by=current_user(request), **data.validated_data
        )
        return Response(ConnectionOutputSerializer(connection).data, status=201)


class ConnectionDetailApi(APIView):
    @extend_schema(responses=ConnectionOutputSerializer)
    def get(self, request: Request, connection_id: int) -> Response:
        connection, _ = connection_access(user=current_user(request), connection_id=connection_id)
        return Response(ConnectionOutputSerializer(connection).data)

    def delete(self, request: Request, connection_id: int) -> Response:
        connection, _ = connection_access(user=current_user(request), connection_id=connection_id)
        connection_delete(connection=connection)
        return Response(status=204)


class ConnectionSyncApi(APIView):
    """Register every audio file under the connection that is not registered yet."""

    class OutputSerializer(serializers.Serializer):
        found = serializers.IntegerField()
        created = serializers.IntegerField()
        existing = serializers.IntegerField()

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request: Request, connection_id: int) -> Response:
        connection, _ = connection_access(user=current_user(request), connection_id=connection_id)
        result = connection_sync(connection=connection, user=current_user(request))
        return Response(self.OutputSerializer(result).data)
