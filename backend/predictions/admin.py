from django.contrib import admin

from backend.predictions.models import ModelVersion, Prediction, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin[ModelVersion]):
    list_display = ["id", "project", "version", "kind", "device", "created_at"]
    raw_id_fields = ["project"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin[TrainingRun]):
    list_display = ["id", "project", "state", "started_at", "finished_at"]
    list_filter = ["state"]
    raw_id_fields = ["project", "model_version", "requested_by"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin[Prediction]):
    list_display = ["id", "item", "model_version", "uncertainty"]
    raw_id_fields = ["item", "model_version"]
