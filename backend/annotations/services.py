"""Writes for annotations: drafts, versioned updates, submit and skip.

Every change bumps ``version``; a client that sends a version other than the current one gets a
conflict and the current content, never a silent overwrite.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backend.annotations.models import Annotation, Review, Segment
from backend.annotations.validation import (
    SegmentData,
    missing_required_groups,
    validate_clip_labels,
    validate_segments,
)
from backend.audio.models import AudioItem
from backend.common.exceptions import Conflict, PermissionDeniedError, ValidationFailed
from backend.projects.schema import LabelSchema
from backend.users.models import User

_ACTIVE = (Annotation.State.DRAFT, Annotation.State.SUBMITTED)


class StaleVersion(Conflict):
    code = "stale_version"

    def __init__(self, annotation: Annotation, sent: int) -> None:
        super().__init__(
            f"annotation {annotation.pk} changed elsewhere: you sent version {sent}, "
            f"the current version is {annotation.version}",
            fields={"version": [f"current version is {annotation.version}"]},
        )
        self.current_version = annotation.version


def _schema_of(item: AudioItem) -> LabelSchema:
    return LabelSchema.parse(item.project.label_schema)


def _check_content(
    item: AudioItem, clip_labels: Any, segments: list[dict[str, Any]] | None
) -> tuple[dict[str, list[str]] | None, list[SegmentData] | None]:
    schema = _schema_of(item)
    errors: dict[str, list[str]] = {}
    labels = segs = None
    if clip_labels is not None:
        try:
            labels = validate_clip_labels(schema, clip_labels)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if segments is not None:
        try:
            segs = validate_segments(
                schema, segments, duration_s=item.duration_s, sample_rate_hz=item.sample_rate_hz
            )
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        path, messages = next(iter(errors.items()))
        raise ValidationFailed(f"{path}: {messages[0]}", fields=errors)
    return labels, segs


def _replace_segments(annotation: Annotation, segments: list[SegmentData]) -> None:
    annotation.segments.all().delete()
    Segment.objects.bulk_create(
        Segment(
            annotation=annotation,
            start_s=s.start_s,
            end_s=s.end_s,
            label=s.label,
            low_hz=s.low_hz,
            high_hz=s.high_hz,
            text=s.text,
        )
        for s in segments
    )


def _count_active(item_id: int, delta: int) -> None:
    AudioItem.objects.filter(pk=item_id).update(active_annotations=F("active_annotations") + delta)


@transaction.atomic
def annotation_start(
    *,
    item: AudioItem,
    annotator: User,
    clip_labels: dict[str, Any] | None = None,
    segments: list[dict[str, Any]] | None = None,
    lead_time_s: float = 0.0,
) -> tuple[Annotation, bool]:
    """The annotator's draft for this item, created if they have none. Returns (row, created)."""
    if item.state != AudioItem.State.READY:
        raise Conflict(f"item {item.pk} is {item.state}; it can be annotated once it is ready")
    existing = Annotation.objects.select_for_update().filter(item=item, annotator=annotator).first()
    if existing is not None:
        return existing, False
    labels, segs = _check_content(item, clip_labels or {}, segments or [])
    annotation = Annotation(
        item=item, annotator=annotator, clip_labels=labels or {}, lead_time_s=lead_time_s
    )
    annotation.save()
    _replace_segments(annotation, segs or [])
    _count_active(item.pk, +1)
    return annotation, True


def _locked_own(annotation_id: int, user: User) -> Annotation:
    annotation = (
        Annotation.objects.select_for_update().select_related("item__project").get(pk=annotation_id)
    )
    if annotation.annotator_id != user.pk:
        raise PermissionDeniedError("only the annotator may change their annotation")
    return annotation


def _check_version(annotation: Annotation, version: int) -> None:
    if annotation.version != version:
        raise StaleVersion(annotation, version)


def _check_editable(annotation: Annotation) -> None:
    if annotation.reviews.filter(verdict=Review.Verdict.ACCEPTED).exists():
        raise Conflict(f"annotation {annotation.pk} was accepted in review and is final")


@transaction.atomic
def annotation_update(
    *,
    annotation_id: int,
    user: User,
    version: int,
    clip_labels: dict[str, Any] | None = None,
    segments: list[dict[str, Any]] | None = None,
    lead_time_s: float | None = None,
) -> Annotation:
    """Replace clip labels and/or the whole segment list; fields left as None are kept."""
    annotation = _locked_own(annotation_id, user)
    _check_version(annotation, version)
    _check_editable(annotation)
    labels, segs = _check_content(annotation.item, clip_labels, segments)
    fields = ["version", "updated_at"]
    if labels is not None:
        annotation.clip_labels = labels
        fields.append("clip_labels")
    if segs is not None:
        _replace_segments(annotation, segs)
    if lead_time_s is not None:
        annotation.lead_time_s = lead_time_s
        fields.append("lead_time_s")
    if annotation.state == Annotation.State.SKIPPED:
        # Working on a skipped item again takes a slot again.
        annotation.state = Annotation.State.DRAFT
        fields.append("state")
        _count_active(annotation.item_id, +1)
    annotation.version += 1
    annotation.save(update_fields=fields)
    return annotation


@transaction.atomic
def annotation_submit(*, annotation_id: int, user: User, version: int) -> Annotation:
    annotation = _locked_own(annotation_id, user)
    _check_version(annotation, version)
    if annotation.state == Annotation.State.SUBMITTED:
        return annotation
    missing = missing_required_groups(_schema_of(annotation.item), annotation.clip_labels)
    if missing:
        raise ValidationFailed(
            f"choose a label in {missing[0]!r} before submitting",
            fields={f"clip_labels.{name}": ["a label is required"] for name in missing},
        )
    if annotation.state == Annotation.State.SKIPPED:
        _count_active(annotation.item_id, +1)
    annotation.state = Annotation.State.SUBMITTED
    annotation.submitted_at = timezone.now()
    annotation.version += 1
    annotation.save(update_fields=["state", "submitted_at", "version", "updated_at"])
    AudioItem.objects.filter(pk=annotation.item_id).update(
        submitted_annotations=F("submitted_annotations") + 1
    )
    return annotation


@transaction.atomic
def item_skip(*, item: AudioItem, user: User) -> Annotation:
    """Skip an item: it frees the person's slot and is not served to them again."""
    annotation = Annotation.objects.select_for_update().filter(item=item, annotator=user).first()
    if annotation is None:
        annotation = Annotation.objects.create(
            item=item, annotator=user, state=Annotation.State.SKIPPED
        )
        return annotation
    if annotation.state == Annotation.State.SUBMITTED:
        raise Conflict(f"you already submitted item {item.pk}; it cannot be skipped")
    if annotation.state == Annotation.State.DRAFT:
        annotation.state = Annotation.State.SKIPPED
        annotation.version += 1
        annotation.save(update_fields=["state", "version", "updated_at"])
        _count_active(item.pk, -1)
    return annotation
