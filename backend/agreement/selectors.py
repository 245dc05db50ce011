"""Reads for agreement: columnar loads of a project's submitted work, consensus, progress.

Annotations are read here with ``values_list`` (no model instances): a report over 300,000
annotations must not build 300,000 objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from django.db.models import Count, Max, Min, Q, TextField
from django.db.models.functions import Cast, TruncDate

from backend.agreement.consensus import (
    DEFAULT_MIN_IOU,
    AnnotationInput,
    ItemConsensus,
    SegmentInput,
    item_consensus,
)
from backend.agreement.models import AgreementReport
from backend.agreement.report import AnnotationColumns, GroupSpec, SegmentColumns, TruthColumns
from backend.annotations.models import Annotation, Segment
from backend.audio.models import AudioItem
from backend.common.exceptions import ValidationFailed
from backend.projects.models import Project
from backend.projects.schema import LabelSchema
from backend.users.models import User

_SUBMITTED = Annotation.State.SUBMITTED


def _submitted(project_id: int) -> Q:
    """Submitted annotations of annotators (a reviewer's reference annotation is not one)."""
    return Q(item__project_id=project_id, state=_SUBMITTED, is_reference=False)


def agreement_report_get(*, project: Project) -> AgreementReport | None:
    return AgreementReport.objects.filter(project=project).first()


@dataclass(frozen=True)
class Fingerprint:
    """Which submissions a report reflects: their number and the latest change among them."""

    submitted_count: int
    last_submitted_at: datetime | None


def submission_fingerprint(*, project_id: int) -> Fingerprint:
    row = Annotation.objects.filter(_submitted(project_id)).aggregate(
        n=Count("id"), last=Max("updated_at")
    )
    return Fingerprint(row["n"] or 0, row["last"])


def label_groups(*, project: Project) -> tuple[list[GroupSpec], list[str]]:
    try:
        schema = LabelSchema.parse(project.label_schema)
    except ValidationFailed:
        # A schema saved before today's rules: measure nothing rather than fail the worker.
        return [], []
    groups = [GroupSpec(g.name, g.choice, tuple(g.labels)) for g in schema.clip_groups]
    return groups, [s.name for s in schema.segment_labels]


@dataclass(frozen=True)
class ProjectWork:
    annotations: AnnotationColumns
    segments: SegmentColumns
    truth: TruthColumns
    usernames: dict[int, str]


def _segment_columns(rows: list[tuple[Any, ...]]) -> SegmentColumns:
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return SegmentColumns(
        annotation_id=np.array(columns[0], dtype=np.int64),
        label=list(columns[1]),
        start_s=np.array(columns[2], dtype=np.float64),
        end_s=np.array(columns[3], dtype=np.float64),
    )


def project_work(*, project_id: int) -> ProjectWork:
    """Every submitted annotation of the project and its segments, and the reviewers'
    reference annotations with theirs, as columns (five queries)."""
    # The labels come as JSON text and are parsed in one json.loads: per-row decoding by the
    # JSONField was most of the time of this load on large projects.
    rows = list(
        Annotation.objects.filter(_submitted(project_id))
        .order_by("id")
        .annotate(labels_json=Cast("clip_labels", TextField()))
        .values_list("id", "item_id", "annotator_id", "lead_time_s", "labels_json", "review_state")
    )
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), (), ()]
    annotations = AnnotationColumns(
        annotation_id=np.array(columns[0], dtype=np.int64),
        item_id=np.array(columns[1], dtype=np.int64),
        annotator_id=np.array(columns[2], dtype=np.int64),
        lead_time_s=np.array(columns[3], dtype=np.float64),
        clip_labels=json.loads("[" + ",".join(t or "{}" for t in columns[4]) + "]"),
        accepted=np.array(columns[5], dtype=object) == Annotation.ReviewState.ACCEPTED,
    )
    seg_rows = list(
        Segment.objects.filter(
            annotation__item__project_id=project_id,
            annotation__state=_SUBMITTED,
            annotation__is_reference=False,
        )
        .order_by()
        .values_list("annotation_id", "label", "start_s", "end_s")
    )
    segments = _segment_columns(seg_rows)
    truth_rows = list(
        Annotation.objects.filter(item__project_id=project_id, is_reference=True)
        .exclude(state=Annotation.State.SKIPPED)
        .values_list("id", "item_id", "annotator_id", "clip_labels")
    )
    truth_ids = [r[0] for r in truth_rows]
    truth = TruthColumns(
        item_id=np.array([r[1] for r in truth_rows], dtype=np.int64),
        clip_labels=[r[3] or {} for r in truth_rows],
        annotation_id=np.array(truth_ids, dtype=np.int64),
        author_id=np.array([r[2] for r in truth_rows], dtype=np.int64),
        segments=_segment_columns(
            list(
                Segment.objects.filter(
                    annotation__item__project_id=project_id, annotation__is_reference=True
                )
                .exclude(annotation__state=Annotation.State.SKIPPED)
                .order_by()
                .values_list("annotation_id", "label", "start_s", "end_s")
            )
            if truth_ids
            else []
        ),
    )
    annotator_ids = set(np.unique(annotations.annotator_id).tolist())
    usernames = dict(User.objects.filter(pk__in=annotator_ids).values_list("id", "username"))
    return ProjectWork(annotations, segments, truth, usernames)


def item_names(*, item_ids: Sequence[int]) -> dict[int, str]:
    return dict(AudioItem.objects.filter(pk__in=list(item_ids)).values_list("id", "original_name"))


# --- consensus -----------------------------------------------------------------------------


def _consensus_chunk(
    item_ids: Sequence[int], groups: Sequence[tuple[str, str, Sequence[str]]], min_iou: float
) -> list[ItemConsensus]:
    rows = list(
        Annotation.objects.filter(item_id__in=item_ids, state=_SUBMITTED)
        .order_by("item_id", "id")
        .values_list("id", "item_id", "annotator_id", "clip_labels", "is_reference")
    )
    segs: dict[int, list[SegmentInput]] = {}
    for annotation_id, label, start_s, end_s, low_hz, high_hz in (
        Segment.objects.filter(annotation_id__in=[r[0] for r in rows if not r[4]])
        .order_by("annotation_id", "start_s", "id")
        .values_list("annotation_id", "label", "start_s", "end_s", "low_hz", "high_hz")
    ):
        segs.setdefault(annotation_id, []).append(
            SegmentInput(label, start_s, end_s, low_hz, high_hz)
        )
    by_item: dict[int, list[AnnotationInput]] = {i: [] for i in item_ids}
    truth: dict[int, list[int]] = {}
    for annotation_id, item_id, annotator_id, clip_labels, is_reference in rows:
        if is_reference:
            truth.setdefault(item_id, []).append(annotation_id)
            continue
        by_item[item_id].append(
            AnnotationInput(annotator_id, clip_labels or {}, segs.get(annotation_id, []))
        )
    return [
        item_consensus(
            item_id, annotations, groups, min_iou=min_iou, reviewed_truth_ids=truth.get(item_id, ())
        )
        for item_id, annotations in by_item.items()
    ]


def consensus_for_items(
    project: Project,
    item_ids: Iterable[int] | None = None,
    *,
    min_iou: float = DEFAULT_MIN_IOU,
    chunk_size: int = 500,
) -> Iterator[ItemConsensus]:
    """Consensus of items of ``project``, streamed in chunks of ``chunk_size`` items.

    ``item_ids`` None streams every item with at least one submitted annotation, in id order;
    otherwise the given items that belong to the project, in the order given (ids of other
    projects are skipped). Each ``ItemConsensus`` holds the majority vote per clip group (ties
    flagged), merged segments with their ``support``, and the ids of reviewed-truth annotations.
    Two queries per chunk; memory stays bounded by the chunk.
    """
    specs, _ = label_groups(project=project)
    groups = [(g.name, g.choice, g.labels) for g in specs]
    if item_ids is not None:
        wanted = list(item_ids)
        for start in range(0, len(wanted), chunk_size):
            chunk = wanted[start : start + chunk_size]
            mine = set(
                AudioItem.objects.filter(project=project, pk__in=chunk).values_list("id", flat=True)
            )
            yield from _consensus_chunk([i for i in chunk if i in mine], groups, min_iou)
        return
    last_id = 0
    while True:
        chunk = list(
            AudioItem.objects.filter(project=project, pk__gt=last_id, submitted_annotations__gt=0)
            .order_by("id")
            .values_list("id", flat=True)[:chunk_size]
        )
        if not chunk:
            return
        yield from _consensus_chunk(chunk, groups, min_iou)
        last_id = chunk[-1]


def consensus_for_item(*, item: AudioItem, min_iou: float = DEFAULT_MIN_IOU) -> ItemConsensus:
    return next(consensus_for_items(item.project, [item.pk], min_iou=min_iou))


# --- progress ------------------------------------------------------------------------------


def items_by_progress(*, project: Project) -> dict[str, int]:
    """Items by where they stand: processing, failed, and ready ones by submitted annotations
    against the project's overlap (not started, in progress, done). One query."""
    k = project.annotations_per_item
    ready = Q(state=AudioItem.State.READY)
    row = AudioItem.objects.filter(project=project).aggregate(
        pending=Count("id", filter=Q(state=AudioItem.State.PENDING)),
        failed=Count("id", filter=Q(state=AudioItem.State.FAILED)),
        not_started=Count("id", filter=ready & Q(submitted_annotations=0)),
        in_progress=Count(
            "id", filter=ready & Q(submitted_annotations__gt=0, submitted_annotations__lt=k)
        ),
        done=Count("id", filter=ready & Q(submitted_annotations__gte=k)),
    )
    return {key: int(value or 0) for key, value in row.items()}


def submissions_per_day(*, project: Project, since: date | None = None) -> list[tuple[date, int]]:
    qs = Annotation.objects.filter(_submitted(project.pk), submitted_at__isnull=False)
    if since is not None:
        qs = qs.filter(submitted_at__date__gte=since)
    rows = (
        qs.annotate(day=TruncDate("submitted_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
        .values_list("day", "n")
    )
    return [(day, n) for day, n in rows]


def annotator_activity(*, project: Project) -> list[dict[str, Any]]:
    """Per person who has annotations in the project: submitted, drafts, skipped, first and
    last submission, days with a submission and submissions per such day. One grouped query."""
    rows = (
        Annotation.objects.filter(item__project=project, is_reference=False)
        .values("annotator_id", "annotator__username")
        .annotate(
            submitted=Count("id", filter=Q(state=_SUBMITTED)),
            drafts=Count("id", filter=Q(state=Annotation.State.DRAFT)),
            skipped=Count("id", filter=Q(state=Annotation.State.SKIPPED)),
            last_submitted_at=Max("submitted_at"),
            active_days=Count(TruncDate("submitted_at"), distinct=True, filter=Q(state=_SUBMITTED)),
            first_submitted_at=Min("submitted_at"),
        )
        .order_by("annotator__username")
    )
    return [
        {
            "annotator_id": r["annotator_id"],
            "username": r["annotator__username"],
            "submitted": r["submitted"],
            "drafts": r["drafts"],
            "skipped": r["skipped"],
            "first_submitted_at": r["first_submitted_at"],
            "last_submitted_at": r["last_submitted_at"],
            "active_days": r["active_days"],
            "per_active_day": round(r["submitted"] / r["active_days"], 1)
            if r["active_days"]
            else None,
        }
        for r in rows
    ]
