from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.audio.models import AudioItem
from backend.common.models import BaseModel
from backend.projects.models import Project


class ModelVersion(BaseModel):
    """A trained model: what it learned from, how well it did, where its checkpoint lives."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=50)  # e.g. "clip_cnn", "segment_crnn", "baseline"
    checkpoint_key = models.CharField(max_length=500, blank=True)
    # annotation ids and counts per label the model was trained on
    trained_on = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    training_time_s = models.FloatField(null=True, blank=True)
    device = models.CharField(max_length=50, blank=True)
    is_external = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="model_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version} of project {self.project_id}"


class TrainingRun(BaseModel):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Requested"
        AUTO = "auto", "After new labels"

    class Purpose(models.TextChoices):
        # Train a model, predict the unfinished items and rank them.
        TRAIN = "train", "Train a model"
        # Cold start: rank the unfinished items by the project's embedding model alone (no
        # labels, no model version), so the first items asked are representative.
        ORDER = "order", "Order the queue"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.TRAIN)
    # Bumped when the reaper sends a run again after its worker died; reports of an older
    # attempt are ignored, so a late message of a dead worker cannot finish a newer attempt.
    attempt = models.PositiveSmallIntegerField(default=1)
    # Last progress report from the worker; the reaper's measure of a live run.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Submitted annotations in the project when the run was requested: auto-training counts
    # new submissions from here.
    submitted_at_request = models.PositiveIntegerField(default=0)
    # {"phase": "training", "epoch": 3, "epochs": 20, "loss": 0.41, "eta_s": 12.0}
    progress = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One run (training or queue order) per project at a time.
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(state__in=["queued", "running"]),
                name="training_run_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"training run {self.pk} ({self.state})"


class Prediction(BaseModel):
    item = models.ForeignKey(AudioItem, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions"
    )
    # {"group name": {"label": score, ...}}
    clip_scores = models.JSONField(default=dict, blank=True)
    # [{"start_s": .., "end_s": .., "label": .., "score": .., "low_hz": .., "high_hz": ..}]
    segments = models.JSONField(default=list, blank=True)
    uncertainty = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "model_version"], name="prediction_unique"),
        ]
        indexes = [models.Index(fields=["model_version", "uncertainty"], name="prediction_unc")]

    def __str__(self) -> str:
        return f"prediction for item {self.item_id} by model {self.model_version_id}"
