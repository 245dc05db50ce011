"""Reads for exports: the project's items as records, streamed in id order.

Items are read in keyset pages (``id > last``), and each page's annotations, segments,
reviews and predictions with one query each over the page's id range, as plain values (no
model instances). Memory holds one page whatever the project's size.

On Postgres, native and CSV exports of all annotations or the reviewed truth skip the records:
``native_pages`` and ``csv_pages`` have Postgres write a page's lines as one text value.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from backend.agreement.selectors import consensus_for_items
from backend.annotations.models import Annotation, Review, Segment
from backend.audio.models import AudioItem, StorageConnection
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
from backend.users.models import User

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
            pk, external_id, sha256, storage_key, connection_name, original_name, fmt,
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
                connection=connection_name,
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


# --- the Postgres fast path ------------------------------------------------------------------
#
# Native lines and CSV rows are built by Postgres, a page of items per statement, so that
# Python only moves bytes: no row tuples, no records, no JSON encoding per item. The text is
# what ``formats.native`` and ``formats.csv_rows`` write: JSON objects with the same keys in
# the same order and no spaces, floats as Python writes them (``2.0``, not ``2``), stored JSON
# made compact. It differs only where Postgres spells a number another way (an integral float
# of 1e15 or more, an exponent inside stored JSON, NaN in CSV): equal as parsed content.
# ``fast_export_supported`` says which exports take it; the others keep the record path.

# jsonb's text has ", " and ": " between tokens and nowhere else outside strings; the first
# alternative consumes whole strings (escapes included), so only separators lose their space.
_COMPACT_JSON = r"""regexp_replace(({})::text, '("(?:[^"\\]|\\.)*")|([:,]) ', '\1\2', 'g')"""


# A page's plan multiplies per-row estimates into a cost that turns JIT on; compiling took
# longer than running the query (3 s against 0.9 s a page, measured), so the page runs without.
_NO_JIT = "SET LOCAL jit = off"


def _js_text(expr: str) -> str:
    return f"COALESCE(to_json(({expr})::text)::text, 'null')"


def _csv_float(expr: str) -> str:
    """A float as Python's ``repr`` writes it, NULL for NULL. Postgres writes integral
    values without a fraction ("2"); Python writes "2.0"."""
    return (
        f"CASE WHEN ({expr}) = trunc({expr}) AND abs({expr}) < 1e15 "
        f"THEN ({expr})::text || '.0' ELSE ({expr})::text END"
    )


def _js_float(expr: str) -> str:
    return f"COALESCE({_csv_float(expr)}, 'null')"


def _js_int(expr: str) -> str:
    return f"COALESCE(({expr})::text, 'null')"


def _js_bool(expr: str) -> str:
    return f"CASE WHEN {expr} THEN 'true' ELSE 'false' END"


def _js_json(expr: str) -> str:
    # json_strip_nulls writes compact JSON, 4x cheaper than the regular expression, but drops
    # object members that are null: only where the text has no "null" at all.
    return (
        f"CASE WHEN strpos(({expr})::text, 'null') = 0 THEN json_strip_nulls(({expr})::json)::text "
        f"ELSE {_COMPACT_JSON.format(expr)} END"
    )


def _js_iso(expr: str) -> str:
    """``datetime.isoformat()`` of a UTC timestamp: microseconds only when not zero."""
    utc = f"(({expr}) AT TIME ZONE 'UTC')"
    return (
        f"""CASE WHEN ({expr}) IS NULL THEN 'null' ELSE '"' """
        f"""|| to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') """
        f"|| CASE WHEN mod(extract(microseconds FROM {utc})::bigint, 1000000) = 0 THEN '' "
        f"ELSE to_char({utc}, '.US') END || '+00:00\"' END"
    )


def _object(*pairs: tuple[str, str]) -> str:
    """SQL for a compact JSON object with these keys, in order, and these value expressions."""
    parts = [
        f"""'{"{" if n == 0 else ","}"{key}":' || {value}""" for n, (key, value) in enumerate(pairs)
    ]
    return "(" + " || ".join(parts) + " || '}')"


def fast_export_supported(*, source: str, filters: ExportFilters) -> bool:
    """Whether ``native_pages``/``csv_pages`` can write this export (else: ``export_items``)."""
    return (
        connection.vendor == "postgresql"
        and source in (Source.ALL, Source.REVIEWED)
        and not filters.labels
    )


def _annotation_filter(*, source: str, filters: ExportFilters, params: dict[str, Any]) -> str:
    """The WHERE conditions on annotation ``a`` (annotator ``u``) of ``_annotations``."""
    conds = ["a.item_id = i.id"]
    if source == Source.REVIEWED:
        conds.append(
            "(a.is_reference OR (a.review_state = %(accepted)s AND NOT a.is_reference "  # noqa: S608
            f"AND NOT EXISTS (SELECT 1 FROM {Annotation._meta.db_table} r "
            "WHERE r.item_id = a.item_id AND r.is_reference)))"
        )
        params["accepted"] = Annotation.ReviewState.ACCEPTED
    if filters.annotation_states:
        conds.append("a.state = ANY(%(annotation_states)s)")
        params["annotation_states"] = list(filters.annotation_states)
    if filters.annotators:
        conds.append("u.username = ANY(%(annotators)s)")
        params["annotators"] = list(filters.annotators)
    if filters.updated_after:
        conds.append("a.updated_at >= %(updated_after)s")
        params["updated_after"] = filters.updated_after
    if filters.updated_before:
        conds.append("a.updated_at < %(updated_before)s")
        params["updated_before"] = filters.updated_before
    return " AND ".join(conds)


def _item_pages(
    *, project: Project, filters: ExportFilters, page_items: int
) -> Iterator[tuple[int, int, int]]:
    """(first id, last id, item count) of each keyset page of the project's items."""
    items = AudioItem.objects.filter(project=project)
    if filters.item_states:
        items = items.filter(state__in=filters.item_states)
    last_id = 0
    while True:
        ids = list(
            items.filter(id__gt=last_id).order_by("id").values_list("id", flat=True)[:page_items]
        )
        if not ids:
            return
        last_id = ids[-1]
        yield ids[0], last_id, len(ids)


def _page_sql(*, project: Project, filters: ExportFilters, params: dict[str, Any]) -> str:
    """The conditions on items ``i`` of a page: the project's, with ids in [first, last]."""
    params["project"] = project.pk
    sql = "i.project_id = %(project)s AND i.id >= %(first)s AND i.id <= %(last)s"
    if filters.item_states:
        sql += " AND i.state = ANY(%(item_states)s)"
        params["item_states"] = list(filters.item_states)
    return sql


def native_pages(
    *,
    project: Project,
    source: str = Source.ALL,
    filters: ExportFilters | None = None,
    page_items: int | None = None,
) -> Iterator[tuple[int, str]]:
    """The native ``item`` lines of the project, as ``(items, text)`` per page of items: what
    ``native.item_line`` writes for each record of ``export_items`` (with predictions)."""
    filters = filters or ExportFilters()
    keep_empty = source == Source.ALL and not filters.narrows_annotations
    params: dict[str, Any] = {}
    page = _page_sql(project=project, filters=filters, params=params)
    where = _annotation_filter(source=source, filters=filters, params=params)
    segment = _object(
        ("start_s", _js_float("s.start_s")),
        ("end_s", _js_float("s.end_s")),
        ("label", _js_text("s.label")),
        ("low_hz", _js_float("s.low_hz")),
        ("high_hz", _js_float("s.high_hz")),
        ("text", _js_text("s.text")),
    )
    review = _object(
        ("reviewer", _js_text("ru.username")),
        ("verdict", _js_text("r.verdict")),
        ("comment", _js_text("r.comment")),
    )
    annotation = _object(
        ("annotator", _js_text("u.username")),
        ("state", _js_text("a.state")),
        ("clip_labels", _js_json("a.clip_labels")),
        ("segments", "'[' || COALESCE(seg.body, '') || ']'"),
        ("lead_time_s", _js_float("a.lead_time_s")),
        ("submitted_at", _js_iso("a.submitted_at")),
        ("reviews", "'[' || COALESCE(rev.body, '') || ']'"),
        ("is_reference", _js_bool("a.is_reference")),
        ("review_state", _js_text("a.review_state")),
    )
    prediction = _object(
        ("model_version", _js_int("mv.version")),
        ("clip_scores", _js_json("p.clip_scores")),
        ("segments", _js_json("p.segments")),
        ("uncertainty", _js_float("p.uncertainty")),
    )
    item = _object(
        ("type", "'\"item\"'"),
        ("external_id", _js_text("i.external_id")),
        ("sha256", _js_text("i.sha256")),
        ("storage_key", _js_text("i.storage_key")),
        ("connection", _js_text("c.name")),
        ("original_name", _js_text("i.original_name")),
        ("format", _js_text("i.format")),
        ("content_type", _js_text("i.content_type")),
        ("size_bytes", _js_int("i.size_bytes")),
        ("duration_s", _js_float("i.duration_s")),
        ("sample_rate_hz", _js_int("i.sample_rate_hz")),
        ("channels", _js_int("i.channels")),
        ("metadata", _js_json("i.metadata")),
        ("annotations", "'[' || COALESCE(ann.body, '') || ']'"),
        ("predictions", "'[' || COALESCE(pred.body, '') || ']'"),
    )
    predictions = (
        f"""SELECT string_agg({prediction}, ',' ORDER BY mv.version) AS body
            FROM {Prediction._meta.db_table} p
            JOIN {ModelVersion._meta.db_table} mv ON mv.id = p.model_version_id
            WHERE p.item_id = i.id"""  # noqa: S608
        if keep_empty
        else "SELECT NULL::text AS body"
    )
    sql = f"""
        SELECT count(*), COALESCE(string_agg(line, '' ORDER BY id), '') FROM (
          SELECT i.id, {item} || E'\\n' AS line
          FROM {AudioItem._meta.db_table} i
          LEFT JOIN {StorageConnection._meta.db_table} c
            ON c.id = i.connection_id
          LEFT JOIN LATERAL (
            SELECT string_agg({annotation}, ',' ORDER BY a.id) AS body
            FROM {Annotation._meta.db_table} a
            JOIN {User._meta.db_table} u ON u.id = a.annotator_id
            LEFT JOIN LATERAL (
              SELECT string_agg({segment}, ',' ORDER BY s.start_s, s.id) AS body
              FROM {Segment._meta.db_table} s WHERE s.annotation_id = a.id
            ) seg ON true
            LEFT JOIN LATERAL (
              SELECT string_agg({review}, ',' ORDER BY r.id) AS body
              FROM {Review._meta.db_table} r
              JOIN {User._meta.db_table} ru ON ru.id = r.reviewer_id
              WHERE r.annotation_id = a.id
            ) rev ON true
            WHERE {where}
          ) ann ON true
          LEFT JOIN LATERAL ({predictions}) pred ON true
          WHERE {page} {"" if keep_empty else "AND ann.body IS NOT NULL"}
        ) lines
    """  # noqa: S608
    pages = _item_pages(project=project, filters=filters, page_items=page_items or PAGE_ITEMS)
    for first, last, _ in pages:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_NO_JIT)
            cursor.execute(sql, {**params, "first": first, "last": last})
            count, text = cursor.fetchone()
        yield count, text


def _csv_text(expr: str) -> str:
    """A field as Python's csv writer writes it (``QUOTE_MINIMAL``, lineterminator "\\n"):
    quoted when it holds a comma, a quote or a newline; NULL as an empty field."""
    return (
        f"CASE WHEN ({expr}) IS NULL THEN '' WHEN strpos({expr}, ',') > 0 "
        f"OR strpos({expr}, '\"') > 0 OR strpos({expr}, E'\\n') > 0 "
        f"THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END"
    )


def csv_pages(
    *,
    project: Project,
    source: str = Source.ALL,
    filters: ExportFilters | None = None,
    page_items: int | None = None,
) -> Iterator[tuple[int, str]]:
    """The CSV rows of the project's annotations, as ``(items, text)`` per page of items:
    what ``csv_rows.write`` writes for the records of ``export_items`` without predictions."""
    filters = filters or ExportFilters()
    keep_empty = source == Source.ALL and not filters.narrows_annotations
    params: dict[str, Any] = {}
    page = _page_sql(project=project, filters=filters, params=params)
    where = _annotation_filter(source=source, filters=filters, params=params)
    item = (
        f"{_csv_text('i.external_id')} || ',' || {_csv_text('i.sha256')} || ',' || "
        f"{_csv_text('i.original_name')} || ',' || {_csv_float('i.duration_s')} || ','"
    )
    who = f"i.head || {_csv_text('u.username')} || ',' || {_csv_text('a.state')} || ','"
    clip = (
        f"a.who || 'clip,' || {_csv_text('g.key')} || ',' || {_csv_text('l.label')} || E',,,,,,\\n'"
    )
    segment = (
        f"a.who || 'segment,,' || {_csv_text('s.label')} || ',' || {_csv_float('s.start_s')} "
        f"|| ',' || {_csv_float('s.end_s')} || ',' || COALESCE({_csv_float('s.low_hz')}, '') "
        f"|| ',' || COALESCE({_csv_float('s.high_hz')}, '') || ',' || {_csv_text('s.text')} "
        "|| E',\\n'"
    )
    sql = f"""
        SELECT count(ann.body), COALESCE(string_agg(ann.body, '' ORDER BY i.id), '')
        FROM (SELECT i.*, {item} AS head FROM {AudioItem._meta.db_table} i WHERE {page}) i
        LEFT JOIN LATERAL (
          SELECT string_agg(COALESCE(clip.body, '') || COALESCE(seg.body, ''), '' ORDER BY a.id)
            AS body
          FROM (
            SELECT a.*, {who} AS who FROM {Annotation._meta.db_table} a
            JOIN {User._meta.db_table} u ON u.id = a.annotator_id
            WHERE {where}
          ) a
          LEFT JOIN LATERAL (
            SELECT string_agg({clip}, '' ORDER BY g.n, l.n) AS body
            FROM jsonb_each(a.clip_labels) WITH ORDINALITY g(key, value, n)
            CROSS JOIN LATERAL jsonb_array_elements_text(g.value) WITH ORDINALITY l(label, n)
          ) clip ON true
          LEFT JOIN LATERAL (
            SELECT string_agg({segment}, '' ORDER BY s.start_s, s.id) AS body
            FROM {Segment._meta.db_table} s WHERE s.annotation_id = a.id
          ) seg ON true
        ) ann ON true
    """  # noqa: S608
    pages = _item_pages(project=project, filters=filters, page_items=page_items or PAGE_ITEMS)
    for first, last, count in pages:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_NO_JIT)
            cursor.execute(sql, {**params, "first": first, "last": last})
            kept, text = cursor.fetchone()
        yield (count if keep_empty else kept), text
