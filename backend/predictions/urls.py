from django.urls import path

from backend.predictions.apis import ItemPredictionListApi, ModelVersionListApi, TrainingRunListApi

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
        "items/<int:item_id>/predictions/", ItemPredictionListApi.as_view(), name="item-predictions"
    ),
]
