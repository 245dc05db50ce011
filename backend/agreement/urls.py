from django.urls import path

from backend.agreement.apis import (
    ItemConsensusApi,
    ProjectAgreementApi,
    ProjectDisputedItemsApi,
    ProjectProgressApi,
)

urlpatterns = [
    path(
        "projects/<int:project_id>/agreement/",
        ProjectAgreementApi.as_view(),
        name="project-agreement",
    ),
    path(
        "projects/<int:project_id>/progress/", ProjectProgressApi.as_view(), name="project-progress"
    ),
    path(
        "projects/<int:project_id>/disputed-items/",
        ProjectDisputedItemsApi.as_view(),
        name="project-disputed-items",
    ),
    path("items/<int:item_id>/consensus/", ItemConsensusApi.as_view(), name="item-consensus"),
]
