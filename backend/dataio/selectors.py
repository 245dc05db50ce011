"""Reads for exports: the project's items as records, streamed in id order.

Items are read in keyset pages (``id > last``), and each page's annotations, segments,
reviews and predictions with one query each over the page's id range, as plain values (no
model instances). Memory holds one page whatever the project's size.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from backend.agreement.selectors import consensus_for_items
from backend.annotations.models import Annotation, Review, Segment
from backend.audio.models import AudioItem
from backend.dataio.formats.native import PROJECT_SETTINGS
from backend.dataio.formats.records import (
    AnnotationRecord,
    ItemRecord,
    ModelVersionRecord,
    PredictionRecord,
    ProjectRecord,
    ReviewRecord,
    SegmentRecord,
)
from backend.dataio.models import ExportJob, ImportJob
from backend.predictions.models import ModelVersion, Prediction
from backend.projects.models import Project
from backend.projects.schema import LabelSchema

Source = ExportJob.Source
PAGE_ITEMS = 2000
CONSENSUS_ANNOTATOR = "consensus"


@dataclass(frozen=True)
class ExportFilters:
    """What an export keeps. Empty tuples and None mean "no filter"."""

    item_states: tuple[str, ...] = ()
    annotation_states: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    annotators: tuple[str, ...] = ()
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None
    # The annotation states were a format's default, not asked for: items with no kept
    # annotation are still listed (a task without annotations is still a task).
    default_states: bool = False

    @property
    def narrows_annotations(self) -> bool:
        return bool(
            (self.annotation_states and not self.default_states)
            or self.labels
            or self.annotators
            or self.updated_after
            or self.updated_before
        )


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project=project)


def export_job_list(*, project: Project) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(project=project)


def project_record(*, project: Project) -> ProjectRecord:
    settings = {k: getattr(project, k) for k in PROJECT_SETTINGS}
    # The parsed form, so that an export of an imported project writes the same schema.
    settings["label_schema"] = LabelSchema.parse(project.label_schema).to_json()
    return ProjectRecord(row=0, name=project.name, settings=settings)


def model_version_records(
    *, project: Project, model_version: ModelVersion | None = None
) -> Iterator[ModelVersionRecord]:
    qs = ModelVersion.objects.filter(project=project).order_by("version")
    if model_version is not None:
        qs = qs.filter(pk=model_version.pk)
    for mv in qs.iterator():
        yield ModelVersionRecord(
            row=0,
            version=mv.version,
            kind=mv.kind,
            is_external=mv.is_external,
            checkpoint_key=mv.checkpoint_key,
            trained_on=mv.trained_on,
            metrics=mv.metrics,
            training_time_s=mv.training_time_s,
            device=mv.device,
        )


def model_names(*, project: Project) -> dict[int, str]:
    """How exports name each model version: its kind when external (as it was imported),
    else ``<kind>-v<version>``."""
    return {
        version: kind if external else f"{kind}-v{version}"
        for version, kind, external in ModelVersion.objects.filter(project=project).values_list(
            "version", "kind", "is_external"
        )
    }


def _annotations(*, project: Project, source: str, filters: ExportFilters) -> QuerySet[Annotation]:
    qs = Annotation.objects.filter(item__project=project)
    if source == Source.REVIEWED:
        reference = Annotation.objects.filter(item_id=OuterRef("item_id"), is_reference=True)
        qs = qs.filter(
            Q(is_reference=True)
            | Q(review_state=Annotation.ReviewState.ACCEPTED, is_reference=False)
            & ~Exists(reference)
        )
    if filters.annotation_states:
        qs = qs.filter(state__in=filters.annotation_states)
    if filters.annotators:
        qs = qs.filter(annotator__username__in=filters.annotators)
    if filters.updated_after:
        qs = qs.filter(updated_at__gte=filters.updated_after)
    if filters.updated_before:
        qs = qs.filter(updated_at__lt=filters.updated_before)
    return qs


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def export_items(
    *,
    project: Project,
    source: str = Source.ALL,
    model_version: ModelVersion | None = None,
    filters: ExportFilters | None = None,
    with_predictions: bool = True,
    page_items: int = PAGE_ITEMS,
) -> Iterator[ItemRecord]:
    """The project's items in id order with what ``source`` and ``filters`` keep.

    Without annotation filters and with source "all" every item is listed, with its
    predictions of every model when ``with_predictions`` (native exports are lossless);
    otherwise items with nothing kept are left out.
    """
    filters = filters or ExportFilters()
    items = AudioItem.objects.filter(project=project)
    if filters.item_states:
        items = items.filter(state__in=filters.item_states)
    annotations = _annotations(project=project, source=source, filters=filters)
    keep_empty = source == Source.ALL and not filters.narrows_annotations
    labels = frozenset(filters.labels)
    last_id = 0
    while True:
        page = list(
            items.filter(id__gt=last_id)
            .order_by("id")
            .values_list(
                "id", "external_id", "sha256", "storage_key", "connection__name",
                "original_name", "format", "content_type", "size_bytes", "duration_s",
                "sample_rate_hz", "channels", "metadata",
            )[:page_items]
        )  # fmt: skip
        if not page:
            return
        first, last_id = page[0][0], page[-1][0]
        by_item_ann: Mapping[int, list[AnnotationRecord]] = {}
        by_item_pred: Mapping[int, list[PredictionRecord]] = {}
        if source == Source.CONSENSUS:
            by_item_ann = _consensus(project, [row[0] for row in page], labels)
        elif source == Source.PREDICTIONS:
            by_item_pred = _predictions(project, first, last_id, model_version)
        else:
            by_item_ann = _annotation_records(annotations, project.pk, first, last_id, labels)
            by_item_pred = (
                _predictions(project, first, last_id, None)
                if with_predictions and keep_empty
                else {}
            )
        for (
            pk, external_id, sha256, storage_key, connection, original_name, fmt,
            content_type, size_bytes, duration_s, sample_rate_hz, channels, metadata,
        ) in page:  # fmt: skip
            anns = by_item_ann.get(pk, [])
            preds = by_item_pred.get(pk, [])
            if not keep_empty and not anns and not preds:
                continue
            yield ItemRecord(
                row=pk,
                external_id=external_id,
                sha256=sha256,
                storage_key=storage_key,
                connection=connection,
                original_name=original_name,
                format=fmt,
                content_type=content_type,
                size_bytes=size_bytes,
                duration_s=duration_s,
                sample_rate_hz=sample_rate_hz,
                channels=channels,
                metadata=metadata,
                annotations=tuple(anns),
                predictions=tuple(preds),
            )


def _annotation_records(
    annotations: QuerySet[Annotation],
    project_id: int,
    first: int,
    last: int,
    labels: frozenset[str],
) -> dict[int, list[AnnotationRecord]]:
    rows = list(
        annotations.filter(item_id__gte=first, item_id__lte=last)
        .order_by("item_id", "id")
        .values_list(
            "id", "item_id", "annotator__username", "state", "clip_labels",
            "lead_time_s", "submitted_at", "is_reference", "review_state",
        )
    )  # fmt: skip
    if not rows:
        return {}
    segments: dict[int, list[SegmentRecord]] = defaultdict(list)
    for annotation_id, start_s, end_s, label, low_hz, high_hz, text in (
        Segment.objects.filter(
            annotation__item__project_id=project_id,
            annotation__item_id__gte=first,
            annotation__item_id__lte=last,
        )
        .order_by("annotation_id", "start_s", "id")
        .values_list("annotation_id", "start_s", "end_s", "label", "low_hz", "high_hz", "text")
    ):
        segments[annotation_id].append(SegmentRecord(start_s, end_s, label, low_hz, high_hz, text))
    reviews: dict[int, list[ReviewRecord]] = defaultdict(list)
    for annotation_id, reviewer, verdict, comment in (
        Review.objects.filter(
            annotation__item__project_id=project_id,
            annotation__item_id__gte=first,
            annotation__item_id__lte=last,
        )
        .order_by("id")
        .values_list("annotation_id", "reviewer__username", "verdict", "comment")
    ):
        reviews[annotation_id].append(ReviewRecord(reviewer, verdict, comment))
    out: dict[int, list[AnnotationRecord]] = defaultdict(list)
    for (
        pk, item_id, username, state, clip_labels, lead_time_s, submitted_at,
        is_reference, review_state,
    ) in rows:  # fmt: skip
        segs = segments.get(pk, [])
        if labels and not _uses(labels, clip_labels, segs):
            continue
        out[item_id].append(
            AnnotationRecord(
                annotator=username,
                state=state,
                clip_labels=clip_labels,
                segments=tuple(segs),
                lead_time_s=lead_time_s,
                submitted_at=_iso(submitted_at),
                reviews=tuple(reviews.get(pk, ())),
                is_reference=is_reference,
                review_state=review_state,
            )
        )
    return out


def _uses(
    labels: frozenset[str], clip_labels: dict[str, list[str]], segs: list[SegmentRecord]
) -> bool:
    return any(s.label in labels for s in segs) or any(
        x in labels for chosen in clip_labels.values() for x in chosen
    )


def _consensus(
    project: Project, item_ids: list[int], labels: frozenset[str]
) -> dict[int, list[AnnotationRecord]]:
    """One annotation per item: the majority's clip labels and the segments a majority drew
    (``backend.agreement``'s consensus), by the pseudo-annotator ``consensus``."""
    out: dict[int, list[AnnotationRecord]] = {}
    for result in consensus_for_items(project, item_ids):
        clip = {v.group: list(v.labels) for v in result.clip if v.labels}
        segs = [
            SegmentRecord(s.start_s, s.end_s, s.label, s.low_hz, s.high_hz)
            for s in result.segments
            if s.majority
        ]
        if labels and not _uses(labels, clip, segs):
            continue
        if clip or segs:
            out[result.item_id] = [
                AnnotationRecord(
                    annotator=CONSENSUS_ANNOTATOR, clip_labels=clip, segments=tuple(segs)
                )
            ]
    return out


def _predictions(
    project: Project, first: int, last: int, model_version: ModelVersion | None
) -> dict[int, list[PredictionRecord]]:
    qs = Prediction.objects.filter(item__project=project, item_id__gte=first, item_id__lte=last)
    if model_version is not None:
        qs = qs.filter(model_version=model_version)
    out: dict[int, list[PredictionRecord]] = defaultdict(list)
    for item_id, version, clip_scores, segments, uncertainty in qs.order_by(
        "item_id", "model_version__version"
    ).values_list("item_id", "model_version__version", "clip_scores", "segments", "uncertainty"):
        out[item_id].append(
            PredictionRecord(
                model_version=version,
                clip_scores=clip_scores,
                segments=tuple(segments),
                uncertainty=uncertainty,
            )
        )
    return out
