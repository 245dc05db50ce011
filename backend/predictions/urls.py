from django.urls import path

from backend.predictions.apis import (
    EmbeddingModelApi,
    ItemPredictionListApi,
    ModelVersionListApi,
    ProjectPredictionListApi,
    QueueOrderApi,
    TrainingRunCancelApi,
    TrainingRunDetailApi,
    TrainingRunListApi,
)

urlpatterns = [
    path(
        "projects/<int:project_id>/model-versions/",
        ModelVersionListApi.as_view(),
        name="model-versions",
    ),
    path(
        "projects/<int:project_id>/training-runs/",
        TrainingRunListApi.as_view(),
        name="training-runs",
    ),
    path(
        "projects/<int:project_id>/queue-order/",
        QueueOrderApi.as_view(),
        name="queue-order",
    ),
    path("training-runs/<int:run_id>/", TrainingRunDetailApi.as_view(), name="training-run"),
    path(
        "training-runs/<int:run_id>/cancel/",
        TrainingRunCancelApi.as_view(),
        name="training-run-cancel",
    ),
    path(
        "projects/<int:project_id>/embedding-model/",
        EmbeddingModelApi.as_view(),
        name="embedding-model",
    ),
    path(
        "projects/<int:project_id>/predictions/",
        ProjectPredictionListApi.as_view(),
        name="project-predictions",
    ),
    path(
        "items/<int:item_id>/predictions/", ItemPredictionListApi.as_view(), name="item-predictions"
    ),
]
