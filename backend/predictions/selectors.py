from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from django.db.models import QuerySet

from backend.annotations.models import Annotation, Segment
from backend.audio.connections import S3Source
from backend.audio.models import AudioItem, StorageConnection
from backend.audio.services import connection_spec
from backend.predictions.models import ModelVersion, Prediction, TrainingRun
from backend.projects.models import Project
from backend.projects.schema import ClipGroup
from backend.projects.selectors import ProjectAccess
from ml_worker.contracts import AudioRef


def model_version_list(*, project: Project) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project=project)


def training_run_list(*, project: Project) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project=project).select_related("model_version")


def training_run_active(*, project: Project) -> TrainingRun | None:
    return TrainingRun.objects.filter(
        project=project, state__in=[TrainingRun.State.QUEUED, TrainingRun.State.RUNNING]
    ).first()


# Queue policies that serve items by ``queue_rank`` (sequential and random do not).
RANKED_POLICIES = (Project.QueuePolicy.UNCERTAINTY, Project.QueuePolicy.DIVERSE)


def queue_order_available(*, project: Project) -> bool:
    """Whether ordering the queue by embeddings is worth offering: the project has its own
    embedding model and a queue that follows ranks (``queue_order_start`` says why not)."""
    return bool((project.training_settings or {}).get("embedding_model")) and (
        project.queue_policy in RANKED_POLICIES
    )


def predictions_visible(*, access: ProjectAccess) -> bool:
    """Blind projects hide predictions from annotators; reviewers and managers always see them."""
    return access.can_review or access.project.show_predictions


def prediction_list_for_item(*, item: AudioItem, access: ProjectAccess) -> QuerySet[Prediction]:
    """Newest model first; empty for annotators of a project that hides predictions."""
    if not predictions_visible(access=access):
        return Prediction.objects.none()
    return (
        Prediction.objects.filter(item=item)
        .select_related("model_version")
        .order_by("-model_version__version", "-id")
    )


def prediction_list_for_project(
    *, access: ProjectAccess, model_version_id: int | None = None
) -> QuerySet[Prediction]:
    if not predictions_visible(access=access):
        return Prediction.objects.none()
    qs = Prediction.objects.filter(model_version__project=access.project).select_related(
        "model_version"
    )
    if model_version_id is not None:
        qs = qs.filter(model_version_id=model_version_id)
    return qs


def submitted_count(*, project: Project) -> int:
    return Annotation.objects.filter(
        item__project=project, state=Annotation.State.SUBMITTED
    ).count()


@dataclass(frozen=True)
class LabelledItem:
    ref: AudioRef
    labels: tuple[str, ...]
    annotation_ids: tuple[int, ...]
    segments: tuple[tuple[float, float, str], ...] = ()


# How long the ML worker may use a pre-signed URL of an item in an S3 connection.
PRESIGNED_URL_S = 24 * 3600


def audio_ref(item: AudioItem, connections: dict[int, StorageConnection]) -> AudioRef:
    """How the ML worker reads an item: our storage key, the path inside a server folder, or
    (S3 connections) a pre-signed URL, so the worker never holds a connection's secrets."""
    sha = item.sha256 or ""
    if item.connection_id is None:
        return AudioRef(item_id=item.pk, key=item.storage_key, sha256=sha)
    connection = connections[item.connection_id]
    if connection.kind == StorageConnection.Kind.FOLDER:
        path = str(Path(connection.root) / item.storage_key)
        return AudioRef(item_id=item.pk, path=path, sha256=sha)
    url = S3Source(connection_spec(connection)).presigned_url(
        item.storage_key, expires_s=PRESIGNED_URL_S
    )
    return AudioRef(item_id=item.pk, url=url, sha256=sha)


def _connections(project: Project) -> dict[int, StorageConnection]:
    return {c.pk: c for c in StorageConnection.objects.filter(project=project)}


def _submitted(project: Project) -> QuerySet[Annotation]:
    """The submitted annotations of the project's ready items: what training learns from."""
    return Annotation.objects.filter(
        item__project=project,
        item__state=AudioItem.State.READY,
        state=Annotation.State.SUBMITTED,
    )


def _clip_votes(
    project: Project, group: ClipGroup
) -> Iterator[tuple[int, list[tuple[int, list[str]]]]]:
    """Each item's votes in ``group`` (annotation id, labels chosen), item by item in id
    order, read in chunks: a caller may stop early."""
    rows = _submitted(project).order_by("item_id", "id").values_list("item_id", "id", "clip_labels")
    allowed = set(group.labels)
    for item_id, item_rows in groupby(rows.iterator(chunk_size=2000), key=itemgetter(0)):
        votes: list[tuple[int, list[str]]] = []
        for _, annotation_id, clip_labels in item_rows:
            chosen = (clip_labels or {}).get(group.name)
            if chosen is None:
                continue
            labels = [label for label in chosen if label in allowed]
            if group.choice == "single" and len(labels) != 1:
                continue
            votes.append((annotation_id, labels))
        if votes:
            yield item_id, votes


def _decide(group: ClipGroup, votes: list[tuple[int, list[str]]]) -> tuple[str, ...] | None:
    """An item's labels by its annotators' vote; None when a single choice ties."""
    counts = Counter(label for _, labels in votes for label in labels)
    if group.choice == "single":
        ranked = counts.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            return None
        return (ranked[0][0],)
    return tuple(sorted(label for label, n in counts.items() if 2 * n >= len(votes)))


def training_items(*, project: Project, group: ClipGroup) -> list[LabelledItem]:
    """Items with submitted annotations in ``group``, labelled by their annotators' vote.

    Single choice: the label most annotators chose; an item whose top labels tie is left out
    (the model must not learn a coin flip). Multi choice: the labels at least half of the
    item's annotators chose (an item where they chose none is a negative example).
    """
    decided: dict[int, tuple[tuple[str, ...], list[tuple[int, list[str]]]]] = {}
    for item_id, votes in _clip_votes(project, group):
        labels = _decide(group, votes)
        if labels is not None:
            decided[item_id] = (labels, votes)
    if not decided:
        return []
    items = AudioItem.objects.in_bulk(list(decided))
    connections = _connections(project)
    return [
        LabelledItem(audio_ref(items[item_id], connections), labels, tuple(a for a, _ in votes))
        for item_id, (labels, votes) in sorted(decided.items())
    ]


def training_label_count(
    *, project: Project, group: ClipGroup, enough: int
) -> tuple[int, set[str]]:
    """How many items ``training_items`` would give, and their labels; counting stops once
    ``enough`` items are found (with two labels between them, for a single choice: what a
    classifier needs). A request to train a project of a million items needs to know that
    there is enough, not how much."""
    count, seen = 0, set[str]()
    labels_needed = 2 if group.choice == "single" else 0
    for _, votes in _clip_votes(project, group):
        labels = _decide(group, votes)
        if labels is None:
            continue
        count += 1
        seen.update(labels)
        if count >= enough and len(seen) >= labels_needed:
            break
    return count, seen


def _latest_submitted(project: Project) -> Iterator[tuple[int, int]]:
    """(item id, id of its latest submitted annotation), item by item in id order."""
    rows = (
        _submitted(project).order_by("item_id", "submitted_at", "id").values_list("item_id", "id")
    )
    for item_id, item_rows in groupby(rows.iterator(chunk_size=2000), key=itemgetter(0)):
        *_, (_, latest) = item_rows
        yield item_id, latest


def segment_training_items(*, project: Project, labels: frozenset[str]) -> list[LabelledItem]:
    """Items with a submitted annotation, each with the events of its latest one (segments
    with labels in ``labels``; an annotation without segments says the item has no events)."""
    latest = dict(_latest_submitted(project))
    if not latest:
        return []
    events: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    rows = Segment.objects.filter(annotation_id__in=list(latest.values())).order_by(
        "annotation_id", "start_s", "id"
    )
    for annotation_id, start_s, end_s, label in rows.values_list(
        "annotation_id", "start_s", "end_s", "label"
    ):
        if label in labels:
            events[annotation_id].append((start_s, end_s, label))
    items = AudioItem.objects.in_bulk(list(latest))
    connections = _connections(project)
    out: list[LabelledItem] = []
    for item_id, annotation_id in sorted(latest.items()):
        ref = audio_ref(items[item_id], connections)
        out.append(LabelledItem(ref, (), (annotation_id,), tuple(events[annotation_id])))
    return out


def segment_label_count(
    *, project: Project, labels: frozenset[str], enough: int
) -> tuple[int, int]:
    """How many items ``segment_training_items`` would give and how many of them have
    events; counting stops once ``enough`` items, one with events, are found."""
    count = with_events = 0
    chunk: list[int] = []

    def events_in(annotation_ids: list[int]) -> int:
        return (
            Segment.objects.filter(annotation_id__in=annotation_ids, label__in=labels)
            .values("annotation_id")
            .distinct()
            .count()
        )

    for _, annotation_id in _latest_submitted(project):
        count += 1
        chunk.append(annotation_id)
        if len(chunk) >= 500 or count == enough:
            with_events += events_in(chunk)
            chunk = []
        if count >= enough and with_events:
            break
    if chunk:
        with_events += events_in(chunk)
    return count, with_events


def items_to_predict(*, project: Project) -> Iterator[AudioRef]:
    """Ready items that still need annotations, in id order."""
    connections = _connections(project)
    qs = AudioItem.objects.filter(
        project=project,
        state=AudioItem.State.READY,
        submitted_annotations__lt=project.annotations_per_item,
    ).order_by("id")
    fields = ("id", "storage_key", "connection_id", "sha256")
    for item in qs.only(*fields).iterator(chunk_size=2000):
        yield audio_ref(item, connections)
