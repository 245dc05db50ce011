from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.common.models import BaseModel
from backend.projects.models import Project


class AudioItem(BaseModel):
    """One recording to annotate. Bytes live in storage under ``storage_key``."""

    class State(models.TextChoices):
        PENDING = "pending", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    storage_key = models.CharField(max_length=500)
    original_name = models.CharField(max_length=500)
    # NULL, not "", when absent: uniqueness applies only to ids that were given.
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    format = models.CharField(max_length=10)
    content_type = models.CharField(max_length=50)
    duration_s = models.FloatField()
    sample_rate_hz = models.PositiveIntegerField()
    channels = models.PositiveSmallIntegerField()
    metadata = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)
    peaks_levels = models.JSONField(default=list, blank=True)
    # Denormalised counts kept by the annotation services so the next-item query is an index
    # range scan instead of a count over annotations per item.
    active_annotations = models.PositiveIntegerField(default=0)
    submitted_annotations = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="item_unique_sha256"),
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="item_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "state", "id"], name="item_project_state_id"),
            models.Index(
                fields=["project", "active_annotations", "id"],
                condition=models.Q(state="ready"),
                name="item_queue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.pk})"

    @property
    def peaks_prefix(self) -> str:
        return f"projects/{self.project_id}/peaks/{self.pk}/"

    def peaks_key(self, samples_per_bin: int) -> str:
        return f"{self.peaks_prefix}{samples_per_bin}.dat"

    @property
    def spectrogram_prefix(self) -> str:
        """The overview and every cached tile of this item live under here."""
        return f"projects/{self.project_id}/spectrogram/{self.pk}/"

    def spectrogram_overview_key(self, scale: str) -> str:
        return f"{self.spectrogram_prefix}overview-{scale}.npy"

    def spectrogram_tile_key(self, settings_key: str, level: str, index: int) -> str:
        return f"{self.spectrogram_prefix}{settings_key}/{level}/{index}.png"
