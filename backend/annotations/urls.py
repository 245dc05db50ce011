from django.urls import path

from backend.annotations.apis import (
    AnnotationDetailApi,
    AnnotationReviewApi,
    AnnotationSubmitApi,
    ItemAnnotationsApi,
    ItemCompareApi,
    ItemLeaseApi,
    ItemSkipApi,
    NextItemApi,
    ProjectAnnotationListApi,
    ProjectAssignmentsApi,
    ProjectAssignmentsUnassignApi,
    ReviewQueueApi,
)

urlpatterns = [
    path(
        "projects/<int:project_id>/annotations/",
        ProjectAnnotationListApi.as_view(),
        name="project-annotations",
    ),
    path("projects/<int:project_id>/next-item/", NextItemApi.as_view(), name="next-item"),
    path("items/<int:item_id>/annotations/", ItemAnnotationsApi.as_view(), name="item-annotations"),
    path("items/<int:item_id>/skip/", ItemSkipApi.as_view(), name="item-skip"),
    path(
        "annotations/<int:annotation_id>/", AnnotationDetailApi.as_view(), name="annotation-detail"
    ),
    path(
        "annotations/<int:annotation_id>/submit/",
        AnnotationSubmitApi.as_view(),
        name="annotation-submit",
    ),
    path("items/<int:item_id>/lease/", ItemLeaseApi.as_view(), name="item-lease"),
    path("items/<int:item_id>/compare/", ItemCompareApi.as_view(), name="item-compare"),
    path(
        "annotations/<int:annotation_id>/review/",
        AnnotationReviewApi.as_view(),
        name="annotation-review",
    ),
    path(
        "projects/<int:project_id>/review-queue/",
        ReviewQueueApi.as_view(),
        name="review-queue",
    ),
    path(
        "projects/<int:project_id>/assignments/",
        ProjectAssignmentsApi.as_view(),
        name="project-assignments",
    ),
    path(
        "projects/<int:project_id>/assignments/unassign/",
        ProjectAssignmentsUnassignApi.as_view(),
        name="project-assignments-unassign",
    ),
]
