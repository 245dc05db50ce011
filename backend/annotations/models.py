from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.audio.models import AudioItem
from backend.common.models import BaseModel


class Annotation(BaseModel):
    """One person's work on one item: clip labels plus segments, versioned for concurrency."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"

    item = models.ForeignKey(AudioItem, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    # {"group name": ["label", ...]}; validated against the project's label schema.
    clip_labels = models.JSONField(default=dict, blank=True)
    lead_time_s = models.FloatField(default=0.0)
    version = models.PositiveIntegerField(default=1)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="annotation_unique_person"),
        ]
        indexes = [
            models.Index(fields=["annotator", "state", "item"], name="annotation_mine"),
            models.Index(fields=["item", "state"], name="annotation_item_state"),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} of item {self.item_id} by {self.annotator_id}"


class Segment(models.Model):
    """A labelled time span, optionally bounded in frequency and carrying text."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="segments")
    start_s = models.FloatField()
    end_s = models.FloatField()
    label = models.CharField(max_length=100)
    low_hz = models.FloatField(null=True, blank=True)
    high_hz = models.FloatField(null=True, blank=True)
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["start_s", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_s__gt=models.F("start_s")), name="segment_positive_span"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.start_s:.3f}-{self.end_s:.3f}"


class Review(BaseModel):
    class Verdict(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        CORRECTED = "corrected", "Corrected"

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    comment = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.verdict} review of annotation {self.annotation_id}"
