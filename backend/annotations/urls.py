from django.urls import path

from backend.annotations.apis import (
    AnnotationDetailApi,
    AnnotationSubmitApi,
    ItemAnnotationsApi,
    ItemSkipApi,
    NextItemApi,
    ProjectAnnotationListApi,
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
]
