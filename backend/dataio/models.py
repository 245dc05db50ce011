from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.common.models import BaseModel
from backend.predictions.models import ModelVersion
from backend.projects.models import Project


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportJob(BaseModel):
    """One import of a file into a project, run by the worker; ``report`` says row by row
    what happened."""

    class Format(models.TextChoices):
        NATIVE = "native", "Earmark native (JSON Lines)"
        MANIFEST = "manifest", "Manifest of audio references (CSV or JSON Lines)"
        LABEL_STUDIO = "label_studio", "Label Studio JSON"
        RAVEN = "raven", "Raven selection table"
        AUDACITY = "audacity", "Audacity labels"
        PREDICTIONS = "predictions", "Predictions of an external model (JSON Lines)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    format = models.CharField(max_length=20, choices=Format.choices)
    options = models.JSONField(default=dict, blank=True)
    # The uploaded file, kept in storage until the job is deleted.
    source_key = models.CharField(max_length=500)
    source_name = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    # {"done": rows read so far, "total": rows in the file when known, else null}
    progress = models.JSONField(default=dict, blank=True)
    # {"rows", "created", "updated", "unchanged", "rejected", "errors": [...], "unmapped": [...]}
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.pk} ({self.format}, {self.state})"


class ExportJob(BaseModel):
    """One export of a project, written by the worker to a file in storage."""

    class Format(models.TextChoices):
        NATIVE = "native", "Earmark native (JSON Lines)"
        LABEL_STUDIO = "label_studio", "Label Studio JSON"
        CSV = "csv", "CSV, one row per clip label and per segment"
        RAVEN = "raven", "Raven selection tables (zip, one per recording)"
        AUDACITY = "audacity", "Audacity labels (zip, one per recording)"
        AUDIOFOLDER = "audiofolder", "Hugging Face audiofolder (zip)"

    class Source(models.TextChoices):
        ALL = "all", "All annotations"
        CONSENSUS = "consensus", "Consensus"
        REVIEWED = "reviewed", "Reviewed truth only"
        PREDICTIONS = "predictions", "Predictions of a model version"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    format = models.CharField(max_length=20, choices=Format.choices)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.ALL)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filters = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    progress = models.JSONField(default=dict, blank=True)
    result_key = models.CharField(max_length=500, blank=True)
    result_name = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.state})"
