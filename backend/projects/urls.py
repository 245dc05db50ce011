from django.urls import path

from backend.projects.apis import (
    MemberDetailApi,
    MemberListCreateApi,
    ProjectDetailApi,
    ProjectListCreateApi,
)

urlpatterns = [
    path("projects/", ProjectListCreateApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", ProjectDetailApi.as_view(), name="project-detail"),
    path(
        "projects/<int:project_id>/members/",
        MemberListCreateApi.as_view(),
        name="project-members",
    ),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        MemberDetailApi.as_view(),
        name="project-member-detail",
    ),
]
