from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.annotations.filters import AnnotationFilter, AssignmentFilter, ReviewQueueFilter
from backend.annotations.models import Annotation, Assignment, Review, Segment
from backend.annotations.selectors import (
    annotation_access,
    annotation_get,
    annotation_list_visible,
    assignment_list,
    item_compare,
    review_queue,
)
from backend.annotations.services import (
    AssignmentOutcome,
    annotation_review,
    annotation_start,
    annotation_submit,
    annotation_update,
    assignments_create,
    assignments_delete,
    item_skip,
    lease_renew,
    next_item_claim,
)
from backend.audio.apis import ItemOutputSerializer
from backend.audio.selectors import item_access
from backend.common.pagination import CursorPagination
from backend.projects.models import Membership
from backend.projects.selectors import project_access
from backend.users.auth import current_user

Role = Membership.Role


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


class ReviewOutputSerializer(serializers.ModelSerializer[Review]):
    reviewer_username = serializers.CharField(source="reviewer.username", read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "annotation",
            "reviewer",
            "reviewer_username",
            "verdict",
            "comment",
            "correction",
            "created_at",
        ]


class AnnotationOutputSerializer(serializers.ModelSerializer[Annotation]):
    segments = SegmentSerializer(many=True, read_only=True)
    annotator_username = serializers.CharField(source="annotator.username", read_only=True)
    project = serializers.IntegerField(source="item.project_id", read_only=True)
    # Reviews of this annotation: its annotator sees why it came back (rejection comment).
    reviews = ReviewOutputSerializer(many=True, read_only=True)

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
            "lease_expires_at",
            "review_state",
            "is_reference",
            "reviews",
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
    """The next item for the caller to label, with their draft on it holding a slot (a lease).

    GET and POST do the same: the frontend has always used GET; scripts may prefer POST,
    since the call claims a slot.
    """

    class OutputSerializer(serializers.Serializer):
        item = ItemOutputSerializer(allow_null=True)
        annotation = AnnotationOutputSerializer(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        user = current_user(request)
        access = project_access(user=user, project_id=project_id)
        claim = next_item_claim(project=access.project, user=user)
        if claim is None:
            return Response({"item": None, "annotation": None})
        return Response(
            {
                "item": ItemOutputSerializer(claim.item).data,
                "annotation": _annotation_data(claim.annotation),
            }
        )

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request: Request, project_id: int) -> Response:
        return self.get(request, project_id)


class ItemLeaseApi(APIView):
    """Heartbeat: keep (or take again) the caller's slot on an item they are labelling."""

    class OutputSerializer(serializers.Serializer):
        expires_at = serializers.DateTimeField()
        annotation = serializers.IntegerField()

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request: Request, item_id: int) -> Response:
        user = current_user(request)
        item, _ = item_access(user=user, item_id=item_id)
        annotation = lease_renew(item=item, user=user)
        return Response(
            self.OutputSerializer(
                {"expires_at": annotation.lease_expires_at, "annotation": annotation.pk}
            ).data
        )


class AssignmentOutputSerializer(serializers.ModelSerializer[Assignment]):
    username = serializers.CharField(source="user.username", read_only=True)
    assigned_by_username = serializers.CharField(
        source="assigned_by.username", read_only=True, default=None
    )

    class Meta:
        model = Assignment
        fields = [
            "id",
            "project",
            "item",
            "user",
            "username",
            "assigned_by",
            "assigned_by_username",
            "completed_at",
            "created_at",
        ]


class AssignmentInputSerializer(serializers.Serializer):
    # A user id or a username.
    user = serializers.CharField(max_length=150)
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=10_000
    )


class AssignmentOutcomeSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user.pk")
    username = serializers.CharField(source="user.username")
    changed = serializers.ListField(child=serializers.IntegerField())
    unchanged = serializers.ListField(child=serializers.IntegerField())
    already_done = serializers.ListField(child=serializers.IntegerField())


def _outcome_data(outcome: AssignmentOutcome) -> dict[str, Any]:
    return dict(AssignmentOutcomeSerializer(outcome).data)


def _unassign(request: Request, project_id: int) -> Response:
    user = current_user(request)
    access = project_access(user=user, project_id=project_id, minimum=Role.MANAGER)
    data = AssignmentInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    outcome = assignments_delete(
        project=access.project,
        user_ref=data.validated_data["user"],
        item_ids=data.validated_data["items"],
    )
    return Response(_outcome_data(outcome))


class ProjectAssignmentsApi(ListAPIView[Assignment]):
    """GET: assignments (managers and reviewers: all; annotators: their own).
    POST: assign items to a member. DELETE: unassign (same body). Managers only."""

    serializer_class = AssignmentOutputSerializer
    filterset_class = AssignmentFilter

    def get_queryset(self) -> QuerySet[Assignment]:
        user = current_user(self.request)
        access = project_access(user=user, project_id=self.kwargs["project_id"])
        return assignment_list(access=access, user=user)

    @extend_schema(request=AssignmentInputSerializer, responses={201: AssignmentOutcomeSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        user = current_user(request)
        access = project_access(user=user, project_id=project_id, minimum=Role.MANAGER)
        data = AssignmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = assignments_create(
            project=access.project,
            user_ref=data.validated_data["user"],
            item_ids=data.validated_data["items"],
            assigned_by=user,
        )
        return Response(_outcome_data(outcome), status=201 if outcome.changed else 200)

    @extend_schema(request=AssignmentInputSerializer, responses=AssignmentOutcomeSerializer)
    def delete(self, request: Request, project_id: int) -> Response:
        return _unassign(request, project_id)


class ProjectAssignmentsUnassignApi(APIView):
    """POST: unassign, for clients that cannot send a body with DELETE."""

    @extend_schema(request=AssignmentInputSerializer, responses=AssignmentOutcomeSerializer)
    def post(self, request: Request, project_id: int) -> Response:
        return _unassign(request, project_id)


class ReviewQueuePagination(CursorPagination):
    # A queue: the oldest submission first.
    ordering = "id"


class ReviewQueueApi(ListAPIView[Annotation]):
    """Submitted annotations nobody has reviewed yet; reviewers and managers."""

    serializer_class = AnnotationOutputSerializer
    pagination_class = ReviewQueuePagination
    filterset_class = ReviewQueueFilter

    def get_queryset(self) -> QuerySet[Annotation]:
        user = current_user(self.request)
        access = project_access(
            user=user, project_id=self.kwargs["project_id"], minimum=Role.REVIEWER
        )
        return review_queue(access=access, user=user)


class AnnotationReviewApi(APIView):
    class InputSerializer(serializers.Serializer):
        verdict = serializers.ChoiceField(choices=Review.Verdict.choices)
        comment = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
        clip_labels = serializers.JSONField(required=False)
        segments = serializers.ListField(
            child=SegmentInputSerializer(), required=False, max_length=20_000
        )

    class OutputSerializer(serializers.Serializer):
        review = ReviewOutputSerializer()
        annotation = AnnotationOutputSerializer()
        correction = AnnotationOutputSerializer(allow_null=True)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request, annotation_id: int) -> Response:
        user = current_user(request)
        _, access = annotation_access(user=user, annotation_id=annotation_id)
        access.require(Role.REVIEWER)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = annotation_review(
            annotation_id=annotation_id, reviewer=user, role=access.role, **data.validated_data
        )
        correction = review.correction
        body = {
            "review": ReviewOutputSerializer(review).data,
            "annotation": _annotation_data(review.annotation),
            "correction": _annotation_data(correction) if correction is not None else None,
        }
        return Response(body, status=201)


class ItemCompareApi(APIView):
    """Every annotation of an item with segments, annotator, state and reviews: the data of the
    side-by-side compare view. Reviewers and managers only (annotators label blind)."""

    class OutputSerializer(serializers.Serializer):
        item = ItemOutputSerializer()
        annotations = AnnotationOutputSerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, item_id: int) -> Response:
        item, _ = item_access(user=current_user(request), item_id=item_id, minimum=Role.REVIEWER)
        annotations = item_compare(item=item)
        return Response(
            {
                "item": ItemOutputSerializer(item).data,
                "annotations": AnnotationOutputSerializer(annotations, many=True).data,
            }
        )
