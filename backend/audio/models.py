from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.common.models import BaseModel
from backend.projects.models import Project


class StorageConnection(BaseModel):
    """A place where a project's audio already lives and is read in place, not copied:
    a folder on the server or an S3-compatible bucket prefix."""

    class Kind(models.TextChoices):
        FOLDER = "folder", "Server folder"
        S3 = "s3", "S3-compatible bucket"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="storage_connections"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Folder: an absolute path. S3: the key prefix inside ``bucket`` (may be empty).
    root = models.CharField(max_length=1000, blank=True)
    bucket = models.CharField(max_length=255, blank=True)
    endpoint_url = models.CharField(max_length=500, blank=True)
    region = models.CharField(max_length=100, blank=True)
    access_key_id = models.CharField(max_length=200, blank=True)
    secret_access_key = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="connection_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} connection {self.name!r} of project {self.project_id}"


class AudioItem(BaseModel):
    """One recording to annotate. Bytes live in storage under ``storage_key``."""

    class State(models.TextChoices):
        PENDING = "pending", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    # No index of its own: item_project_state_id and the unique ids lead with the project,
    # and every index costs on each insert (imports register a million rows).
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    # Relative to ``connection`` when the item is read in place, else a key in our storage.
    storage_key = models.CharField(max_length=500)
    # RESTRICT, not PROTECT: a connection with items cannot be deleted on its own, but deleting
    # the project (which cascades to both) still works.
    connection = models.ForeignKey(
        StorageConnection, null=True, blank=True, on_delete=models.RESTRICT, related_name="items"
    )
    original_name = models.CharField(max_length=500)
    # NULL, not "", when absent: uniqueness applies only to ids that were given.
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # NULL for items registered from a manifest or a connection before anyone read their bytes;
    # the worker fills it (and the fields below, 0/"" until then) when it processes the item.
    sha256 = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    size_bytes = models.BigIntegerField(default=0)
    format = models.CharField(max_length=10, blank=True)
    content_type = models.CharField(max_length=50, blank=True)
    duration_s = models.FloatField(default=0.0)
    sample_rate_hz = models.PositiveIntegerField(default=0)
    channels = models.PositiveSmallIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)
    peaks_levels = models.JSONField(default=list, blank=True)
    # Denormalised counts kept by the annotation services so the next-item query is an index
    # range scan instead of a count over annotations per item.
    active_annotations = models.PositiveIntegerField(default=0)
    submitted_annotations = models.PositiveIntegerField(default=0)
    # Position in the labelling queue, lowest first, then id. 0 until a model ranks the items
    # (uncertainty policies); written in bulk by the prediction services.
    queue_rank = models.FloatField(default=0.0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "sha256"],
                condition=models.Q(sha256__isnull=False),
                name="item_unique_sha256",
            ),
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
            models.Index(
                fields=["project", "queue_rank", "id"],
                condition=models.Q(state="ready"),
                name="item_queue_rank",
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
