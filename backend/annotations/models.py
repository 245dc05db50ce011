from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.audio.models import AudioItem
from backend.common.models import BaseModel
from backend.projects.models import Project


class Annotation(BaseModel):
    """One person's work on one item: clip labels plus segments, versioned for concurrency.

    A draft holds one of the item's K slots (``AudioItem.active_annotations``) while its lease
    runs (``lease_expires_at`` not null) or while its annotator is assigned the item; a
    submitted annotation holds its slot for good. A reviewer's correction is a reference
    annotation (``is_reference``): the item's reviewed truth, never a slot.
    """

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"

    class ReviewState(models.TextChoices):
        PENDING = "pending", "Not reviewed"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected, back with the annotator"
        CORRECTED = "corrected", "Corrected by a reviewer"

    # No index of their own: annotation_item_state and annotation_item_person lead with the
    # item, annotation_mine with the annotator, and every index costs on each insert (an
    # import writes hundreds of thousands of rows).
    item = models.ForeignKey(
        AudioItem, on_delete=models.CASCADE, related_name="annotations", db_index=False
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="annotations",
        db_index=False,
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    # {"group name": ["label", ...]}; validated against the project's label schema.
    clip_labels = models.JSONField(default=dict, blank=True)
    lead_time_s = models.FloatField(default=0.0)
    version = models.PositiveIntegerField(default=1)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The slot this draft holds is free for others after this instant (null: no lease).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The latest review verdict, kept here so the review queue is one index range.
    review_state = models.CharField(
        max_length=10, choices=ReviewState.choices, default=ReviewState.PENDING
    )
    is_reference = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"],
                condition=models.Q(is_reference=False),
                name="annotation_unique_person",
            ),
            models.UniqueConstraint(
                fields=["item"],
                condition=models.Q(is_reference=True),
                name="annotation_one_reference",
            ),
        ]
        indexes = [
            models.Index(fields=["annotator", "state", "item"], name="annotation_mine"),
            models.Index(fields=["item", "state"], name="annotation_item_state"),
            # "has this person any annotation of this item" (the queue's anti-join)
            models.Index(fields=["item", "annotator"], name="annotation_item_person"),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(state="draft", lease_expires_at__isnull=False),
                name="annotation_lease",
            ),
            models.Index(
                fields=["id"],
                condition=models.Q(state="submitted", review_state="pending", is_reference=False),
                name="annotation_review_queue",
            ),
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
    """One reviewer's verdict on one submitted annotation; the history of reviews is kept."""

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
    # For "corrected": the reference annotation the reviewer wrote.
    correction = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.verdict} review of annotation {self.annotation_id}"


class Assignment(BaseModel):
    """A manager's request that one person label one item.

    An assignment reserves one of the item's slots for the assignee (others are not served the
    item for that slot) and puts the item first in the assignee's queue. ``completed_at`` is
    set when the assignee submits or skips the item.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(AudioItem, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "user"], name="assignment_unique_person"),
        ]
        indexes = [
            models.Index(
                fields=["project", "user", "id"],
                condition=models.Q(completed_at__isnull=True),
                name="assignment_open",
            ),
            models.Index(fields=["project", "id"], name="assignment_project"),
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} assigned to {self.user_id}"
