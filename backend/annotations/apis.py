from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.annotations.filters import AnnotationFilter
from backend.annotations.models import Annotation, Segment
from backend.annotations.selectors import (
    annotation_access,
    annotation_get,
    annotation_list_visible,
    annotation_of,
    next_item_for_user,
)
from backend.annotations.services import (
    annotation_start,
    annotation_submit,
    annotation_update,
    item_skip,
)
from backend.audio.apis import ItemOutputSerializer
from backend.audio.selectors import item_access
from backend.projects.selectors import project_access
from backend.users.auth import current_user


class SegmentSerializer(serializers.ModelSerializer[Segment]):
    class Meta:
        model = Segment
        fields = ["id", "start_s", "end_s", "label", "low_hz", "high_hz", "text"]
        read_only_fields = ["id"]


class SegmentInputSerializer(serializers.Serializer):
    start_s = serializers.FloatField()
    end_s = serializers.FloatField()
    # "label" shadows Field.label in the stubs; at run time DRF declares it as a field.
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]
    low_hz = serializers.FloatField(required=False, allow_null=True)
    high_hz = serializers.FloatField(required=False, allow_null=True)
    text = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class AnnotationOutputSerializer(serializers.ModelSerializer[Annotation]):
    segments = SegmentSerializer(many=True, read_only=True)
    annotator_username = serializers.CharField(source="annotator.username", read_only=True)
    project = serializers.IntegerField(source="item.project_id", read_only=True)

    class Meta:
        model = Annotation
        fields = [
            "id",
            "item",
            "project",
            "annotator",
            "annotator_username",
            "state",
            "clip_labels",
            "segments",
            "lead_time_s",
            "version",
            "submitted_at",
            "created_at",
            "updated_at",
        ]


def _annotation_data(annotation: Annotation) -> dict[str, Any]:
    # Re-read so segments replaced inside the service are shown as stored.
    return dict(AnnotationOutputSerializer(annotation_get(annotation_id=annotation.pk)).data)


class ContentInputSerializer(serializers.Serializer):
    clip_labels = serializers.JSONField(required=False)
    segments = serializers.ListField(
        child=SegmentInputSerializer(), required=False, max_length=20_000
    )
    lead_time_s = serializers.FloatField(required=False, min_value=0, max_value=7 * 24 * 3600)


class ProjectAnnotationListApi(ListAPIView[Annotation]):
    """Annotations in a project: reviewers and managers see all, annotators their own."""

    serializer_class = AnnotationOutputSerializer
    filterset_class = AnnotationFilter

    def get_queryset(self) -> QuerySet[Annotation]:
        user = current_user(self.request)
        access = project_access(user=user, project_id=self.kwargs["project_id"])
        return annotation_list_visible(access=access, user=user)


class ItemAnnotationsApi(ListAPIView[Annotation]):
    """GET: the item's annotations visible to the caller. POST: start (or fetch) my draft."""

    serializer_class = AnnotationOutputSerializer

    def get_queryset(self) -> QuerySet[Annotation]:
        user = current_user(self.request)
        item, access = item_access(user=user, item_id=self.kwargs["item_id"])
        return annotation_list_visible(access=access, user=user).filter(item=item)

    @extend_schema(request=ContentInputSerializer, responses={201: AnnotationOutputSerializer})
    def post(self, request: Request, item_id: int) -> Response:
        user = current_user(request)
        item, _ = item_access(user=user, item_id=item_id)
        data = ContentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation, created = annotation_start(item=item, annotator=user, **data.validated_data)
        return Response(_annotation_data(annotation), status=201 if created else 200)


class AnnotationDetailApi(APIView):
    class UpdateSerializer(ContentInputSerializer):
        version = serializers.IntegerField(min_value=1)

    @extend_schema(responses=AnnotationOutputSerializer)
    def get(self, request: Request, annotation_id: int) -> Response:
        annotation, _ = annotation_access(user=current_user(request), annotation_id=annotation_id)
        return Response(AnnotationOutputSerializer(annotation).data)

    @extend_schema(request=UpdateSerializer, responses=AnnotationOutputSerializer)
    def patch(self, request: Request, annotation_id: int) -> Response:
        user = current_user(request)
        annotation_access(user=user, annotation_id=annotation_id)
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = annotation_update(
            annotation_id=annotation_id, user=user, **data.validated_data
        )
        return Response(_annotation_data(annotation))


class AnnotationSubmitApi(APIView):
    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1)

    @extend_schema(request=InputSerializer, responses=AnnotationOutputSerializer)
    def post(self, request: Request, annotation_id: int) -> Response:
        user = current_user(request)
        annotation_access(user=user, annotation_id=annotation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = annotation_submit(
            annotation_id=annotation_id, user=user, version=data.validated_data["version"]
        )
        return Response(_annotation_data(annotation))


class ItemSkipApi(APIView):
    @extend_schema(request=None, responses=AnnotationOutputSerializer)
    def post(self, request: Request, item_id: int) -> Response:
        user = current_user(request)
        item, _ = item_access(user=user, item_id=item_id)
        annotation = item_skip(item=item, user=user)
        return Response(_annotation_data(annotation))


class NextItemApi(APIView):
    """The next item for the caller to label, with their draft on it if they have one."""

    class OutputSerializer(serializers.Serializer):
        item = ItemOutputSerializer(allow_null=True)
        annotation = AnnotationOutputSerializer(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        user = current_user(request)
        access = project_access(user=user, project_id=project_id)
        item = next_item_for_user(project=access.project, user=user)
        annotation = annotation_of(item=item, user=user) if item is not None else None
        return Response(
            {
                "item": ItemOutputSerializer(item).data if item else None,
                "annotation": AnnotationOutputSerializer(annotation).data if annotation else None,
            }
        )
